"""HBase source/sink/ingest logic without HBase: split arithmetic, planning, resume, cell encoding."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from imgpipe import batch as col
from imgpipe.config.hbase import HBaseSinkConfig, HBaseSourceConfig, key_bytes
from imgpipe.errors import SourceError
from imgpipe.ingest import row_key, shell_command, split_keys
from imgpipe.sinks.hbase import QUALIFIERS, decode_cells, encode_rows, write_batches
from imgpipe.sources.hbase import HBaseSplit, clip, key_range, plan_splits, prefix_stop, read_split, split_points
from tests.unit.fake_hbase import FakeConnection, FakeTable


def source(**kw: Any) -> HBaseSourceConfig:
    return HBaseSourceConfig.model_validate({"type": "hbase", "host": "h", "table": "t", "column": "f:img", **kw})


def sink(**kw: Any) -> HBaseSinkConfig:
    return HBaseSinkConfig.model_validate({"type": "hbase", "host": "h", "table": "out", **kw})


# ---------------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("start", "stop", "n"),
    [(b"", b"", 4), (b"4000", b"8000", 4), (b"a", b"b", 7), (b"", b"\x01", 3), (b"\xff", b"", 5), (b"k", b"k\x00\x01", 3)],
)
def test_split_points_are_increasing_and_inside(start: bytes, stop: bytes, n: int) -> None:
    points = split_points(start, stop, n)
    assert len(points) == n - 1
    assert points == sorted(set(points))
    assert all(start < p and (not stop or p < stop) for p in points)


def test_split_points_cut_evenly() -> None:
    assert split_points(b"", b"", 4) == [b"\x40", b"\x80", b"\xc0"]
    assert split_points(b"4000", b"8000", 4) == [b"5000", b"6000", b"7000"]


def test_adjacent_keys_cannot_be_split() -> None:
    assert split_points(b"a", b"a\x00", 4) == []  # nothing sorts between b"a" and b"a\x00"
    assert split_points(b"a", b"b", 1) == []


def test_prefix_stop() -> None:
    assert prefix_stop(b"img/") == b"img0"
    assert prefix_stop(b"a\xff\xff") == b"b"
    assert prefix_stop(b"\xff") == b""


def test_clip() -> None:
    assert clip(b"", b"m", b"c", b"") == (b"c", b"m")
    assert clip(b"m", b"", b"", b"x") == (b"m", b"x")
    assert clip(b"m", b"", b"a", b"c") is None
    assert clip(b"a", b"c", b"c", b"") is None


def test_key_range_from_config() -> None:
    assert key_range(source(prefix="ab")) == (b"ab", b"ac")
    assert key_range(source(row_start="a\\xff", row_stop="b")) == (b"a\xff", b"b")
    assert key_bytes("\\x00z") == b"\x00z"


def test_config_rejects_prefix_with_range_and_bad_columns() -> None:
    with pytest.raises(ValidationError, match="either prefix or row_start"):
        source(prefix="a", row_start="b")
    with pytest.raises(ValidationError, match="family:qualifier"):
        source(column="img")
    with pytest.raises(ValidationError, match="min_timestamp"):
        source(min_timestamp=5, max_timestamp=5)
    assert source(min_timestamp="2024-01-01").min_timestamp == 1704067200000


# ----------------------------------------------------------------------------------- planning


def table_with_rows(splits: list[bytes], keys: list[bytes]) -> FakeTable:
    table = FakeTable(splits)
    for k in keys:
        table.put(k, {b"f:img": b"I" + k, b"m:src": b"S" + k})
    return table


def test_plan_one_split_per_region_clipped_to_range() -> None:
    table = table_with_rows([b"4", b"8", b"c"], [])
    conn = FakeConnection({"t": table})
    splits = plan_splits(source(row_start="5", row_stop="9"), connect=lambda cfg: conn)
    assert [(s.start, s.stop) for s in splits] == [(b"5", b"8"), (b"8", b"9")]
    assert [s.index for s in splits] == [0, 1]
    assert pickle.loads(pickle.dumps(splits)) == splits
    assert [HBaseSplit.from_unit(json.loads(json.dumps(s.to_unit()))) for s in splits] == splits
    assert conn.closed


def test_plan_missing_table_is_a_source_error() -> None:
    conn = FakeConnection({})
    conn.table = lambda name: FakeTable()  # type: ignore[method-assign]
    empty = FakeTable()
    empty.regions = lambda: []  # type: ignore[method-assign]
    conn.table = lambda name: empty  # type: ignore[method-assign]
    with pytest.raises(SourceError, match="table 't' does not exist"):
        plan_splits(source(), connect=lambda cfg: conn)


def test_splits_per_region_cut_between_real_keys() -> None:
    keys = [f"{i:04x}/x".encode() for i in range(0, 0x4000, 0x100)]
    table = table_with_rows([b"4000"], keys)
    splits = plan_splits(source(splits_per_region=4), connect=lambda cfg: FakeConnection({"t": table}))
    first_region = [s for s in splits if s.region == splits[0].region]
    assert len(first_region) == 4 and first_region[0].start == b"" and first_region[-1].stop == b"4000"
    counts = [sum(1 for k in keys if s.start <= k and (not s.stop or k < s.stop)) for s in first_region]
    assert sum(counts) == len(keys) and min(counts) > 0


# ------------------------------------------------------------------------------------ reading


def read_all(cfg: HBaseSourceConfig, table: FakeTable, **kw: Any) -> list[pa.RecordBatch]:
    conn = FakeConnection({"t": table})
    splits = plan_splits(cfg, connect=lambda c: conn)
    return [b for s in splits for b in read_split(cfg, s, connect=lambda c: conn, sleep=lambda s: None, **kw)]


def test_read_returns_every_row_once_with_passthrough() -> None:
    keys = [b"3", b"4", b"41", b"8", b"c", b"\xff\xfe"]
    batches = read_all(source(passthrough={"m:src": "src"}), table_with_rows([b"4", b"8", b"c"], keys))
    table = pa.Table.from_batches(batches)
    assert table.column("key").to_pylist() == keys
    assert table.column("image").to_pylist() == [b"I" + k for k in keys]
    assert table.column("src").to_pylist() == [b"S" + k for k in keys]


def test_batches_are_bounded_by_bytes_and_rows() -> None:
    keys = [bytes([i]) for i in range(1, 50)]
    batches = read_all(source(), table_with_rows([], keys), max_batch_bytes=10, max_batch_rows=4)
    assert all(b.num_rows <= 4 for b in batches)
    assert all(b.num_rows == 1 or sum(len(v) for v in b.column("image").to_pylist()) < 20 for b in batches)
    assert sum(b.num_rows for b in batches) == len(keys)


def test_resume_after_connection_reset_reads_each_row_once(caplog: pytest.LogCaptureFixture) -> None:
    keys = [f"k{i:03d}".encode() for i in range(40)]
    table = table_with_rows([], keys)
    table.fail_after = 17
    batches = read_all(source(), table, max_batch_rows=5)
    assert pa.Table.from_batches(batches).column("key").to_pylist() == keys
    assert table.scans[-1]["start"] == b"k016\x00"  # resumed just after the last row read
    assert "retry 1/5" in caplog.text


def test_gives_up_after_retries() -> None:
    class Dead:
        def table(self, name: str) -> Any:
            raise BrokenPipeError("broken pipe")

        def close(self) -> None:
            pass

    split = HBaseSplit(0, b"", b"", "r", "t rows [, end)")
    with pytest.raises(SourceError, match="gave up after 2 retries"):
        list(read_split(source(retries=2), split, connect=lambda c: Dead(), sleep=lambda s: None))


def test_min_timestamp_fetches_only_new_rows() -> None:
    table = FakeTable()
    for i in range(10):
        table.put(f"r{i}".encode(), {b"f:img": b"x"}, timestamp=100 + i)
    batches = read_all(source(min_timestamp=105, max_timestamp=108, scan_batch_size=2), table)
    assert pa.Table.from_batches(batches).column("key").to_pylist() == [b"r5", b"r6", b"r7"]


# --------------------------------------------------------------------------------------- sink


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


def test_sink_rewrites_all_cells_so_fewer_objects_leave_nothing_stale() -> None:
    conn = FakeConnection({"out": FakeTable()})
    write_batches(sink(batch_size=1), [result_batch([3, 1])], connect=lambda c: conn)
    first = {k: dict(v) for k, v in conn.tables_["out"].rows_.items()}
    write_batches(sink(), [result_batch([1, 1])], connect=lambda c: conn)
    row = {c: v for c, (v, _) in conn.tables_["out"].rows_[b"\x00k\xff\x00"].items()}
    assert len(decode_cells(row)["objects"]) == 1
    assert set(first[b"\x00k\xff\x00"]) == set(row)


# ------------------------------------------------------------------------------------- ingest


def test_ingest_keys_and_splits() -> None:
    assert split_keys(4) == [b"4000", b"8000", b"c000"]
    assert split_keys(1) == []
    key = row_key("cats/001.jpg")
    assert key.endswith(b"/cats/001.jpg") and len(key.split(b"/")[0]) == 4
    assert shell_command("t", ["f"], split_keys(2)) == "create 't', {NAME => 'f', VERSIONS => 1}, SPLITS => ['8000']"
