"""The Parquet source: encoded image bytes in a Parquet dataset, read with ``spark.read.parquet``.

    plan      the dataset's files, after checking the key, image and passthrough columns exist (their types
              from the first file's footer when the files are local, and every other footer checked to agree;
              else from Spark's inference)
    results   spark.read.parquet over one chunk's files (splits of max_bytes_per_partition at most, but no
              smaller than the largest row group, which no split cuts) -> the fused pass
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
)

from imgpipe import batch as B
from imgpipe.config.job import JobConfig
from imgpipe.config.sections import ParquetSourceConfig
from imgpipe.errors import SourceError, first_line
from imgpipe.locations import local_path
from imgpipe.sources.base import BatchFn, Planned, fused_results
from imgpipe.spark import fs


#: Arrow types whose Spark type is one and the same whichever reader looks at the file; a column of any other
#: type (timestamps, decimals, unsigned, nested) sends planning back to Spark's own schema inference.
_SPARK_TYPES: dict[pa.DataType, DataType] = {
    pa.binary(): BinaryType(), pa.large_binary(): BinaryType(), pa.string(): StringType(),
    pa.large_string(): StringType(), pa.int8(): ByteType(), pa.int16(): ShortType(), pa.int32(): IntegerType(),
    pa.int64(): LongType(), pa.float32(): FloatType(), pa.float64(): DoubleType(), pa.bool_(): BooleanType(),
    pa.date32(): DateType(),
}  # fmt: skip
#: A placeholder schema: with one given, ``spark.read.parquet`` lists the files without inferring anything.
_LISTING = StructType([StructField("_", BinaryType())])


def _local(files: list[str]) -> list[str] | None:
    """The files as local paths, or None when any is on another filesystem (not worth a round trip each)."""
    if not files or not all(f.startswith("file:") for f in files):
        return None
    return [local_path(f) for f in files]


def _footer_columns(spark: SparkSession, footer: pq.FileMetaData, wanted: list[str]) -> StructType | None:
    """The wanted columns' Spark types from the first file's footer, as Spark's inference (which also reads
    one footer, but in a Spark job) would give them; None where only Spark can tell."""
    if str(spark.conf.get("spark.sql.parquet.binaryAsString", "false")).lower() == "true":
        return None
    schema = footer.schema.to_arrow_schema()
    if not all(name in schema.names for name in wanted):
        return None  # a partition column, or really missing: Spark's inference tells which
    fields = []
    for name in wanted:
        kind = _SPARK_TYPES.get(schema.field(name).type)
        if kind is None:
            return None
        fields.append(StructField(name, kind, True))
    return StructType(fields)


#: A planned type -> the narrower numbers in a file that Spark's Parquet reader widens to it.
_WIDENS: dict[type[DataType], tuple[type[DataType], ...]] = {
    LongType: (ByteType, ShortType, IntegerType), IntegerType: (ByteType, ShortType), ShortType: (ByteType,),
    DoubleType: (FloatType,),
}


def _reads_as(kind: DataType | None, planned: DataType) -> bool:
    return kind is not None and (kind == planned or type(kind) in _WIDENS.get(type(planned), ()))


def _footer(path: str) -> pq.FileMetaData:
    try:
        return pq.read_metadata(path)
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(
            f"parquet source: {path} is not a readable Parquet file ({first_line(exc)}); "
            "repair it or move it out of the source folder"
        ) from exc


def _layout(path: str, footer: pq.FileMetaData) -> tuple[int, int]:
    """A file's bytes and its largest row group's (uncompressed: an upper bound; image bytes do not compress)."""
    groups = (footer.row_group(i).total_byte_size for i in range(footer.num_row_groups))
    return os.path.getsize(path), max(groups, default=0)


class ParquetSource:
    unique_keys = False

    def __init__(self, cfg: ParquetSourceConfig, job: JobConfig) -> None:
        # A row limit only makes sense over the whole input, so it is one chunk.
        self.cfg, self.chunk_size = cfg, (1 << 30 if cfg.limit else job.run.chunk_files)
        #: The columns read, with their types as planning found them: a chunk's read then starts no Spark job
        #: of its own to infer them (a job that waits behind the warm-up's tasks). None on --resume.
        self._columns: StructType | None = None
        #: Each local file's bytes and largest row group (from the footers planning reads), to size the splits.
        self._files: dict[str, tuple[int, int]] = {}

    def describe(self) -> str:
        return f"parquet {', '.join(self.cfg.paths)}"

    def plan(self, spark: SparkSession) -> Planned:
        """The files, and the columns' types: from the footers when the files are local (no Spark job, so
        nothing waits behind the warm-up's tasks), else from Spark's inference."""
        cfg = self.cfg
        wanted = [cfg.key_column, cfg.image_column, *cfg.passthrough]
        try:
            files = sorted(fs.from_uri(f) for f in spark.read.schema(_LISTING).parquet(*cfg.paths).inputFiles())
            if not files:  # else Spark's inference fails with "Unable to infer schema ... specified manually"
                raise SourceError(
                    f"parquet source {cfg.paths}: no Parquet files found (names starting with '_' or '.' are "
                    "skipped, as Spark skips them); check source.path"
                )
            local = _local(files)
            footers = [_footer(f) for f in local] if local else []
            if local:
                self._files = {f: _layout(path, footer) for f, path, footer in zip(files, local, footers, strict=True)}
            columns = _footer_columns(spark, footers[0], wanted) if footers else None
            if columns is None:
                columns = self._inferred(spark, wanted)
            else:
                self._check_agreement(local or [], footers, columns)
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"parquet source {cfg.paths}: {first_line(exc)}") from exc
        self._check_image_type(columns)
        self._columns = columns
        rows = sum(f.num_rows for f in footers) if footers else None
        images = min(rows, cfg.limit) if rows is not None and cfg.limit else rows
        return Planned(files, key_type=columns[cfg.key_column].dataType.simpleString(), images=images)

    def results(self, spark: SparkSession, units: list[Any], run: BatchFn) -> tuple[DataFrame, int]:
        return fused_results(self.read(spark, units), run)

    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame:
        cfg = self.cfg
        fs.size_splits(spark, cfg.max_bytes_per_partition, self._layout_of(units))
        cols = [F.col(cfg.key_column).alias(B.KEY), F.col(cfg.image_column).alias(B.IMAGE)]
        cols += [F.col(name) for name in cfg.passthrough]
        reader = spark.read if self._columns is None else spark.read.schema(self._columns)
        df = reader.parquet(*(fs.literal(u) for u in units)).select(*cols)
        return df.limit(cfg.limit) if cfg.limit else df

    def _layout_of(self, units: list[Any]) -> fs.FileLayout | None:
        """The chunk's files and largest row group, or None when a file is not local. A resumed run did not
        plan: it reads the chunk's footers here."""
        missing = [u for u in units if u not in self._files]
        if missing:
            local = _local(missing)
            if local is None:
                return None
            self._files.update((u, _layout(path, _footer(path))) for u, path in zip(missing, local, strict=True))
        layouts = [self._files[u] for u in units]
        largest = max((part for _, part in layouts), default=0)
        return fs.FileLayout(len(layouts), sum(size for size, _ in layouts), largest)

    def retries(self) -> int:
        return 0

    def gateways(self) -> dict[str, dict[str, int]]:
        return {}

    def _inferred(self, spark: SparkSession, wanted: list[str]) -> StructType:
        """The wanted columns as Spark infers them (a one-task job reading a footer), checked to exist."""
        df = spark.read.parquet(*self.cfg.paths)
        have = set(df.columns)
        missing = [c for c in wanted if c not in have]
        if missing:
            raise SourceError(
                f"parquet source {self.cfg.paths}: expected column(s) {missing}, but the data has {sorted(have)}"
            )
        return StructType([df.schema[c] for c in wanted])

    def _check_agreement(self, paths: list[str], footers: list[pq.FileMetaData], columns: StructType) -> None:
        """Every file holds the columns the first one does, as types Spark reads as planned. Else the first task
        reading a disagreeing file fails the run (Spark's "data type mismatch"), or a missing column is read as
        nulls: a file without the image column would give each of its rows as an image-less error."""
        odd = []
        for file, footer in zip(paths[1:], footers[1:]):
            schema = footer.schema.to_arrow_schema()
            for field in columns:
                if field.name not in schema.names:
                    odd.append(f"{file}: no column {field.name!r}")
                    continue
                kind = schema.field(field.name).type
                if not _reads_as(_SPARK_TYPES.get(kind), field.dataType):
                    odd.append(f"{file}: {field.name!r} is {kind}")
        if odd:
            more = f"; and {len(odd) - 5} more" if len(odd) > 5 else ""
            planned = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in columns)
            raise SourceError(
                f"parquet source {self.cfg.paths}: {len(odd)} column(s) of other files differ from the first file, "
                f"{paths[0]} ({planned}): {'; '.join(odd[:5])}{more}. Rewrite those files with the same columns "
                "and types as the first file, or move them out of the source"
            )

    def _check_image_type(self, columns: StructType) -> None:
        cfg = self.cfg
        kind = columns[cfg.image_column].dataType
        if not isinstance(kind, BinaryType):
            raise SourceError(
                f"parquet source {cfg.paths}: image column {cfg.image_column!r} must hold bytes (binary), "
                f"but it is {kind.simpleString()}"
            )
