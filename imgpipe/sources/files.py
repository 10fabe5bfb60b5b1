"""The files source: image files in a folder or glob on any Hadoop filesystem, read with Spark's ``binaryFile``.

    plan      every file under the path (zero-length ones included), by extension, sorted so a resumed run reads
              the same chunks; local folders are walked here so that dangling symlinks, unreadable files and
              FIFOs become error rows (Hadoop's local listing drops them without a word)
    results   binaryFile over one chunk's files (Spark sizes the splits) -> the fused pass

Every listed file ends as a row: read, empty (``empty``) or not readable (``unreadable``, with the reason).
File names are passed to Spark escaped, so ``shot[1].jpg`` or ``a{b}.jpg`` are files, not glob patterns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, StringType, StructField, StructType

from imgpipe import batch as B
from imgpipe.config.job import JobConfig
from imgpipe.config.sections import FilesSourceConfig
from imgpipe.errors import SourceError, first_line
from imgpipe.locations import local_path
from imgpipe.sources.base import BatchFn, Planned, fused_results
from imgpipe.spark import fs

#: (path, length, why it cannot be read or None)
Listed = tuple[str, int, str | None]
_SCHEMA = StructType(
    [StructField(B.KEY, StringType()), StructField(B.IMAGE, BinaryType()), StructField(B.READ_ERROR, StringType())]
)


class FilesSource:
    unique_keys = True

    def __init__(self, cfg: FilesSourceConfig, job: JobConfig) -> None:
        self.cfg, self.chunk_size = cfg, job.run.chunk_files

    def describe(self) -> str:
        return f"files {self.cfg.path}"

    def plan(self, spark: SparkSession) -> Planned:
        """Every file with a wanted extension as [path, length] (or [path, length, reason] when unreadable)."""
        cfg = self.cfg
        try:
            listed = list(_list(spark, cfg.path, cfg.recursive))
        except Exception as exc:
            raise SourceError(f"files source {cfg.path!r}: {first_line(exc)}") from exc
        exts = tuple(f".{e}" for e in cfg.extensions)
        wanted = sorted(item for item in listed if not exts or item[0].lower().endswith(exts))
        if not wanted:
            shown = ", ".join(cfg.extensions) or "any"
            raise SourceError(f"files source {cfg.path!r}: no files found (extensions: {shown})")
        units = [[p, n] if why is None else [p, n, why] for p, n, why in wanted][: cfg.limit or None]
        return Planned(units, skipped=len(listed) - len(wanted), images=len(units))

    def results(self, spark: SparkSession, units: list[Any], run: BatchFn) -> tuple[DataFrame, int]:
        return fused_results(self.read(spark, units), run)

    def read(self, spark: SparkSession, units: list[Any]) -> DataFrame:
        """(key, image, read_error) for the chunk: ``binaryFile`` rows, plus rows Spark's scan cannot give.

        Zero-length files come as empty bytes (Spark's scan skips them, and an empty upload must show up in
        ``errors`` rather than vanish); unreadable files, and files gone since listing, come with a reason.
        """
        fs.size_splits(spark, self.cfg.max_bytes_per_partition)
        paths = [u[0] for u in units if len(u) == 2 and u[1] > 0]
        extra: list[tuple[str, bytes | None, str | None]] = [(u[0], b"", None) for u in units if len(u) == 2 and u[1] == 0]
        extra += [(u[0], None, u[2]) for u in units if len(u) == 3]
        scanned, gone = _scan(spark, paths)
        extra += [(p, None, "the file disappeared after it was listed") for p in gone]
        if scanned is None:
            return spark.createDataFrame(extra, _SCHEMA)
        return scanned.unionByName(spark.createDataFrame(extra, _SCHEMA).coalesce(1)) if extra else scanned

    def retries(self) -> int:
        return 0  # Spark's file reader retries by itself and does not count

    def gateways(self) -> dict[str, dict[str, int]]:
        return {}


def _scan(spark: SparkSession, paths: list[str]) -> tuple[DataFrame | None, list[str]]:
    """binaryFile over ``paths``; files deleted since listing are left out and returned, never silently dropped."""
    gone: list[str] = []
    while paths:
        try:
            reader = spark.read.format("binaryFile").option("ignoreMissingFiles", "false")
            df = reader.load([fs.literal(p) for p in paths])
            no_error = F.lit(None).cast("string").alias(B.READ_ERROR)
            return df.select(F.col("path").alias(B.KEY), F.col("content").alias(B.IMAGE), no_error), gone
        except AnalysisException as exc:
            missing = [p for p in paths if not fs.exists(spark, p)]
            if not missing or "PATH_NOT_FOUND" not in str(exc):
                raise
            gone += missing
            paths = [p for p in paths if p not in set(missing)]
    return None, gone


def _list(spark: SparkSession, pattern: str, recursive: bool) -> Iterator[Listed]:
    """Every file under ``pattern`` (a folder, file or glob), hidden names (``_``, ``.``) skipped as Spark does."""
    for path, is_dir, length in fs.glob(spark, pattern):
        if not is_dir:
            yield path, length, None
        elif path.startswith("file:"):
            yield from _walk_local(path, recursive)
        else:
            yield from ((p, n, None) for p, n in fs.walk(spark, path, recursive))


def _walk_local(folder: str, recursive: bool) -> Iterator[Listed]:
    """A local folder walked with the OS, which, unlike Hadoop's listing, shows what cannot be read."""
    root = local_path(folder)
    pending, seen = [root], set()
    while pending:
        current = pending.pop()
        real = os.path.realpath(current)
        if real in seen:  # a symlink loop
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            if current == root:
                raise
            yield "file:" + current, 0, f"cannot list this folder: {exc.strerror}"
            continue
        for entry in entries:
            if fs.hidden(entry.name):
                continue
            if entry.is_dir():
                if recursive:
                    pending.append(entry.path)
                continue
            yield _local_file(entry)


def _local_file(entry: os.DirEntry[str]) -> Listed:
    key = "file:" + entry.path
    if entry.is_file():
        if not os.access(entry.path, os.R_OK):
            return key, 0, "permission denied"
        return key, entry.stat().st_size, None
    if entry.is_symlink():
        return key, 0, f"dangling symlink (points to {os.readlink(entry.path)!r}, which does not exist)"
    return key, 0, "not a regular file (a FIFO, socket or device)"
