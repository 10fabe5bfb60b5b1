"""HBase as the job sees it: splits planned on the driver, scanned and written back in the executors.

Read parallelism is the number of splits (one Spark task each, from ``spark.range(n, numPartitions=n)``),
not the number of model sessions or cores. The sink writes through ``mapInArrow`` and emits a narrow
ledger (key, status, error...) that Spark's writer commits per chunk: the counts, the errors dataset
and resume all read that ledger back, never in-flight counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from imgpipe import batch as B
from imgpipe.config.hbase import HBaseSinkConfig, HBaseSourceConfig
from imgpipe.sinks import hbase as sink
from imgpipe.sources import hbase as source
from imgpipe.pipeline import Pipeline
from imgpipe.spark import fs
from imgpipe.spark.fused import output_type
from imgpipe.spark.outputs import ReportFiles

LEDGER = (B.KEY, B.STATUS, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR, B.RUN_ID)


class HBaseInput:
    unique_keys = True

    def __init__(self, cfg: HBaseSourceConfig, chunk_size: int) -> None:
        self.cfg, self.chunk_size = cfg, chunk_size
        self._retries: Any = None

    def retries(self) -> int:
        """Thrift calls retried by the scans so far (an accumulator: a re-run task may count twice)."""
        return int(self._retries.value) if self._retries is not None else 0

    def describe(self) -> str:
        return f"hbase {self.cfg.host}:{self.cfg.port}/{self.cfg.table} {self.cfg.column}"

    def plan(self, spark: SparkSession) -> list[Any]:
        return [split.to_unit() for split in source.plan_splits(self.cfg)]

    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame:
        """The image cells alone, one task per split."""
        return self._scan(spark, units, None)

    def results(self, spark: SparkSession, units: list[Any], pipeline: Pipeline) -> tuple[DataFrame, int]:
        """Scan and run the fused pass in the same Python task: image bytes never cross into the JVM."""
        return self._scan(spark, units, pipeline), len(units)

    def _scan(self, spark: SparkSession, units: list[Any], pipeline: Pipeline | None) -> DataFrame:
        cfg = self.cfg
        splits = [source.HBaseSplit.from_unit(u) for u in units]
        # Emit as often as the models consume, so the scanner never races ahead holding a whole region.
        rows = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") or 32)
        if self._retries is None:
            self._retries = spark.sparkContext.accumulator(0)
        retries = self._retries

        def scan(indices: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            def count(exc: BaseException) -> None:
                retries.add(1)

            for batch in indices:
                for index in batch.column(0).to_pylist():
                    scanned = source.read_split(cfg, splits[index], max_batch_rows=rows, on_retry=count)
                    yield from (pipeline(scanned) if pipeline is not None else scanned)

        schema = source.schema(cfg)
        tasks = spark.range(0, len(splits), 1, numPartitions=max(1, len(splits)))
        return tasks.mapInArrow(scan, output_type(pipeline, schema) if pipeline else from_arrow_schema(schema))


class HBaseOutput(ReportFiles):
    def __init__(self, cfg: HBaseSinkConfig, report_dir: str | None) -> None:
        super().__init__(report_dir or f"./imgpipe-runs/{cfg.table}")
        self.cfg = cfg
        self.status_path = self.report_dir + "/status"

    def describe(self) -> str:
        return f"hbase {self.cfg.host}:{self.cfg.port}/{self.cfg.table} family {self.cfg.family}"

    def prepare(self, spark: SparkSession) -> None:
        sink.prepare(self.cfg)
        fs.delete(spark, self.status_path)

    def write_chunk(self, spark: SparkSession, df: DataFrame, name: str) -> None:
        cfg = self.cfg
        narrow = pa.schema([to_arrow_schema(df.schema).field(c) for c in LEDGER])

        def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in sink.write_through(cfg, batches):
                yield batch.select(list(LEDGER))

        ledger = df.mapInArrow(write, from_arrow_schema(narrow))
        ledger.write.mode("overwrite").parquet(f"{self.status_path}/{name}")

    def ledger(self, spark: SparkSession, run_id: str) -> DataFrame:
        return spark.read.parquet(self.status_path).filter(F.col(B.RUN_ID) == run_id).select(*LEDGER)

    def locations(self) -> dict[str, str]:
        table = f"{self.cfg.host}:{self.cfg.port}/{self.cfg.table}"
        return {"hbase": table, "errors": self.errors_path, "summary": self.summary_path}
