"""The Parquet source: encoded image bytes in a Parquet dataset, read with ``spark.read.parquet``.

    plan      the dataset's files, after checking the key, image and passthrough columns exist
    results   spark.read.parquet over one chunk's files (partitions follow row groups, capped by
              max_bytes_per_partition) -> the fused pass
"""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, StructType

from imgpipe import batch as B
from imgpipe.config.job import JobConfig
from imgpipe.config.sections import ParquetSourceConfig
from imgpipe.errors import SourceError, first_line
from imgpipe.sources.base import BatchFn, Planned, fused_results
from imgpipe.spark import fs


def _rows(files: list[str], limit: int | None) -> int | None:
    """Rows in the files from their footers, for local files (a remote filesystem is not worth a round trip)."""
    if not all(f.startswith("file:") for f in files):
        return None
    rows = sum(int(pq.ParquetFile(f[len("file:") :]).metadata.num_rows) for f in files)
    return min(rows, limit) if limit else rows


class ParquetSource:
    unique_keys = False

    def __init__(self, cfg: ParquetSourceConfig, job: JobConfig) -> None:
        # A row limit only makes sense over the whole input, so it is one chunk.
        self.cfg, self.chunk_size = cfg, (1 << 30 if cfg.limit else job.run.chunk_files)
        #: The columns read, with their types as planning found them: a chunk's read then starts no Spark job
        #: of its own to infer them (a job that waits behind the warm-up's tasks). None on --resume.
        self._columns: StructType | None = None

    def describe(self) -> str:
        return f"parquet {', '.join(self.cfg.paths)}"

    def plan(self, spark: SparkSession) -> Planned:
        try:
            df = spark.read.parquet(*self.cfg.paths)
        except Exception as exc:
            raise SourceError(f"parquet source {self.cfg.paths}: {first_line(exc)}") from exc
        self._check_columns(df)
        cfg = self.cfg
        self._columns = StructType([df.schema[c] for c in (cfg.key_column, cfg.image_column, *cfg.passthrough)])
        files = sorted(fs.from_uri(f) for f in df.inputFiles())
        key_type = df.schema[self.cfg.key_column].dataType.simpleString()
        return Planned(files, key_type=key_type, images=_rows(files, self.cfg.limit))

    def results(self, spark: SparkSession, units: list[Any], run: BatchFn) -> tuple[DataFrame, int]:
        return fused_results(self.read(spark, units), run)

    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame:
        cfg = self.cfg
        fs.size_splits(spark, cfg.max_bytes_per_partition)
        cols = [F.col(cfg.key_column).alias(B.KEY), F.col(cfg.image_column).alias(B.IMAGE)]
        cols += [F.col(name) for name in cfg.passthrough]
        reader = spark.read if self._columns is None else spark.read.schema(self._columns)
        df = reader.parquet(*(fs.literal(u) for u in units)).select(*cols)
        return df.limit(cfg.limit) if cfg.limit else df

    def retries(self) -> int:
        return 0

    def gateways(self) -> dict[str, dict[str, int]]:
        return {}

    def _check_columns(self, df: DataFrame) -> None:
        cfg = self.cfg
        have = set(df.columns)
        missing = [c for c in (cfg.key_column, cfg.image_column, *cfg.passthrough) if c not in have]
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
