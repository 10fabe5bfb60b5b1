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
from imgpipe.config.sections import ParquetSinkConfig

OBJECT_INDEX = "object_index"
OBJECT = "object"


def results_path(cfg: ParquetSinkConfig) -> str:
    return cfg.path.rstrip("/") + "/results"


def explode_objects(df: DataFrame) -> DataFrame:
    """One row per object; an image without objects (or failed) keeps one row with null object fields."""
    if B.OBJECTS not in df.columns:
        return df
    rest = [F.col(c) for c in df.columns if c != B.OBJECTS]
    exploded = df.select(*rest, F.posexplode_outer(B.OBJECTS).alias(OBJECT_INDEX, OBJECT))
    fields = exploded.schema[OBJECT].dataType.fieldNames()  # type: ignore[attr-defined]
    return exploded.select(*rest, OBJECT_INDEX, *[F.col(f"{OBJECT}.{f}").alias(f) for f in fields])


def write_results(df: DataFrame, cfg: ParquetSinkConfig, path: str, mode: str) -> None:
    out = explode_objects(df) if cfg.explode else df
    writer = out.write.mode(mode)
    if cfg.partition_by:
        writer = writer.partitionBy(*cfg.partition_by)
    writer.parquet(path)


def one_row_per_image(df: DataFrame) -> DataFrame:
    if OBJECT_INDEX in df.columns:
        return df.filter(F.col(OBJECT_INDEX).isNull() | (F.col(OBJECT_INDEX) == 0))
    return df


def ledger(spark: SparkSession, path: str, run_id: str) -> DataFrame:
    """One narrow row per image of this run, read back from what was committed (never counted in flight)."""
    df = one_row_per_image(spark.read.parquet(path)).filter(F.col(B.RUN_ID) == run_id)
    return df.select(B.KEY, B.STATUS, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR, B.RUN_ID)


def status_counts(rows: DataFrame) -> dict[tuple[str, str | None], int]:
    counted = rows.groupBy(B.STATUS, B.ERROR_REASON).count().collect()
    return {(r[B.STATUS], r[B.ERROR_REASON]): int(r["count"]) for r in counted}


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
