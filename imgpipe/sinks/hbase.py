"""The HBase sink: results put back per image key (the cell layout is in ``imgpipe.hbase.cells``).

Each chunk is written through ``mapInArrow`` (batched, retried puts in the tasks, each task through its own
gateway when there are several), which emits a narrow ledger (key, status, error...) that Spark's writer
commits per chunk under ``<report_dir>/status``: the counts, the errors dataset and resume all read that
ledger back, never in-flight counters.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from imgpipe import batch as B
from imgpipe import outputs
from imgpipe.config.hbase import HBaseSinkConfig
from imgpipe.config.job import JobConfig
from imgpipe.hbase import cells
from imgpipe.sinks.base import ReportFiles
from imgpipe.spark import fs


class HBaseSink(ReportFiles):
    def __init__(self, cfg: HBaseSinkConfig, job: JobConfig) -> None:
        super().__init__(job.report_dir)
        self.cfg = cfg
        self.status_path = outputs.join(self.report_dir, outputs.STATUS)

    def describe(self) -> str:
        return f"hbase {self.cfg.show_gateways()}/{self.cfg.table} family {self.cfg.family}"

    def prepare(self, spark: SparkSession) -> None:
        cells.prepare(self.cfg)
        fs.delete(spark, self.status_path)

    def write_chunk(self, spark: SparkSession, df: DataFrame, name: str) -> None:
        cfg = self.cfg
        narrow = pa.schema([to_arrow_schema(df.schema).field(c) for c in B.LEDGER])

        def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            context = TaskContext.get()
            task = context.partitionId() if context is not None else 0
            for batch in cells.write_through(cfg, batches, task=task):
                yield batch.select(list(B.LEDGER))

        ledger = df.mapInArrow(write, from_arrow_schema(narrow))
        ledger.write.mode("overwrite").parquet(f"{self.status_path}/{name}")

    def ledger(self, spark: SparkSession, run_id: str) -> DataFrame:
        return spark.read.parquet(self.status_path).filter(F.col(B.RUN_ID) == run_id).select(*B.LEDGER)

    def locations(self) -> dict[str, str]:
        table = f"{self.cfg.show_gateways()}/{self.cfg.table}"
        return {"hbase": table, "errors": self.errors_path, "summary": self.summary_path}
