"""The ``imgpipe-hbase`` Spark data source without Spark or HBase: options, pushed key filters, planning and reads
over the in-memory table (imgpipe.spark.hbase_datasource, imgpipe.spark.pushdown)."""

from __future__ import annotations

import pickle
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql.datasource import (
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    InputPartition,
    IsNotNull,
    LessThan,
    LessThanOrEqual,
    Not,
    StringStartsWith,
)

from imgpipe.errors import ConfigError, SourceError
from imgpipe.spark import hbase_datasource as ds
from imgpipe.spark.pushdown import key_bounds, narrow
from tests.unit.fake_hbase import FakeConnection, table_with_rows

OPTIONS = {"host": "127.0.0.1", "port": "9090", "table": "t", "column": "f:img"}
KEYS = [f"{c}{i}".encode() for c in "abcdefgh" for i in range(3)]


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The table ``t`` split into 4 regions at c, e, g, behind both the planner's and the scan's connect."""
    table = table_with_rows([b"c", b"e", b"g"], KEYS)
    conn = FakeConnection({"t": table})
    monkeypatch.setattr("imgpipe.hbase.splits.connect_source", lambda cfg: conn)
    monkeypatch.setattr("imgpipe.hbase.scan.connect_source", lambda cfg: conn)
    return table


def reader(pushdown: bool = False, **options: str) -> ds.HBaseReader:
    cfg, key_type = ds.source_options({**OPTIONS, **options})
    return (ds.PushdownReader if pushdown else ds.HBaseReader)(cfg, key_type, None)


def read_all(r: ds.HBaseReader) -> list[dict[str, Any]]:
    # Through pickle, as Spark ships the reader to the executors.
    shipped = pickle.loads(pickle.dumps(r))
    return [row for p in shipped.partitions() for batch in shipped.read(p) for row in batch.to_pylist()]


def test_options_are_the_hbase_source_config() -> None:
    cfg, key_type = ds.source_options({**OPTIONS, "PREFIX": "a/", "passthrough": '{"m:src": "src"}', "retries": "2"})
    assert (cfg.port, cfg.prefix, cfg.passthrough, cfg.retries, key_type) == (9090, "a/", {"m:src": "src"}, 2, "binary")
    assert ds.source_options({**OPTIONS, "min_timestamp": "2026-11-29"})[0].min_timestamp == 1_795_910_400_000


def test_every_bad_option_is_named_at_once() -> None:
    bad = {**OPTIONS, "prefx": "a", "key_type": "text", "passthrough": "m:src=src", "port": "x"}
    with pytest.raises(ConfigError) as exc:
        ds.source_options(bad)
    text = str(exc.value)
    assert text.startswith("format('imgpipe-hbase') is invalid (4 problems):")
    assert "prefx: unknown key. Did you mean 'prefix'?" in text
    assert "key_type: expected 'binary' or 'string', but got 'text'" in text
    assert "passthrough: expected a JSON object" in text
    assert "port: Input should be a valid integer" in text


def test_row_range_and_prefix_together_are_refused_as_in_yaml() -> None:
    with pytest.raises(ConfigError, match="give either prefix or row_start/row_stop"):
        ds.source_options({**OPTIONS, "prefix": "a", "row_start": "b"})


def test_schema_is_the_scan_schema_with_the_chosen_key_type() -> None:
    cfg, _ = ds.source_options({**OPTIONS, "passthrough": '{"m:src": "src"}'})
    assert ds.arrow_schema(cfg, "binary").types == [pa.binary()] * 3
    assert ds.arrow_schema(cfg, "string").field("key").type == pa.string()
    assert not ds.arrow_schema(cfg, "string").field("key").nullable


@pytest.mark.parametrize(
    ("item", "bounds"),
    [
        (EqualTo(("key",), b"b1"), (b"b1", b"b1\x00")),
        (GreaterThan(("key",), b"b1"), (b"b1\x00", b"")),
        (GreaterThanOrEqual(("key",), "b1"), (b"b1", b"")),
        (LessThan(("key",), b"c"), (b"", b"c")),
        (LessThanOrEqual(("key",), b"c"), (b"", b"c\x00")),
        (In(("key",), (b"d2", b"a0", b"b1")), (b"a0", b"d2\x00")),
        (StringStartsWith(("key",), "b"), (b"b", b"c")),
        (StringStartsWith(("key",), "é"), ("é".encode(), "é".encode()[:-1] + bytes([0xA9 + 1]))),
        (LessThan(("key",), b""), None),
        (IsNotNull(("key",)), None),
        (Not(EqualTo(("key",), b"b1")), None),
        (EqualTo(("src",), b"b1"), None),
        (EqualTo(("key",), 7), None),
    ],
)
def test_key_bounds(item: Any, bounds: tuple[bytes, bytes] | None) -> None:
    assert key_bounds(item) == bounds


def test_filters_narrow_together_and_can_exclude_everything() -> None:
    assert narrow((b"", b""), [GreaterThanOrEqual(("key",), b"b"), LessThan(("key",), b"e")]) == (b"b", b"e")
    assert narrow((b"a/", b"a0"), [StringStartsWith(("key",), "a/x")]) == (b"a/x", b"a/y")
    assert narrow((b"", b""), [GreaterThan(("key",), b"e"), LessThan(("key",), b"c")]) is None


def test_one_partition_per_region_and_every_key_once(table: Any) -> None:
    r = reader()
    assert len(r.partitions()) == 4
    rows = read_all(r)
    assert sorted(row["key"] for row in rows) == sorted(KEYS)
    assert all(row["image"] == b"I" + row["key"] for row in rows)


def test_pushed_filters_plan_and_scan_only_their_keys(table: Any) -> None:
    r = reader(pushdown=True, key_type="string")
    items = [StringStartsWith(("key",), "d"), IsNotNull(("key",))]
    assert list(r.pushFilters(items)) == items, "every filter goes back for Spark to check"
    assert [p.value.region for p in r.partitions()] == ["t,c,1.abc."]
    assert [row["key"] for row in read_all(r)] == ["d0", "d1", "d2"]
    assert all(s["start"] >= b"d" and s["stop"] == b"e" for s in table.scans if not s["reverse"])


def test_filters_that_exclude_every_key_plan_nothing(table: Any) -> None:
    r = reader(pushdown=True, prefix="a")
    list(r.pushFilters([GreaterThan(("key",), b"b")]))
    assert r.partitions() == []
    assert list(r.read(InputPartition(None))) == [], "Spark reads one empty partition when there are none"


def test_a_pushed_range_keeps_the_options_own_range(table: Any) -> None:
    r = reader(pushdown=True, row_start="b1", row_stop="f")
    list(r.pushFilters([LessThan(("key",), b"c1")]))
    assert [row["key"] for row in read_all(r)] == [b"b1", b"b2", b"c0"]


def test_binary_keys_survive_narrowing_whatever_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [b"\x00\\x41", b"\\", b"\xff\x00", b"\xff\xfe"]
    conn = FakeConnection({"t": table_with_rows([b"\x80"], keys)})
    monkeypatch.setattr("imgpipe.hbase.splits.connect_source", lambda cfg: conn)
    monkeypatch.setattr("imgpipe.hbase.scan.connect_source", lambda cfg: conn)
    r = reader(pushdown=True)
    list(r.pushFilters([GreaterThanOrEqual(("key",), b"\\"), LessThanOrEqual(("key",), b"\xff\x00")]))
    assert [row["key"] for row in read_all(r)] == [b"\\", b"\xff\x00"]


def test_a_key_that_is_not_utf8_is_named_when_read_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = FakeConnection({"t": table_with_rows([], [b"ok", b"bad\xff"])})
    monkeypatch.setattr("imgpipe.hbase.splits.connect_source", lambda cfg: conn)
    monkeypatch.setattr("imgpipe.hbase.scan.connect_source", lambda cfg: conn)
    with pytest.raises(SourceError, match=r"row key bad\\xff is not UTF-8 text.*key_type 'binary'"):
        read_all(reader(key_type="string"))


def test_the_pushing_reader_is_chosen_only_from_sparks_pushdown_planner() -> None:
    assert not ds._planning_with_pushdown()
    planner = {"__name__": "__main__", "__spec__": type("Spec", (), {"name": ds._PUSHDOWN_PLANNER})()}
    assert eval("f()", planner, {"f": ds._planning_with_pushdown}) is True
