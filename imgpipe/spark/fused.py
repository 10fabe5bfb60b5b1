"""The fused pass as a Spark operator: one ``mapInArrow`` that decodes, detects, crops and embeds.

Only encoded bytes go in and small results (boxes, vectors) come out; decoded pixels never cross into
the JVM. Sources that scan in Python (HBase) call the pass inside their own scan task instead, with
``output_type`` for its schema, so the image bytes do not cross into the JVM either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

from imgpipe.spark.devices import on_task_gpu


class BatchFn(Protocol):
    """What runs in each task: ``imgpipe.pipeline.Pipeline``, or the job's wrapper that also keeps counts."""

    def output_schema(self, input_schema: pa.Schema) -> pa.Schema: ...
    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]: ...


def output_type(run: BatchFn, input_schema: pa.Schema) -> StructType:
    return from_arrow_schema(run.output_schema(input_schema))


def fused_pass(df: DataFrame, run: BatchFn) -> DataFrame:
    """``df`` (key, image, passthrough...) -> results, one row per input row."""

    def run_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with on_task_gpu():
            yield from run(batches)

    return df.mapInArrow(run_partition, output_type(run, to_arrow_schema(df.schema)))
