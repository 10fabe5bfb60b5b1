"""Sources as Spark DataFrames of ``(key, image, passthrough...)``; partitioning follows the data."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType

from imgpipe import batch as B
from imgpipe.config.sections import FilesSourceConfig, ParquetSourceConfig
from imgpipe.errors import SourceError


def read_files(spark: SparkSession, cfg: FilesSourceConfig) -> DataFrame:
    """Spark's ``binaryFile`` reader: any Hadoop filesystem, listing and split sizing done by Spark."""
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(cfg.max_bytes_per_partition))
    reader = spark.read.format("binaryFile").option("recursiveFileLookup", str(cfg.recursive).lower())
    if cfg.extensions:
        reader = reader.option("pathGlobFilter", extension_glob(cfg.extensions))
    try:
        df = reader.load(cfg.path)
    except Exception as exc:
        raise SourceError(f"files source {cfg.path!r}: {_first_line(exc)}") from exc
    df = df.select(F.col("path").alias(B.KEY), F.col("content").alias(B.IMAGE))
    return df.limit(cfg.limit) if cfg.limit else df


def extension_glob(extensions: list[str]) -> str:
    """``*.{[jJ][pP][gG],[pP][nN][gG]}``: Hadoop globs are case-sensitive, file names are not."""
    def nocase(ext: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in ext)

    return "*.{" + ",".join(nocase(e) for e in extensions) + "}"


def read_parquet(spark: SparkSession, cfg: ParquetSourceConfig) -> DataFrame:
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(cfg.max_bytes_per_partition))
    try:
        df = spark.read.parquet(*cfg.paths)
    except Exception as exc:
        raise SourceError(f"parquet source {cfg.paths}: {_first_line(exc)}") from exc
    _check_columns(df, cfg)
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
