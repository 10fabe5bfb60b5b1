"""``spark.read.format("imgpipe-hbase")`` on a real HBase: one partition per region, every key once, key filters
pushed down where Spark pushes them (checked from the reader's own counters), and ``infer`` over it giving what
``imgpipe run`` HBase -> Parquet gives.

The caller is ``spark.newSession()``: the test's own session on the shared SparkContext, with its own conf and its
own registered data sources, so what it sets never reaches the other tests.
"""

from __future__ import annotations

import json
import string
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import happybase
import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.datasource import DataSourceReader

from imgpipe import batch as B
from imgpipe.spark import infer, register
from tests.helpers import MODELS_YAML, photo_count
from tests.spark_helpers import read_rows, run_config
from tests.system.conftest import HBaseService

pytestmark = pytest.mark.system

#: Spark 4.1 added filter pushdown for Python data sources; on 4.0 every filter runs after a full scan.
SPARK_PUSHES = hasattr(DataSourceReader, "pushFilters")
KEYS = [f"{c}{i:03d}".encode() for c in string.ascii_lowercase for i in range(8)]


@pytest.fixture(scope="module")
def letters(hbase: HBaseService) -> str:
    """A table pre-split into 4 regions at g, n, t, holding 8 rows for each letter."""
    table = f"letters_{uuid.uuid4().hex[:8]}"
    hbase.create_table(table, "f", b"g", b"n", b"t")
    conn = happybase.Connection(hbase.host, hbase.port)
    try:
        with conn.table(table).batch() as batch:
            for key in KEYS:
                batch.put(key, {b"f:img": b"I" + key, b"f:sku": b"S" + key})
    finally:
        conn.close()
    return table


@pytest.fixture
def caller(spark: SparkSession) -> SparkSession:
    return spark.newSession()


def load(caller: SparkSession, hbase: HBaseService, table: str, **options: str) -> DataFrame:
    reader = caller.read.format("imgpipe-hbase").options(host=hbase.host, port=str(hbase.port), table=table)
    return reader.option("column", "f:img").options(**options).load()


def test_one_partition_per_region_and_every_key_once(caller: SparkSession, hbase: HBaseService, letters: str) -> None:
    counters = register(caller)
    assert register(caller) is counters, "registering again changes nothing"
    df = load(caller, hbase, letters, passthrough=json.dumps({"f:sku": "sku"}))
    assert df.columns == [B.KEY, B.IMAGE, "sku"]
    assert df.rdd.getNumPartitions() == 4
    before = counters.rows_scanned
    rows = df.collect()
    assert sorted(r[B.KEY] for r in rows) == KEYS
    assert all(r[B.IMAGE] == b"I" + r[B.KEY] and r["sku"] == b"S" + r[B.KEY] for r in rows)
    assert counters.rows_scanned - before == len(KEYS)
    assert counters.retries == 0


def scanned(caller: SparkSession, df: DataFrame, condition: Column, pushdown: bool) -> tuple[list[Any], int, int]:
    """(sorted rows, rows the reader scanned, partitions) of ``df`` filtered, with pushdown on or off."""
    caller.conf.set("spark.sql.python.filterPushdown.enabled", str(pushdown).lower())
    counters = register(caller)
    filtered = df.filter(condition)
    before = counters.rows_scanned
    rows = sorted(tuple(r) for r in filtered.collect())
    return rows, counters.rows_scanned - before, filtered.rdd.getNumPartitions()


@pytest.mark.parametrize(
    ("key_type", "condition", "expected"),
    [
        ("string", lambda: F.col("key").startswith("h"), [f"h{i:03d}" for i in range(8)]),
        ("binary", lambda: (F.col("key") >= F.lit(b"m")) & (F.col("key") < F.lit(b"o")), [k for k in KEYS if k[:1] in b"mn"]),
    ],
    ids=["prefix", "range"],
)
def test_key_filters_are_pushed_down_where_spark_pushes(
    caller: SparkSession,
    hbase: HBaseService,
    letters: str,
    key_type: str,
    condition: Callable[[], Column],
    expected: list[Any],
) -> None:
    register(caller)
    df = load(caller, hbase, letters, key_type=key_type)
    plain_rows, plain_scanned, _ = scanned(caller, df, condition(), pushdown=False)
    pushed_rows, pushed_scanned, pushed_parts = scanned(caller, df, condition(), pushdown=True)
    assert [r[0] for r in plain_rows] == expected
    assert pushed_rows == plain_rows, "the same rows either way"
    assert plain_scanned == len(KEYS)
    if SPARK_PUSHES:
        assert pushed_scanned == len(expected), "only the filtered key range is scanned"
        assert pushed_parts < 4, "regions outside the range are not even planned"
    else:
        assert pushed_scanned == len(KEYS)


def test_infer_over_the_reader_written_by_the_caller_matches_imgpipe_run(
    spark: SparkSession, caller: SparkSession, hbase: HBaseService, photos_table: str, tmp_path: Path
) -> None:
    source = f"source: {{type: hbase, host: {hbase.host}, port: {hbase.port}, table: {photos_table}, column: 'f:img'}}\n"
    run_config(spark, source + f"sink: {{type: parquet, path: '{tmp_path / 'run'}'}}\n" + MODELS_YAML)
    expected = {r[B.KEY]: r for r in read_rows(tmp_path / "run" / "results")}

    config = tmp_path / "infer.yaml"
    config.write_text(MODELS_YAML)
    register(caller)
    infer(load(caller, hbase, photos_table), config).write.parquet(str(tmp_path / "lib"))
    got = {r[B.KEY]: r for r in read_rows(tmp_path / "lib")}

    assert sorted(got) == sorted(expected) and len(got) == photo_count()
    for key, want in expected.items():
        row = got[key]
        assert set(row) == set(want) - {"chunk"}, "the same result columns"
        for column in (B.WIDTH, B.HEIGHT, B.STATUS, B.OBJECTS, B.IMAGE_EMBEDDING, B.DETECT_MODEL, B.EMBED_MODEL):
            assert row[column] == want[column], (key, column)
