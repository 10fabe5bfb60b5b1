"""The HBase source against a real standalone HBase: planning per region, exact key ranges, resume."""

from __future__ import annotations

import uuid
from typing import Any

import happybase
import pyarrow as pa
import pytest

from imgpipe.config.hbase import HBaseSourceConfig
from imgpipe.hbase.scan import read_split
from imgpipe.hbase.splits import plan_splits
from tests.system.conftest import HBaseService

pytestmark = pytest.mark.system

SPLITS = [b"4", b"8", b"c"]
# Keys sitting exactly on region boundaries, just before and after them, and non-UTF-8 bytes.
KEYS = sorted([
    b"0", b"3\xff\xff", b"4", b"4\x00", b"7~", b"8", b"8\x00\x01", b"b\xff", b"c", b"c0",
    b"img/1", b"img/2", b"img0", b"z", b"\x80\x81", b"\xff\xfe",
])  # fmt: skip


def cfg(hbase: HBaseService, table: str, **kw: Any) -> HBaseSourceConfig:
    return HBaseSourceConfig.model_validate(
        {"type": "hbase", "host": hbase.host, "port": hbase.port, "table": table, "column": "f:img",
         "backoff_s": 0.2, **kw}
    )  # fmt: skip


def read_keys(config: HBaseSourceConfig, **kw: Any) -> list[bytes]:
    return [k for s in plan_splits(config) for b in read_split(config, s, **kw) for k in b.column("key").to_pylist()]


@pytest.fixture(scope="module")
def table(hbase: HBaseService) -> str:
    name = f"src_{uuid.uuid4().hex[:8]}"
    hbase.create_table(name, "f,m", *SPLITS)
    conn = happybase.Connection(hbase.host, hbase.port)
    t = conn.table(name)
    for i, key in enumerate(KEYS):
        t.put(key, {b"f:img": b"IMG" + key, b"m:src": b"src-%d" % i}, timestamp=1000 + i)
    t.put(b"no-image", {b"m:src": b"only metadata"}, timestamp=5000)
    conn.close()
    return name


def test_plan_has_one_split_per_region(hbase: HBaseService, table: str) -> None:
    splits = plan_splits(cfg(hbase, table))
    assert [(s.start, s.stop) for s in splits] == [(b"", b"4"), (b"4", b"8"), (b"8", b"c"), (b"c", b"")]
    assert len({s.region for s in splits}) == 4


def test_boundary_keys_are_read_exactly_once(hbase: HBaseService, table: str) -> None:
    config = cfg(hbase, table, passthrough={"m:src": "src"})
    batches = [b for s in plan_splits(config) for b in read_split(config, s)]
    got = pa.Table.from_batches(batches)
    expected = sorted([*KEYS, b"no-image"])
    assert got.column("key").to_pylist() == expected
    images = dict(zip(got.column("key").to_pylist(), got.column("image").to_pylist()))
    assert images[b"4"] == b"IMG4" and images[b"\xff\xfe"] == b"IMG\xff\xfe"
    assert images[b"no-image"] is None
    assert got.column("src").to_pylist()[expected.index(b"no-image")] == b"only metadata"


def test_splits_per_region_still_reads_each_key_once(hbase: HBaseService, table: str) -> None:
    config = cfg(hbase, table, splits_per_region=3)
    splits = plan_splits(config)
    assert len(splits) > 4
    assert all(a.stop == b.start for a, b in zip(splits, splits[1:]))
    assert read_keys(config) == KEYS  # no passthrough: the image-less row is not scanned


def test_prefix_and_range(hbase: HBaseService, table: str) -> None:
    assert read_keys(cfg(hbase, table, prefix="img/")) == [b"img/1", b"img/2"]
    assert read_keys(cfg(hbase, table, row_start="4", row_stop="8\\x00\\x01")) == [b"4", b"4\x00", b"7~", b"8"]
    assert len(plan_splits(cfg(hbase, table, row_start="4", row_stop="8\\x00\\x01"))) == 2


def test_timestamp_range(hbase: HBaseService, table: str) -> None:
    # KEYS[i] was written at 1000 + i: [1003, 1006) selects KEYS[3:6].
    assert read_keys(cfg(hbase, table, min_timestamp=1003, max_timestamp=1006)) == KEYS[3:6]
    assert read_keys(cfg(hbase, table, min_timestamp=1014)) == KEYS[14:]


class FlakyConnection:
    """A real happybase connection whose scanner dies once after ``fail_after`` rows."""

    def __init__(self, config: HBaseSourceConfig, state: dict[str, int]) -> None:
        self.conn = happybase.Connection(config.host, config.port)
        self.state = state

    def table(self, name: str) -> Any:
        real = self.conn.table(name)
        state = self.state

        class Table:
            def scan(self, **kw: Any) -> Any:
                for row in real.scan(**kw):
                    if state["rows"] == state["fail_after"] and not state["failed"]:
                        state["failed"] = 1
                        raise ConnectionResetError("injected reset")
                    state["rows"] += 1
                    yield row

        return Table()

    def close(self) -> None:
        self.conn.close()


def test_resume_after_a_reset_mid_scan(hbase: HBaseService, table: str, caplog: pytest.LogCaptureFixture) -> None:
    config = cfg(hbase, table, scan_batch_size=2)
    state = {"fail_after": 6, "rows": 0, "failed": 0, "connects": 0}  # row 6 is the second of region [8, c)

    def connect(c: HBaseSourceConfig) -> FlakyConnection:
        state["connects"] += 1
        return FlakyConnection(c, state)

    keys = [k for s in plan_splits(config) for b in read_split(config, s, connect=connect, max_batch_rows=1)
            for k in b.column("key").to_pylist()]  # fmt: skip
    assert keys == KEYS
    assert state["failed"] and state["connects"] == 5  # 4 splits + 1 reconnect
    assert "resuming after 8" in caplog.text


def test_thrift_server_restarted_mid_scan(hbase: HBaseService, table: str) -> None:
    config = cfg(hbase, table, scan_batch_size=1, retries=8)
    (split,) = [s for s in plan_splits(config) if s.start == b"8"]
    reader = read_split(config, split, max_batch_rows=1)
    first = next(reader).column("key").to_pylist()
    hbase.stop_thrift()  # the reader's socket and server-side scanner die with the gateway
    hbase.start_thrift()
    rest = [k for b in reader for k in b.column("key").to_pylist()]
    assert first + rest == [k for k in KEYS if b"8" <= k < b"c"]
