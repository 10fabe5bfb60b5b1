"""Small Hadoop FileSystem helpers, so reports and checks work on HDFS/S3 as well as local paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pyspark.sql import SparkSession


def _fs_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return hpath.getFileSystem(conf), hpath


def delete(spark: SparkSession, path: str) -> None:
    fs, hpath = _fs_path(spark, path)
    if fs.exists(hpath):
        fs.delete(hpath, True)


def write_text(spark: SparkSession, path: str, text: str) -> None:
    write_bytes(spark, path, text.encode("utf-8"))


def write_bytes(spark: SparkSession, path: str, data: bytes) -> None:
    """Write via a temporary name and rename, so a reader never sees half a file."""
    fs, hpath = _fs_path(spark, path)
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    tmp = jvm.org.apache.hadoop.fs.Path(path + ".tmp")
    stream = fs.create(tmp, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()
    if fs.exists(hpath):
        fs.delete(hpath, False)
    fs.rename(tmp, hpath)


def read_text(spark: SparkSession, path: str) -> str | None:
    """The text of ``path``, or None if it does not exist.

    ``write_text`` closes ``<path>.tmp`` before it deletes ``path``, so when only the ``.tmp`` is there the
    writer died between its delete and its rename, and the ``.tmp`` is the complete, latest version.
    """
    fs, hpath = _fs_path(spark, path)
    if not fs.exists(hpath):
        hpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path + ".tmp")  # type: ignore[union-attr]
        if not fs.exists(hpath):
            return None
    stream = fs.open(hpath)
    try:
        reader = spark.sparkContext._jvm.java.io.BufferedReader(  # type: ignore[union-attr]
            spark.sparkContext._jvm.java.io.InputStreamReader(stream, "UTF-8")  # type: ignore[union-attr]
        )
        lines = []
        line = reader.readLine()
        while line is not None:
            lines.append(line)
            line = reader.readLine()
        return "\n".join(lines)
    finally:
        stream.close()


def exists(spark: SparkSession, path: str) -> bool:
    fs, hpath = _fs_path(spark, path)
    return bool(fs.exists(hpath))


def list_dir(spark: SparkSession, path: str) -> list[tuple[str, bool]] | None:
    """(name, is_dir) of each entry of a folder, or None when it is absent (``imgpipe.outputs.ListDir``)."""
    fs, hpath = _fs_path(spark, path)
    if not fs.exists(hpath) or not fs.getFileStatus(hpath).isDirectory():
        return None
    return [(s.getPath().getName(), bool(s.isDirectory())) for s in fs.listStatus(hpath)]


def glob(spark: SparkSession, pattern: str) -> list[tuple[str, bool, int]]:
    """(path, is_dir, length) of what a path or Hadoop glob names; [] when nothing matches."""
    fs, hpath = _fs_path(spark, pattern)
    matched = fs.globStatus(hpath) or []
    return [
        (s.getPath().toString(), bool(s.isDirectory()), int(s.getLen()))
        for s in matched
        if s.isDirectory() or not hidden(s.getPath().getName())
    ]


def walk(spark: SparkSession, folder: str, recursive: bool) -> list[tuple[str, int]]:
    """(path, length) of every file in ``folder`` through the Hadoop FileSystem, zero-length ones included.

    Spark's own file scan silently drops zero-length files, so a source that must account for every input
    lists them here, as Spark would (hidden ``_``/``.`` names skipped), and reads them itself.
    """
    fs, hpath = _fs_path(spark, folder)
    return _walk(fs, hpath, recursive)


def _walk(fs: Any, directory: Any, recursive: bool) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for status in fs.listStatus(directory):
        name = status.getPath().getName()
        if hidden(name):
            continue
        if status.isDirectory():
            if recursive:
                out.extend(_walk(fs, status.getPath(), recursive))
        else:
            out.append((status.getPath().toString(), int(status.getLen())))
    return out


def hidden(name: str) -> bool:
    """Names Spark's readers skip: ``_x`` and ``.x`` (but not ``_=x`` partition values)."""
    return name.startswith(("_", ".")) and not name.startswith("_=")


_GLOB_CHARS = frozenset("\\[]{}*?,")


def literal(path: str) -> str:
    """``path`` with Hadoop glob characters escaped, so a reader takes that one file and never expands a pattern."""
    return "".join("\\" + c if c in _GLOB_CHARS else c for c in path)


def from_uri(uri: str) -> str:
    """A path as Hadoop's ``Path(String)`` takes it, from the URI form Spark's ``inputFiles()`` gives (%-escaped)."""
    return unquote(uri)


#: Read tasks per task slot Spark is asked for: several per slot, so no core idles while the last one finishes.
TASKS_PER_SLOT = 4


@dataclass(frozen=True)
class FileLayout:
    """A scan's files, as far as splitting them goes: how many, their bytes, and the largest part that no
    split cuts (a Parquet row group)."""

    files: int
    bytes: int
    largest_part: int


def size_splits(spark: SparkSession, max_bytes: int, layout: FileLayout | None = None) -> None:
    """Spark's file splits for the next read: at most ``max_bytes`` each, and at least ``TASKS_PER_SLOT`` per slot;
    but never smaller than ``layout.largest_part``, with 5 % to spare.

    Spark cuts a scan into ``max(total / minPartitionNum, openCost)``-byte splits, capped by maxPartitionBytes;
    by default minPartitionNum is the slot count, so a chunk ends with one long task per slot running alone.
    A Parquet row group goes to the split holding its middle, so a split smaller than the row groups makes
    empty tasks (a small chunk, or row groups over ``max_bytes``), each paying a task's start for no rows.
    """
    tasks = TASKS_PER_SLOT * spark.sparkContext.defaultParallelism
    split = max_bytes
    if layout is not None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        open_cost = jvm.org.apache.spark.network.util.JavaUtils.byteStringAsBytes(
            spark.conf.get("spark.sql.files.openCostInBytes")
        )
        floor = layout.largest_part + layout.largest_part // 20
        if min(max_bytes, max(open_cost, (layout.bytes + layout.files * open_cost) // tasks)) < floor:
            split, tasks = floor, 1  # Spark's share per task is then the whole scan, so the cap is the split
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(split))
    spark.conf.set("spark.sql.files.minPartitionNum", str(tasks))
