"""HBase read planning without HBase: split arithmetic, key ranges, one split per region (imgpipe.hbase.splits)."""

from __future__ import annotations

import json
import pickle

import pytest
from pydantic import ValidationError

from imgpipe.config.hbase import key_bytes
from imgpipe.errors import SourceError
from imgpipe.hbase.splits import HBaseSplit, clip, key_range, plan_splits, prefix_stop, split_points
from tests.unit.fake_hbase import FakeConnection, FakeTable, source, table_with_rows


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
