"""The Parquet source's Spark side: a chunk's read uses the columns planning found and starts no job of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession

from imgpipe import batch as B
from imgpipe.config import parse_config
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
