"""The HBase result cell layout and puts without HBase: every qualifier, round trips, no stale cells (imgpipe.hbase.cells)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from imgpipe import batch as col
from imgpipe.hbase.cells import QUALIFIERS, decode_cells, encode_rows, write_through
from tests.unit.fake_hbase import FakeConnection, FakeTable, sink


def result_batch(n_objects: list[int], dim: int = 3) -> pa.RecordBatch:
    fields = [pa.field(col.KEY, pa.binary()), *col.result_fields(detect=True, embed=True, image_embedding=True),
              pa.field(col.RUN_ID, pa.string())]  # fmt: skip
    rows = []
    for i, n in enumerate(n_objects):
        objects = [
            {"label": j, "label_name": f"l{j}", "score": 0.5, "box": {"x1": 0.0, "y1": 1.0, "x2": 2.0, "y2": 3.5},
             "embedding": [float(i), float(j), 0.25][:dim]}
            for j in range(n)
        ]
        rows.append({
            col.KEY: b"\x00k\xff" + bytes([i]), col.WIDTH: 10, col.HEIGHT: 20, col.STATUS: "ok",
            col.OBJECTS: objects, col.IMAGE_EMBEDDING: [1.0, 2.0, 3.0],
            col.DETECT_MODEL: {"name": "det", "sha256": "ab"}, col.EMBED_MODEL: {"name": "emb", "sha256": "cd"},
            col.RUN_ID: "run-1",
        })  # fmt: skip
    return pa.RecordBatch.from_pylist(rows, schema=pa.schema(fields))


def test_encode_writes_every_qualifier_and_round_trips() -> None:
    (key, cells), = list(encode_rows(result_batch([2])))
    assert key == b"\x00k\xff\x00"
    assert sorted(cells) == sorted(b"r:" + q.encode() for q in QUALIFIERS)
    back = decode_cells(cells)
    assert back["width"] == 10 and back["status"] == "ok" and back["error"] is None
    assert back["objects"][1]["box"] == [0.0, 1.0, 2.0, 3.5] and back["objects"][1]["label_name"] == "l1"
    assert np.array_equal(back["objects"][1]["embedding"], np.array([0, 1, 0.25], "<f4"))
    assert back["detect_model"] == {"name": "det", "sha256": "ab"} and back["run_id"] == "run-1"


def test_encode_without_model_columns_writes_empty_cells() -> None:
    schema = pa.schema([pa.field(col.KEY, pa.string()), *col.result_fields(detect=False, embed=False, image_embedding=False)])
    batch = pa.RecordBatch.from_pylist([{"key": "a.jpg", "status": "error", "error_reason": "undecodable"}], schema=schema)
    (key, cells), = list(encode_rows(batch))
    assert key == b"a.jpg" and cells[b"r:objects"] == b"" and cells[b"r:error_reason"] == b"undecodable"


def test_a_row_without_a_key_is_not_put_and_does_not_fail_the_task() -> None:
    """A Parquet source's null key becomes a no_key error row: errors/ lists it, no HBase row can hold it."""
    schema = pa.schema([pa.field(col.KEY, pa.string()), *col.result_fields(detect=False, embed=False, image_embedding=False)])
    rows = [{"key": None, "status": "error", "error_reason": "no_key"}, {"key": "b.jpg", "status": "ok"}]
    assert [key for key, _ in encode_rows(pa.RecordBatch.from_pylist(rows, schema=schema))] == [b"b.jpg"]


def test_sink_rewrites_all_cells_so_fewer_objects_leave_nothing_stale() -> None:
    conn = FakeConnection({"out": FakeTable()})
    list(write_through(sink(batch_size=1), [result_batch([3, 1])], connect=lambda c: conn))
    first = {k: dict(v) for k, v in conn.tables_["out"].rows_.items()}
    list(write_through(sink(), [result_batch([1, 1])], connect=lambda c: conn))
    row = {c: v for c, (v, _) in conn.tables_["out"].rows_[b"\x00k\xff\x00"].items()}
    assert len(decode_cells(row)["objects"]) == 1
    assert set(first[b"\x00k\xff\x00"]) == set(row)
