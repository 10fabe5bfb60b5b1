"""The Parquet source's Spark side: planning local files takes the column types from their footers (no Spark job,
the types Spark would infer) and a chunk's read uses them (no job of its own either)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from imgpipe import batch as B
from imgpipe.config import parse_config
from imgpipe.errors import SourceError
from imgpipe.sources.parquet import ParquetSource
from imgpipe.spark.status import tracked_jobs


def _jobs_started_by(spark: SparkSession, action: Callable[[], None]) -> int:
    with tracked_jobs(spark, "probe") as jobs:
        action()
    return len(set(spark.sparkContext.statusTracker().getJobIdsForGroup(jobs.group)) - jobs.before)


def test_a_planned_chunk_is_read_without_a_schema_job(spark: SparkSession, tmp_path: Path) -> None:
    src = tmp_path / "images.parquet"
    table = pa.table({"id": [f"k{i}" for i in range(6)], "jpeg": [b"x" * i for i in range(6)],
                      "sku": [f"s{i}" for i in range(6)], "other": list(range(6))})  # fmt: skip
    pq.write_table(table, src)
    config = (
        f"source: {{type: parquet, path: '{src}', key_column: id, image_column: jpeg, passthrough: [sku]}}\n"
        f"sink: {{type: parquet, path: '{tmp_path / 'out'}'}}\n"
    )
    job = parse_config(config, "test.yaml").job
    assert job.source.type == "parquet"
    source = ParquetSource(job.source, job)
    planned = source.plan(spark)
    frames: list[DataFrame] = []
    started = _jobs_started_by(spark, lambda: frames.append(source.read(spark, planned.units)))
    assert started == 0, "the chunk's read inferred its schema again in a Spark job"
    assert frames[0].columns == [B.KEY, B.IMAGE, "sku"]
    assert [r[B.KEY] for r in frames[0].collect()] == [f"k{i}" for i in range(6)]


def _source(tmp_path: Path, passthrough: list[str], max_bytes: str = "64m") -> ParquetSource:
    config = (
        f"source: {{type: parquet, path: '{tmp_path / 'in'}', key_column: id, image_column: jpeg, "
        f"passthrough: {passthrough}, max_bytes_per_partition: {max_bytes}}}\n"
        f"sink: {{type: parquet, path: '{tmp_path / 'out'}'}}\n"
    )
    job = parse_config(config, "test.yaml").job
    assert job.source.type == "parquet"
    return ParquetSource(job.source, job)


def _write(folder: Path, table: pa.Table, files: int = 2) -> None:
    folder.mkdir()
    for i in range(files):
        pq.write_table(table, folder / f"part-{i}.parquet")


SIMPLE = pa.table({
    "id": pa.array([1, 2], pa.int64()), "jpeg": pa.array([b"a", b"b"], pa.large_binary()),
    "name": ["x", "y"], "small": pa.array([1, 2], pa.int8()), "ratio": pa.array([0.5, 1.5], pa.float32()),
    "flag": [True, False], "day": pa.array([1, 2], pa.date32()),
})  # fmt: skip


def test_planning_local_files_takes_the_types_spark_would_infer_without_a_job(spark: SparkSession, tmp_path: Path) -> None:
    _write(tmp_path / "in", SIMPLE)
    source = _source(tmp_path, ["name", "small", "ratio", "flag", "day"])
    planned: list[Any] = []
    assert _jobs_started_by(spark, lambda: planned.append(source.plan(spark))) == 0
    assert planned[0].images == 4 and planned[0].key_type == "bigint" and len(planned[0].units) == 2
    inferred = spark.read.parquet(str(tmp_path / "in")).schema
    assert source._columns == StructType([inferred[c] for c in ["id", "jpeg", "name", "small", "ratio", "flag", "day"]])
    assert sorted(r[B.KEY] for r in source.read(spark, planned[0].units).collect()) == [1, 1, 2, 2]


def test_a_column_type_spark_may_read_otherwise_is_left_to_spark(spark: SparkSession, tmp_path: Path) -> None:
    table = SIMPLE.append_column("at", pa.array([1, 2], pa.timestamp("ms")))
    _write(tmp_path / "in", table, files=1)
    source = _source(tmp_path, ["at"])
    planned: list[Any] = []
    assert _jobs_started_by(spark, lambda: planned.append(source.plan(spark))) == 1, "expected Spark's inference"
    assert source._columns is not None and source._columns["at"].dataType == spark.read.parquet(str(tmp_path / "in")).schema["at"].dataType
    assert source.read(spark, planned[0].units).count() == 2


def test_a_missing_column_is_named_and_a_broken_file_too(spark: SparkSession, tmp_path: Path) -> None:
    _write(tmp_path / "in", SIMPLE.drop_columns(["jpeg"]), files=1)
    with pytest.raises(SourceError, match=r"expected column\(s\) \['jpeg'\]"):
        _source(tmp_path, []).plan(spark)
    (tmp_path / "in" / "part-9.parquet").write_bytes(b"not parquet at all")
    broken = re.escape(f"{tmp_path / 'in' / 'part-9.parquet'} is not a readable Parquet file")
    with pytest.raises(SourceError, match=rf"parquet source: {broken}"):  # the path as the user knows it
        _source(tmp_path, []).plan(spark)


def test_a_folder_without_parquet_files_is_named_as_such(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "_SUCCESS").write_bytes(b"")  # what an empty Spark write leaves
    with pytest.raises(SourceError, match=r"no Parquet files found .*check source\.path"):
        _source(tmp_path, []).plan(spark)


def test_files_that_disagree_with_the_first_are_named_before_any_task(spark: SparkSession, tmp_path: Path) -> None:
    # Else the first task failed with Spark's "data type mismatch" (naming the file only in a log line), and a
    # file without the image column would have given every row as an image-less error.
    _write(tmp_path / "in", SIMPLE, files=1)
    pq.write_table(SIMPLE.set_column(0, "id", pa.array(["1", "2"])), tmp_path / "in" / "part-7.parquet")
    pq.write_table(SIMPLE.drop_columns(["jpeg"]), tmp_path / "in" / "part-8.parquet")
    with pytest.raises(SourceError) as refused:
        _source(tmp_path, ["name"]).plan(spark)
    message = str(refused.value)
    assert f"{tmp_path / 'in' / 'part-7.parquet'}: 'id' is string" in message
    assert f"{tmp_path / 'in' / 'part-8.parquet'}: no column 'jpeg'" in message
    assert "as the first file" in message and "id bigint, jpeg binary, name string" in message


def test_narrower_numbers_spark_widens_are_read(spark: SparkSession, tmp_path: Path) -> None:
    _write(tmp_path / "in", SIMPLE.set_column(4, "ratio", pa.array([0.5, 1.5], pa.float64())), files=1)
    narrow = SIMPLE.set_column(0, "id", pa.array([3, 4], pa.int32()))  # and its ratio is float32
    pq.write_table(narrow, tmp_path / "in" / "part-7.parquet")
    source = _source(tmp_path, ["ratio"])
    planned = source.plan(spark)
    rows = sorted((r[B.KEY], r["ratio"]) for r in source.read(spark, planned.units).collect())
    assert rows == [(1, 0.5), (2, 1.5), (3, 0.5), (4, 1.5)]


@pytest.mark.parametrize(
    ("rows", "groups", "max_bytes"),
    [(12, 3, "64m"), (8, 2, "1m")],
    ids=["fewer row groups than task slots", "row groups over max_bytes_per_partition"],
)
def test_no_read_task_is_empty(spark: SparkSession, tmp_path: Path, rows: int, groups: int, max_bytes: str) -> None:
    # Spark splits a file by bytes and gives each row group to the split holding its middle: with splits smaller
    # than the row groups (a small run, or large row groups) the rest are empty tasks, each paying a task's start.
    noise = random.Random(0)  # incompressible: the file is as large as its images
    table = pa.table({"id": [f"k{i}" for i in range(rows)], "jpeg": [noise.randbytes(1 << 20) for _ in range(rows)]})
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "part-0.parquet", row_group_size=rows // groups, compression="none")
    source = _source(tmp_path, [], max_bytes)
    df = source.read(spark, source.plan(spark).units)
    assert df.rdd.glom().map(len).collect() == [rows // groups] * groups, "expected one read task per row group"
    resumed = _source(tmp_path, [], max_bytes)  # a resumed run reads the chunk without planning
    assert resumed.read(spark, source.plan(spark).units).rdd.getNumPartitions() == groups
