"""Sources as Spark DataFrames of ``(key, image, passthrough...)``; partitioning follows the data."""

from __future__ import annotations

from pyspark.sql import DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType

from imgpipe import batch as B
from imgpipe.config.sections import FilesSourceConfig, ParquetSourceConfig
from imgpipe.errors import SourceError


def list_files(spark: SparkSession, cfg: FilesSourceConfig) -> list[str]:
    """Every matching file, sorted so chunks are the same on a resume; only paths are read, not content."""
    try:
        listing = _binary_reader(spark, cfg).load(cfg.path).select("path")
        paths = sorted(row[0] for row in listing.collect())
    except Exception as exc:
        raise SourceError(f"files source {cfg.path!r}: {_first_line(exc)}") from exc
    if not paths:
        exts = ", ".join(cfg.extensions) or "any"
        raise SourceError(f"files source {cfg.path!r}: no files found (extensions: {exts})")
    return paths[: cfg.limit] if cfg.limit else paths


def read_files(spark: SparkSession, cfg: FilesSourceConfig, paths: list[str]) -> DataFrame:
    """Spark's ``binaryFile`` reader: any Hadoop filesystem; Spark sizes the splits."""
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(cfg.max_bytes_per_partition))
    df = _binary_reader(spark, cfg).load(paths)
    return df.select(F.col("path").alias(B.KEY), F.col("content").alias(B.IMAGE))


def _binary_reader(spark: SparkSession, cfg: FilesSourceConfig) -> DataFrameReader:
    reader = spark.read.format("binaryFile").option("recursiveFileLookup", str(cfg.recursive).lower())
    if cfg.extensions:
        reader = reader.option("pathGlobFilter", extension_glob(cfg.extensions))
    return reader


def extension_glob(extensions: list[str]) -> str:
    """``*.{[jJ][pP][gG],[pP][nN][gG]}``: Hadoop globs are case-sensitive, file names are not."""

    def nocase(ext: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in ext)

    return "*.{" + ",".join(nocase(e) for e in extensions) + "}"


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
