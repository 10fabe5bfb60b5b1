"""Counts the tasks keep while they run the pass, collected with the write instead of by a second pass.

Each chunk gets a fresh accumulator; every task adds its counts once its rows are done. Spark applies the
updates of successful tasks only, so a retried task is counted once, and the driver reads the chunk's counts
right after its commit. Keys: ``ok`` and ``error:<reason>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark import Accumulator

from imgpipe import batch as B
from imgpipe.pipeline import Pipeline
from imgpipe.spark.counts import Counts as Counts
from imgpipe.spark.counts import add as add
from imgpipe.spark.counts import counter as counter


@dataclass(frozen=True)
class Tallied:
    """The pipeline, counting each output row's status and reason into ``counts`` (a ``BatchFn``)."""

    pipeline: Pipeline
    counts: Accumulator[Counts]

    def output_schema(self, input_schema: pa.Schema) -> pa.Schema:
        return self.pipeline.output_schema(input_schema)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        tally: Counts = {}
        for out in self.pipeline(batches):
            statuses = out.column(B.STATUS).to_pylist()
            reasons = out.column(B.ERROR_REASON).to_pylist()
            for status, reason in zip(statuses, reasons, strict=True):
                key = B.STATUS_OK if status == B.STATUS_OK else f"error:{reason}"
                tally[key] = tally.get(key, 0) + 1
            yield out
        self.counts.add(tally)
