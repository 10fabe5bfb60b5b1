"""The HBase source: one Spark task per region split, each scanning its key range and running the fused pass.

    plan      region splits from the Thrift gateway (``imgpipe.hbase.splits``), as manifest units
    results   ``spark.range(n)`` gives one task per split; each task scans its split with happybase
              (``imgpipe.hbase.scan``) and feeds the batches straight into the pipeline in the same Python
              worker, so image bytes never cross into the JVM
    gateways  splits, rows and failovers per Thrift gateway, counted by the tasks as they scan

Read parallelism is the number of splits, not the number of model sessions or cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyspark import Accumulator
from pyspark.sql import DataFrame, SparkSession

from imgpipe.config.hbase import HBaseSourceConfig
from imgpipe.config.job import JobConfig
from imgpipe.hbase import gateways as gw
from imgpipe.hbase import scan
from imgpipe.hbase.splits import HBaseSplit, plan_splits
from imgpipe.sources.base import BatchFn, Planned
from imgpipe.spark import counts
from imgpipe.spark.devices import on_task_gpu
from imgpipe.spark.fused import output_type


class HBaseSource:
    unique_keys = True

    def __init__(self, cfg: HBaseSourceConfig, job: JobConfig) -> None:
        self.cfg, self.chunk_size = cfg, job.run.chunk_splits
        # Emit as often as the models consume, so the scanner never races ahead holding a whole region.
        self.batch_rows = job.spark.max_records_per_batch
        self._retries: Accumulator[int] | None = None
        self._gateways: Accumulator[counts.Counts] | None = None

    def describe(self) -> str:
        return f"hbase {self.cfg.show_gateways()}/{self.cfg.table} {self.cfg.column}"

    def plan(self, spark: SparkSession) -> Planned:
        return Planned([split.to_unit() for split in plan_splits(self.cfg)], key_type="binary")

    def results(self, spark: SparkSession, units: list[Any], run: BatchFn) -> tuple[DataFrame, int]:
        cfg, rows = self.cfg, self.batch_rows
        splits = [HBaseSplit.from_unit(u) for u in units]
        if self._retries is None or self._gateways is None:
            self._retries, self._gateways = spark.sparkContext.accumulator(0), counts.counter(spark)
        retries, per_gateway = self._retries, self._gateways

        def scan_and_run(indices: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            def count(exc: BaseException) -> None:
                retries.add(1)

            with on_task_gpu():
                for batch in indices:
                    for index in batch.column(0).to_pylist():
                        tally: counts.Counts = {}
                        batches = scan.read_split(cfg, splits[index], max_batch_rows=rows, on_retry=count, counts=tally)
                        yield from run(batches)
                        per_gateway.add(tally)  # the split is read: its counts are complete

        tasks = spark.range(0, len(splits), 1, numPartitions=max(1, len(splits)))
        return tasks.mapInArrow(scan_and_run, output_type(run, scan.schema(cfg))), len(splits)

    def retries(self) -> int:
        """Thrift calls retried by the scans so far (an accumulator: a re-run task may count twice)."""
        return int(self._retries.value) if self._retries is not None else 0

    def gateways(self) -> dict[str, dict[str, int]]:
        """Splits finished, rows read and failovers away, per configured gateway, in this invocation."""
        tallied = self._gateways.value if self._gateways is not None else {}
        return gw.per_gateway(tallied, self.cfg.gateways)
