"""The HBase sink against a real standalone HBase: prepare, idempotent rewrites, binary keys."""

from __future__ import annotations

import uuid
from typing import Any

import happybase
import numpy as np
import pyarrow as pa
import pytest

from imgpipe import batch as col
from imgpipe.config.hbase import HBaseSinkConfig
from imgpipe.errors import SinkError
from imgpipe.hbase.cells import QUALIFIERS, decode_cells, prepare, write_through
from tests.system.conftest import HBaseService

pytestmark = pytest.mark.system

KEYS = [b"\xff\xfe\x00bin", "plain/é.jpg".encode(), b"\x00"]


def cfg(hbase: HBaseService, table: str, **kw: Any) -> HBaseSinkConfig:
    return HBaseSinkConfig.model_validate(
        {"type": "hbase", "host": hbase.host, "port": hbase.port, "table": table, **kw}
    )


def results(n_objects: int, run_id: str) -> pa.RecordBatch:
    fields = col.result_fields(detect=True, embed=True, image_embedding=True)
    schema = pa.schema([pa.field(col.KEY, pa.binary()), *fields, pa.field(col.RUN_ID, pa.string())])
    rows = [
        {
            col.KEY: key, col.WIDTH: 640, col.HEIGHT: 480, col.STATUS: "ok", col.RUN_ID: run_id,
            col.OBJECTS: [
                {"label": j, "label_name": "dog", "score": 0.75,
                 "box": {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0}, "embedding": [j / 2, 1.0, -1.0, 0.0]}
                for j in range(n_objects)
            ],
            col.IMAGE_EMBEDDING: [0.5, 0.25, 0.125, 1.0],
            col.DETECT_MODEL: {"name": "yolox", "sha256": "00ff"}, col.EMBED_MODEL: {"name": "mnv2", "sha256": "ee"},
        }
        for key in KEYS
    ]  # fmt: skip
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def cells(hbase: HBaseService, table: str) -> dict[bytes, dict[bytes, bytes]]:
    conn = happybase.Connection(hbase.host, hbase.port)
    try:
        return dict(conn.table(table).scan())
    finally:
        conn.close()


def test_prepare_missing_table_names_it(hbase: HBaseService) -> None:
    with pytest.raises(SinkError, match=r"table 'nope_\w+' does not exist.*create: true"):
        prepare(cfg(hbase, f"nope_{uuid.uuid4().hex[:6]}"))


def test_prepare_creates_table_and_checks_family(hbase: HBaseService) -> None:
    name = f"sink_{uuid.uuid4().hex[:8]}"
    prepare(cfg(hbase, name, create=True))
    prepare(cfg(hbase, name, create=True))  # already there: fine
    with pytest.raises(SinkError, match=r"no column family 'x'.*alter"):
        prepare(cfg(hbase, name, family="x"))


def test_rerun_is_idempotent_and_fewer_objects_leave_no_stale_cells(hbase: HBaseService) -> None:
    name = f"sink_{uuid.uuid4().hex[:8]}"
    config = cfg(hbase, name, create=True, batch_size=2)
    prepare(config)
    assert sum(b.num_rows for b in write_through(config, iter([results(3, "run-1")]))) == len(KEYS)
    first = cells(hbase, name)
    assert sorted(first) == sorted(KEYS)  # non-UTF-8 keys round trip
    assert sorted(first[KEYS[0]]) == sorted(b"r:" + q.encode() for q in QUALIFIERS)

    list(write_through(config, iter([results(3, "run-1")])))  # a retried task: identical cells
    assert cells(hbase, name) == first

    list(write_through(config, iter([results(1, "run-2")])))  # a rerun finding fewer objects
    after = cells(hbase, name)
    for key in KEYS:
        row = decode_cells(after[key])
        assert len(row["objects"]) == 1 and row["run_id"] == "run-2"
        assert row["objects"][0]["embedding"].tolist() == [0.0, 1.0, -1.0, 0.0]
        assert len(after[key][b"r:object_embeddings"]) == 4 * 4
        np.testing.assert_array_equal(row["image_embedding"], np.array([0.5, 0.25, 0.125, 1.0], "<f4"))
