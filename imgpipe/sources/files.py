"""The files source: image files in a folder or glob on any Hadoop filesystem, read with Spark's ``binaryFile``.

    plan      list every file through the Hadoop FileSystem (zero-length ones included), filter by extension,
              sort, so chunks are the same on a resume
    results   binaryFile over one chunk's files (Spark sizes the splits) -> the fused pass
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, StringType, StructField, StructType

from imgpipe import batch as B
from imgpipe.config.job import JobConfig
from imgpipe.config.sections import FilesSourceConfig
from imgpipe.errors import SourceError, first_line
from imgpipe.pipeline import Pipeline
from imgpipe.sources.base import fused_results
from imgpipe.spark import fs


class FilesSource:
    unique_keys = True

    def __init__(self, cfg: FilesSourceConfig, job: JobConfig) -> None:
        self.cfg, self.chunk_size = cfg, job.run.chunk_files

    def describe(self) -> str:
        return f"files {self.cfg.path}"

    def plan(self, spark: SparkSession) -> list[Any]:
        """Every matching file as [path, length], sorted."""
        cfg = self.cfg
        try:
            listed = fs.list_files(spark, cfg.path, cfg.recursive)
        except Exception as exc:
            raise SourceError(f"files source {cfg.path!r}: {first_line(exc)}") from exc
        exts = tuple(f".{e}" for e in cfg.extensions)
        files = sorted([p, n] for p, n in listed if not exts or p.lower().endswith(exts))
        if not files:
            shown = ", ".join(cfg.extensions) or "any"
            raise SourceError(f"files source {cfg.path!r}: no files found (extensions: {shown})")
        return files[: cfg.limit] if cfg.limit else files

    def results(self, spark: SparkSession, units: list[Any], pipeline: Pipeline) -> tuple[DataFrame, int]:
        return fused_results(self.read(spark, units), pipeline)

    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame:
        """``binaryFile`` over the chunk's files as (key, image).

        Zero-length files are added as rows with empty bytes: Spark's scan skips them, and an empty
        upload must show up in ``errors`` rather than vanish.
        """
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(self.cfg.max_bytes_per_partition))
        paths = [p for p, n in units if n > 0]
        empty = [(p, b"") for p, n in units if n == 0]
        schema = StructType([StructField(B.KEY, StringType()), StructField(B.IMAGE, BinaryType())])
        if not paths:
            return spark.createDataFrame(empty, schema)
        scanned = spark.read.format("binaryFile").load(paths)
        df = scanned.select(F.col("path").alias(B.KEY), F.col("content").alias(B.IMAGE))
        return df.unionByName(spark.createDataFrame(empty, schema).coalesce(1)) if empty else df

    def retries(self) -> int:
        return 0  # Spark's file reader retries by itself and does not count
