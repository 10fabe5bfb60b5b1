"""What every source gives the job: read units planned on the driver, and the fused results of a chunk of them.

A *unit* is JSON-friendly (a file and its length, a Parquet file, an HBase split), so the plan can be stored in
the run manifest and a resumed run reads exactly the same chunks.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from pyspark.sql import DataFrame, SparkSession

from imgpipe.spark.fused import BatchFn, fused_pass

__all__ = ["BatchFn", "Planned", "Source", "fused_results"]


class Planned(NamedTuple):
    units: list[Any]
    #: Inputs the source saw but leaves out by configuration (files whose extension is not in ``extensions``).
    skipped: int = 0
    #: Spark SQL type of the keys (``string`` for paths, ``binary`` for HBase row keys, a Parquet column's type).
    key_type: str = "string"
    #: How many images the units hold, where planning can tell without reading them (for progress).
    images: int | None = None


class Source(Protocol):
    #: Keys unique by construction (file paths, HBase row keys): no need to look for duplicates.
    unique_keys: bool
    #: Read units per chunk, the unit of resumption.
    chunk_size: int

    def describe(self) -> str: ...

    def plan(self, spark: SparkSession) -> Planned:
        """Driver: every read unit, in a stable order; reads no image data."""

    def results(self, spark: SparkSession, units: list[Any], run: BatchFn) -> tuple[DataFrame, int]:
        """``run`` (the fused pass) over ``units``, lazily, and how many read tasks it takes."""

    def retries(self) -> int:
        """Source calls retried after transient errors so far (0 where the reader retries on its own)."""

    def gateways(self) -> dict[str, dict[str, int]]:
        """Per service read through (HBase Thrift gateways): ``{"h1:9090": {"splits": 2, "rows": 8, "failovers": 1}}``;
        ``{}`` for sources that Spark's own readers read."""


def fused_results(df: DataFrame, run: BatchFn) -> tuple[DataFrame, int]:
    """For sources read by Spark's own readers: the fused pass over their DataFrame, and its task count."""
    return fused_pass(df, run), df.rdd.getNumPartitions()
