"""Each source as the job sees it: ``plan`` units on the driver, ``read`` a chunk of them as a DataFrame."""

from __future__ import annotations

from typing import Any, Protocol

from pyspark.sql import DataFrame, SparkSession

from imgpipe.config.job import JobConfig
from imgpipe.config.sections import FilesSourceConfig, ParquetSourceConfig
from imgpipe.pipeline import Pipeline
from imgpipe.spark import read
from imgpipe.spark.fused import fused_pass


class Input(Protocol):
    chunk_size: int
    #: Keys unique by construction (file paths, HBase row keys): no need to look for duplicates.
    unique_keys: bool

    def describe(self) -> str: ...
    def plan(self, spark: SparkSession) -> list[Any]: ...
    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame: ...
    def results(self, spark: SparkSession, units: list[Any], pipeline: Pipeline) -> tuple[DataFrame, int]: ...
    def retries(self) -> int: ...


def fused_results(df: DataFrame, pipeline: Pipeline) -> tuple[DataFrame, int]:
    """For inputs read by Spark's own readers: the fused pass over their DataFrame, and its task count."""
    return fused_pass(df, pipeline), df.rdd.getNumPartitions()


class FilesInput:
    unique_keys = True

    def __init__(self, cfg: FilesSourceConfig, chunk_size: int) -> None:
        self.cfg, self.chunk_size = cfg, chunk_size

    def describe(self) -> str:
        return f"files {self.cfg.path}"

    def plan(self, spark: SparkSession) -> list[Any]:
        return [list(f) for f in read.list_files(spark, self.cfg)]

    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame:
        return read.read_files(spark, self.cfg, [(p, n) for p, n in units])

    def results(self, spark: SparkSession, units: list[Any], pipeline: Pipeline) -> tuple[DataFrame, int]:
        return fused_results(self.read(spark, units), pipeline)

    def retries(self) -> int:
        return 0  # Spark's file reader retries by itself and does not count


class ParquetInput:
    unique_keys = False

    def __init__(self, cfg: ParquetSourceConfig, chunk_size: int) -> None:
        # A row limit only makes sense over the whole input, so it is one chunk.
        self.cfg, self.chunk_size = cfg, (1 << 30 if cfg.limit else chunk_size)

    def describe(self) -> str:
        return f"parquet {', '.join(self.cfg.paths)}"

    def plan(self, spark: SparkSession) -> list[Any]:
        return list(read.list_parquet_files(spark, self.cfg))

    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame:
        return read.read_parquet(spark, self.cfg, units)

    def results(self, spark: SparkSession, units: list[Any], pipeline: Pipeline) -> tuple[DataFrame, int]:
        return fused_results(self.read(spark, units), pipeline)

    def retries(self) -> int:
        return 0


def make_input(job: JobConfig) -> Input:
    src = job.source
    if isinstance(src, FilesSourceConfig):
        return FilesInput(src, job.run.chunk_files)
    if isinstance(src, ParquetSourceConfig):
        return ParquetInput(src, job.run.chunk_files)
    from imgpipe.spark.hbase import HBaseInput

    return HBaseInput(src, job.run.chunk_splits)
