"""What every sink gives the job: prepare once, write one chunk at a time, and read back a narrow ledger.

Counts and errors come from that ledger, read back from committed output (the Parquet results, or a status
dataset for sinks that are not Parquet), so a retried task is never counted twice. ``ReportFiles`` is where
the run's own files go: ``summary.json`` and ``errors/`` under the report directory.
"""

from __future__ import annotations

from typing import Protocol

from pyspark.sql import DataFrame, SparkSession


class Sink(Protocol):
    report_dir: str

    @property
    def summary_path(self) -> str: ...
    @property
    def errors_path(self) -> str: ...
    @property
    def errors_mode(self) -> str: ...
    def describe(self) -> str: ...

    def prepare(self, spark: SparkSession) -> None:
        """Driver, once before the first chunk of a fresh run."""

    def write_chunk(self, spark: SparkSession, df: DataFrame, name: str) -> None:
        """Write and commit one chunk's results (replacing any earlier attempt at the same chunk)."""

    def ledger(self, spark: SparkSession, run_id: str) -> DataFrame:
        """One ``batch.LEDGER`` row per image of ``run_id``, from what was committed."""

    def locations(self) -> dict[str, str]:
        """What the run wrote, for the report: name -> path or table."""


class ReportFiles:
    """summary.json and errors/ under the report directory, shared by every sink."""

    def __init__(self, report_dir: str) -> None:
        self.report_dir = report_dir.rstrip("/")

    @property
    def summary_path(self) -> str:
        return self.report_dir + "/summary.json"

    @property
    def errors_path(self) -> str:
        return self.report_dir + "/errors"

    @property
    def errors_mode(self) -> str:
        return "overwrite"
