"""What every sink gives the job: prepare once, write one chunk at a time, and read back a narrow ledger.

Counts and errors come from that ledger, read back from committed output (the Parquet results, or a status
dataset for sinks that are not Parquet), so a retried task is never counted twice. ``ReportFiles`` is where
the run's own files go: ``summary.json`` and ``errors/`` under the report directory.
"""

from __future__ import annotations

import json
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession

from imgpipe import __version__, outputs
from imgpipe.config import config_error
from imgpipe.spark import fs


class Sink(Protocol):
    report_dir: str

    @property
    def summary_path(self) -> str: ...
    @property
    def errors_path(self) -> str: ...
    @property
    def errors_mode(self) -> str: ...
    def describe(self) -> str: ...

    def claim(self, spark: SparkSession) -> None:
        """Driver, first thing in every run: refuse folders imgpipe did not write (``ConfigError``), mark the rest."""

    def prepare(self, spark: SparkSession) -> None:
        """Driver, once before the first chunk of a fresh run (``mode: overwrite`` replaces imgpipe's output here)."""

    def write_chunk(self, spark: SparkSession, df: DataFrame, name: str) -> None:
        """Write and commit one chunk's results (replacing any earlier attempt at the same chunk)."""

    def ledger(self, spark: SparkSession, run_id: str) -> DataFrame:
        """One ``batch.LEDGER`` row per image of ``run_id``, from what was committed."""

    def locations(self) -> dict[str, str]:
        """What the run wrote, for the report: name -> path or table."""


class ReportFiles:
    """summary.json and errors/ under the report directory, shared by every sink, and the folders it claims."""

    def __init__(self, report_dir: str, *data_dirs: str) -> None:
        self.report_dir = report_dir.rstrip("/")
        #: Every folder the sink writes into: its data folders and the report directory.
        self.roots = list(dict.fromkeys(r.rstrip("/") for r in (*data_dirs, report_dir)))

    @property
    def summary_path(self) -> str:
        return outputs.join(self.report_dir, outputs.SUMMARY)

    @property
    def errors_path(self) -> str:
        return outputs.join(self.report_dir, outputs.ERRORS)

    @property
    def errors_mode(self) -> str:
        return "overwrite"

    def claim(self, spark: SparkSession) -> None:
        """Refuse unless each root is new, holds none of imgpipe's names, or is imgpipe's; then mark each one."""
        problems = [p for root in self.roots for p in outputs.foreign(root, lambda path: fs.list_dir(spark, path))]
        if problems:
            raise config_error("the output", problems)
        marker = json.dumps({"written_by": "imgpipe", "version": __version__})
        for root in self.roots:
            if not outputs.owned(root, lambda path: fs.list_dir(spark, path)):
                fs.write_text(spark, outputs.join(root, outputs.MARKER), marker)
