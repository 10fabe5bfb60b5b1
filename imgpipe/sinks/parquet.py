"""The Parquet sink: Spark's DataFrame writer, whose commit protocol makes output atomic and retries safe.

Layout under ``sink.path``::

    results/chunk=<run_id>-NNNNN/   one row per image (or per object with ``explode: true``), each chunk
                                    committed on its own, partitioned further by ``partition_by``
    errors/                         key, error_stage, error_reason, error, run_id of every failed image
    summary.json
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from imgpipe import batch as B
from imgpipe import outputs
from imgpipe.config import config_error
from imgpipe.config.job import JobConfig
from imgpipe.config.sections import ParquetSinkConfig
from imgpipe.sinks.base import ReportFiles
from imgpipe.spark import fs

OBJECT = "object"


class ParquetSink(ReportFiles):
    def __init__(self, cfg: ParquetSinkConfig, job: JobConfig) -> None:
        super().__init__(job.report_dir, cfg.path)
        self.cfg = cfg
        self.results = outputs.join(cfg.path, outputs.RESULTS)

    def describe(self) -> str:
        return f"parquet {self.cfg.path}"

    def prepare(self, spark: SparkSession) -> None:
        """``overwrite`` replaces imgpipe's earlier results and errors (``claim`` has checked they are imgpipe's)."""
        if self.cfg.mode == "error" and fs.exists(spark, self.results):
            raise config_error("sink", [f"{self.results} already exists; use mode: overwrite or append"])
        if self.cfg.mode == "overwrite":
            fs.delete(spark, self.results)
            fs.delete(spark, self.errors_path)

    def write_chunk(self, spark: SparkSession, df: DataFrame, name: str) -> None:
        # Overwrite the chunk's own directory: a resumed chunk replaces any partial earlier attempt.
        out = explode_objects(df) if self.cfg.explode else df
        writer = out.write.mode("overwrite")
        if self.cfg.partition_by:
            writer = writer.partitionBy(*self.cfg.partition_by)
        writer.parquet(f"{self.results}/{name}")

    def ledger(self, spark: SparkSession, run_id: str) -> DataFrame:
        df = one_row_per_image(spark.read.parquet(self.results)).filter(F.col(B.RUN_ID) == run_id)
        return df.select(*B.LEDGER)

    @property
    def errors_mode(self) -> str:
        return self.cfg.mode

    def locations(self) -> dict[str, str]:
        return {"results": self.results, "errors": self.errors_path, "summary": self.summary_path}


def explode_objects(df: DataFrame) -> DataFrame:
    """One row per object; an image without objects (or failed) keeps one row with null object fields."""
    if B.OBJECTS not in df.columns:
        return df
    rest = [F.col(c) for c in df.columns if c != B.OBJECTS]
    exploded = df.select(*rest, F.posexplode_outer(B.OBJECTS).alias(B.OBJECT_INDEX, OBJECT))
    fields = exploded.schema[OBJECT].dataType.fieldNames()  # type: ignore[attr-defined]
    return exploded.select(*rest, B.OBJECT_INDEX, *[F.col(f"{OBJECT}.{f}").alias(f) for f in fields])


def one_row_per_image(df: DataFrame) -> DataFrame:
    if B.OBJECT_INDEX in df.columns:
        return df.filter(F.col(B.OBJECT_INDEX).isNull() | (F.col(B.OBJECT_INDEX) == 0))
    return df
