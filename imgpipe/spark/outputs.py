"""Each sink as the job sees it: prepare once, write one chunk at a time, then count and list errors.

Counts and errors are read back from committed output (the Parquet results, or a narrow status
dataset for sinks that are not Parquet), so a retried task is never counted twice.
"""

from __future__ import annotations

from typing import Protocol

from pyspark.sql import DataFrame, SparkSession

from imgpipe.config.job import JobConfig
from imgpipe.config.sections import ParquetSinkConfig
from imgpipe.spark import fs, write


class Output(Protocol):
    report_dir: str

    @property
    def summary_path(self) -> str: ...
    @property
    def errors_path(self) -> str: ...
    @property
    def errors_mode(self) -> str: ...
    def describe(self) -> str: ...
    def prepare(self, spark: SparkSession) -> None: ...
    def write_chunk(self, spark: SparkSession, df: DataFrame, name: str) -> None: ...
    def ledger(self, spark: SparkSession, run_id: str) -> DataFrame: ...
    def locations(self) -> dict[str, str]: ...


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


class ParquetOutput(ReportFiles):
    def __init__(self, cfg: ParquetSinkConfig, report_dir: str | None) -> None:
        super().__init__(report_dir or cfg.path)
        self.cfg = cfg
        self.results = write.results_path(cfg)

    def describe(self) -> str:
        return f"parquet {self.cfg.path}"

    def prepare(self, spark: SparkSession) -> None:
        if self.cfg.mode == "overwrite":
            fs.delete(spark, self.results)
            fs.delete(spark, self.errors_path)

    def write_chunk(self, spark: SparkSession, df: DataFrame, name: str) -> None:
        # Overwrite the chunk's own directory: a resumed chunk replaces any partial earlier attempt.
        write.write_results(df, self.cfg, f"{self.results}/{name}", "overwrite")

    def ledger(self, spark: SparkSession, run_id: str) -> DataFrame:
        return write.ledger(spark, self.results, run_id)

    @property
    def errors_mode(self) -> str:
        return self.cfg.mode

    def locations(self) -> dict[str, str]:
        return {"results": self.results, "errors": self.errors_path, "summary": self.summary_path}


def make_output(job: JobConfig) -> Output:
    sink = job.sink
    if isinstance(sink, ParquetSinkConfig):
        return ParquetOutput(sink, job.run.report_dir)
    from imgpipe.spark.hbase import HBaseOutput

    return HBaseOutput(sink, job.run.report_dir)
