"""Scanning one HBase split without HBase: every row once, bounded batches, resume after errors (imgpipe.hbase.scan)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from imgpipe.config.hbase import HBaseSourceConfig
from imgpipe.errors import SourceError
from imgpipe.hbase.scan import read_split
from imgpipe.hbase.splits import HBaseSplit, plan_splits
from tests.unit.fake_hbase import FakeConnection, FakeTable, source, table_with_rows


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
