"""The fused pass as a Spark operator: one ``mapInArrow`` that decodes, detects, crops and embeds.

Only encoded bytes go in and small results (boxes, vectors) come out; decoded pixels never cross into
the JVM. Sources that scan in Python (HBase) call the pipeline inside their own scan task instead, with
``output_type`` for its schema, so the image bytes do not cross into the JVM either.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

from imgpipe.pipeline import Pipeline


def output_type(pipeline: Pipeline, input_schema: pa.Schema) -> StructType:
    return from_arrow_schema(pipeline.output_schema(input_schema))


def fused_pass(df: DataFrame, pipeline: Pipeline) -> DataFrame:
    """``df`` (key, image, passthrough...) -> results, one row per input row."""

    def run_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return pipeline(batches)

    return df.mapInArrow(run_partition, output_type(pipeline, to_arrow_schema(df.schema)))
