"""Sources as Spark DataFrames of ``(key, image, passthrough...)``; partitioning follows the data."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, StringType, StructField, StructType

from imgpipe import batch as B
from imgpipe.config.sections import FilesSourceConfig, ParquetSourceConfig
from imgpipe.errors import SourceError
from imgpipe.spark import fs


def list_files(spark: SparkSession, cfg: FilesSourceConfig) -> list[tuple[str, int]]:
    """Every matching file as (path, length), sorted so chunks are the same on a resume."""
    try:
        listed = fs.list_files(spark, cfg.path, cfg.recursive)
    except Exception as exc:
        raise SourceError(f"files source {cfg.path!r}: {_first_line(exc)}") from exc
    exts = tuple(f".{e}" for e in cfg.extensions)
    files = sorted((p, n) for p, n in listed if not exts or p.lower().endswith(exts))
    if not files:
        shown = ", ".join(cfg.extensions) or "any"
        raise SourceError(f"files source {cfg.path!r}: no files found (extensions: {shown})")
    return files[: cfg.limit] if cfg.limit else files


def read_files(spark: SparkSession, cfg: FilesSourceConfig, files: list[tuple[str, int]]) -> DataFrame:
    """Spark's ``binaryFile`` reader for the files of one chunk; Spark sizes the splits.

    Zero-length files are added as rows with empty bytes: Spark's scan skips them, and an empty
    upload must show up in ``errors`` rather than vanish.
    """
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(cfg.max_bytes_per_partition))
    paths = [p for p, n in files if n > 0]
    empty = [(p, b"") for p, n in files if n == 0]
    schema = StructType([StructField(B.KEY, StringType()), StructField(B.IMAGE, BinaryType())])
    if not paths:
        return spark.createDataFrame(empty, schema)
    scanned = spark.read.format("binaryFile").load(paths)
    df = scanned.select(F.col("path").alias(B.KEY), F.col("content").alias(B.IMAGE))
    return df.unionByName(spark.createDataFrame(empty, schema).coalesce(1)) if empty else df


def list_parquet_files(spark: SparkSession, cfg: ParquetSourceConfig) -> list[str]:
    try:
        df = spark.read.parquet(*cfg.paths)
    except Exception as exc:
        raise SourceError(f"parquet source {cfg.paths}: {_first_line(exc)}") from exc
    _check_columns(df, cfg)
    return sorted(df.inputFiles())


def read_parquet(spark: SparkSession, cfg: ParquetSourceConfig, files: list[str]) -> DataFrame:
    """``spark.read.parquet``: partitions follow files and row groups, capped by max_bytes_per_partition."""
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(cfg.max_bytes_per_partition))
    df = spark.read.parquet(*files)
    cols = [F.col(cfg.key_column).alias(B.KEY), F.col(cfg.image_column).alias(B.IMAGE)]
    cols += [F.col(name) for name in cfg.passthrough]
    df = df.select(*cols)
    return df.limit(cfg.limit) if cfg.limit else df


def _check_columns(df: DataFrame, cfg: ParquetSourceConfig) -> None:
    have = set(df.columns)
    wanted = [cfg.key_column, cfg.image_column, *cfg.passthrough]
    missing = [c for c in wanted if c not in have]
    if missing:
        raise SourceError(
            f"parquet source {cfg.paths}: expected column(s) {missing}, but the data has {sorted(have)}"
        )
    kind = df.schema[cfg.image_column].dataType
    if not isinstance(kind, BinaryType):
        raise SourceError(
            f"parquet source {cfg.paths}: image column {cfg.image_column!r} must hold bytes (binary), "
            f"but it is {kind.simpleString()}"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
