"""The report phase: duplicate keys and the errors dataset, read back from the committed ledger.

Reading back what was committed is what keeps a retried task's rows from appearing twice.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imgpipe import batch as B


def duplicate_keys(rows: DataFrame) -> DataFrame:
    """Keys seen more than once in the input: each row was processed, but a key should name one image."""
    dups = rows.groupBy(B.KEY).count().filter(F.col("count") > 1)
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
