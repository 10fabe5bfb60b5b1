"""Small Hadoop FileSystem helpers, so reports and checks work on HDFS/S3 as well as local paths."""

from __future__ import annotations

from typing import Any

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
    """Write via a temporary name and rename, so a reader never sees half a file."""
    fs, hpath = _fs_path(spark, path)
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    tmp = jvm.org.apache.hadoop.fs.Path(path + ".tmp")
    stream = fs.create(tmp, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
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


def list_files(spark: SparkSession, pattern: str, recursive: bool) -> list[tuple[str, int]]:
    """(path, length) of every file under a path or glob, zero-length ones included.

    Spark's own file scan silently drops zero-length files, so a source that must account for every
    input lists them here, as Spark would (hidden ``_``/``.`` names skipped), and reads them itself.
    """
    fs, hpath = _fs_path(spark, pattern)
    statuses = fs.globStatus(hpath) or []
    found: list[tuple[str, int]] = []
    for status in statuses:
        if status.isDirectory():
            found.extend(_walk(fs, status.getPath(), recursive))
        elif not _hidden(status.getPath().getName()):
            found.append((status.getPath().toString(), int(status.getLen())))
    return found


def _walk(fs: Any, directory: Any, recursive: bool) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for status in fs.listStatus(directory):
        name = status.getPath().getName()
        if _hidden(name):
            continue
        if status.isDirectory():
            if recursive:
                out.extend(_walk(fs, status.getPath(), recursive))
        else:
            out.append((status.getPath().toString(), int(status.getLen())))
    return out


def _hidden(name: str) -> bool:
    return name.startswith(("_", ".")) and not name.startswith("_=")
