"""Small Hadoop FileSystem helpers, so reports and checks work on HDFS/S3 as well as local paths."""

from __future__ import annotations

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
