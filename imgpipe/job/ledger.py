"""The report phase: the errors dataset and duplicate keys.

Usually from what the tasks brought back with their counts (``imgpipe.job.tally``): no second pass. Read back
from the committed ledger when that is not enough: a resumed run (earlier chunks' errors are on disk only), a
task with more failed rows than it carries, or keys that repeat.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import _parse_datatype_string

from imgpipe import batch as B
from imgpipe import outputs
from imgpipe.job.tally import Tally
from imgpipe.spark import fs

#: Failed rows the driver writes from memory; more than this and they are read back instead.
MAX_COLLECTED_ERRORS = 100_000


def collected_errors(collected: Tally, unique_keys: bool) -> list[tuple[Any, ...]] | None:
    """The run's failed rows as the tasks brought them, or None when they must be read back."""
    if collected.errors_dropped or len(collected.errors) > MAX_COLLECTED_ERRORS:
        return None
    if not unique_keys and (collected.key_hashes is None or any(n > 1 for n in Counter(collected.key_hashes).values())):
        return None  # a key may repeat: find which, and how often, from what was committed
    return collected.errors


def write_rows(spark: SparkSession, rows: list[tuple[Any, ...]], key_type: str, path: str, run_id: str, mode: str) -> None:
    """The errors dataset from rows in memory (possibly none: then an empty dataset says so).

    One Parquet file written through the Hadoop filesystem, as Spark's writer lays a dataset out (part file and
    ``_SUCCESS``), but without a Spark job: on a small batch run that job would cost more than the run's report.
    """
    key = to_arrow_type(_parse_datatype_string(key_type))
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    table = pa.table(
        [pa.array(columns[0], key), *(pa.array(c, pa.string()) for c in columns[1:]), pa.array([run_id] * len(rows))],
        names=[B.KEY, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR, B.RUN_ID],
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    if mode != "append":
        fs.delete(spark, path)
    fs.write_bytes(spark, outputs.join(path, f"part-00000-{run_id}.snappy.parquet"), buffer.getvalue())
    fs.write_bytes(spark, outputs.join(path, "_SUCCESS"), b"")


def duplicate_keys(rows: DataFrame) -> DataFrame:
    """Keys seen more than once in the input: each row was processed, but a key should name one image. Rows without
    a key are ``no_key`` errors already, not repeats of one another."""
    dups = rows.filter(F.col(B.KEY).isNotNull()).groupBy(B.KEY).count().filter(F.col("count") > 1)
    return dups.select(
        B.KEY,
        F.lit("source").alias(B.ERROR_STAGE),
        F.lit(B.REASON_DUPLICATE_KEY).alias(B.ERROR_REASON),
        F.concat(F.lit("key appears "), F.col("count").cast("string"), F.lit(" times in the input")).alias(B.ERROR),
    )


def write_errors(rows: DataFrame, duplicates: DataFrame | None, path: str, run_id: str, mode: str) -> None:
    errors = rows.filter(F.col(B.STATUS) == B.STATUS_ERROR).select(B.KEY, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR)
    if duplicates is not None:
        errors = errors.unionByName(duplicates)
    errors = errors.withColumn(B.RUN_ID, F.lit(run_id))
    errors.coalesce(1).write.mode("append" if mode == "append" else "overwrite").parquet(path)
