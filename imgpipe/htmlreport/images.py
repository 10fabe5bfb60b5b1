"""The encoded bytes of the sampled images, from where the run read them: the files named by the keys,
or (given the run's config) the Parquet source or the HBase table.

Never raises for one image: each key maps to its bytes or to the reason they are not available, and
the page shows that reason on a placeholder.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from imgpipe.config.hbase import HBaseSourceConfig
from imgpipe.config.job import JobConfig
from imgpipe.config.sections import FilesSourceConfig, ParquetSourceConfig
from imgpipe.errors import first_line
from imgpipe.hbase import client as hbase
from imgpipe.locations import file_uri_path

#: Key -> image bytes, or the reason (text) they could not be read.
Fetched = dict[Any, bytes | str]
Reader = Callable[[list[Any]], Fetched]

#: Larger files are not read for a thumbnail (the decode limits would refuse most of them anyway).
MAX_FILE_BYTES = 256 << 20


def reader_for(source_description: str, job: JobConfig | None) -> Reader:
    """How to read the sample's images, from the run's config when given, else from the summary's
    ``source`` ("files DIR", "parquet PATH", "hbase HOST:PORT/TABLE")."""
    if job is not None:
        source = job.source
        if isinstance(source, ParquetSourceConfig):
            return lambda keys: _from_parquet(source, keys)
        if isinstance(source, HBaseSourceConfig):
            return lambda keys: _from_hbase(source, keys)
        assert isinstance(source, FilesSourceConfig)
        return _from_files
    kind = source_description.split(" ", 1)[0]
    if kind == "files":
        return _from_files
    reason = f"the images are in the {kind} source; pass --config with the run's config to read them"
    return lambda keys: dict.fromkeys(keys, reason)


def _from_files(keys: list[Any]) -> Fetched:
    return {key: _read_file(str(key)) for key in keys}


def _read_file(key: str) -> bytes | str:
    """A files-source key is the file's path or URI (``file:/photos/a.jpg``, ``hdfs://nn/photos/a.jpg``)."""
    try:
        if key.startswith("file:"):
            fs, path = pafs.LocalFileSystem(), file_uri_path(key)
        elif "://" in key:
            fs, path = pafs.FileSystem.from_uri(key)
        else:
            fs, path = pafs.LocalFileSystem(), key
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return f"file not found: {path} (moved or deleted since the run?)"
        if info.size is not None and info.size > MAX_FILE_BYTES:
            return f"file is {info.size} bytes, over the report's {MAX_FILE_BYTES} byte limit"
        with fs.open_input_stream(path) as f:
            return bytes(f.read())
    except (OSError, ValueError, pa.ArrowException) as exc:
        return f"cannot read {key}: {first_line(exc, 300)}"


def _from_parquet(cfg: ParquetSourceConfig, keys: list[Any]) -> Fetched:
    try:
        source = ds.dataset(_parquet_files(cfg), format="parquet")
        key_type = source.schema.field(cfg.key_column).type
        table = source.to_table(
            columns=[cfg.key_column, cfg.image_column],
            filter=pc.is_in(ds.field(cfg.key_column), value_set=pa.array(keys, key_type)),
        )
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        return dict.fromkeys(keys, f"cannot read the Parquet source {cfg.path}: {first_line(exc, 300)}")
    found: Fetched = {}
    for row in table.to_pylist():
        found.setdefault(row[cfg.key_column], row[cfg.image_column] or "the image column is empty")
    return {key: found.get(key, f"key not found in the Parquet source {cfg.path}") for key in keys}


def _parquet_files(cfg: ParquetSourceConfig) -> list[str] | str:
    """The source's paths; local globs are expanded as Spark would, URIs are passed to pyarrow as they are."""
    paths: list[str] = []
    for path in cfg.paths:
        if "://" in path:
            return path if len(cfg.paths) == 1 else list(cfg.paths)
        local = file_uri_path(path) if path.startswith("file:") else path
        matched = sorted(glob.glob(local)) if glob.has_magic(local) else [local]
        for match in matched:
            paths += _parquet_in(match)
    return paths


def _parquet_in(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    found = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        found += [os.path.join(folder, f) for f in sorted(files) if not f.startswith(("_", "."))]
    return found


def _from_hbase(cfg: HBaseSourceConfig, keys: list[Any]) -> Fetched:
    where = f"HBase {cfg.gateways[0]} table {cfg.table}"  # the first gateway: a report reads a few rows
    row_keys = [k if isinstance(k, bytes) else str(k).encode("utf-8") for k in keys]
    conn = None
    try:
        conn = hbase.connect_to(cfg)
        rows = dict(conn.table(cfg.table).rows(row_keys, columns=[cfg.column.encode()]))
    except Exception as exc:  # noqa: BLE001 - any Thrift or socket failure: every image says why
        return dict.fromkeys(keys, f"cannot read {where}: {hbase.describe(exc)}")
    finally:
        if conn is not None:
            hbase.close_quietly(conn)
    column = cfg.column.encode()
    return {key: rows.get(rk, {}).get(column) or f"no {cfg.column} cell in {where}" for key, rk in zip(keys, row_keys)}

