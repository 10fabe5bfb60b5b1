"""Locating one run's output (summary.json, results/, errors/) on a local path, a file: URI or any
filesystem pyarrow knows, and reading the summary and the errors table. No Spark."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from imgpipe import batch as B
from imgpipe.errors import SourceError
from imgpipe.hbase import client as hbase


@dataclass(frozen=True)
class RunOutput:
    """Where one run's files are: ``root`` is the Parquet sink's path, or ``run.report_dir`` for HBase."""

    fs: Any
    root: str
    display: str

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound)


def open_output(location: str) -> RunOutput:
    """The run output at ``location``; raises ``SourceError`` when it holds no summary.json."""
    try:
        if "://" in location or location.startswith("file:"):
            fs, root = pafs.FileSystem.from_uri(location)
        else:
            fs, root = pafs.LocalFileSystem(), os.path.abspath(location)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise SourceError(f"Expected a readable run output folder, but {location!r} cannot be opened: {exc}") from None
    out = RunOutput(fs, root, location)
    if not out.exists("summary.json"):
        raise SourceError(
            f"Expected a run's output folder holding summary.json (the Parquet sink's path, or run.report_dir "
            f"for an HBase sink), but {location!r} has no summary.json; is the run finished?"
        )
    return out


def read_summary(out: RunOutput) -> dict[str, Any]:
    with out.fs.open_input_stream(out.path("summary.json")) as f:
        text = f.read().decode("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"Expected JSON in {out.path('summary.json')}, but line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict) or "run_id" not in data:
        raise SourceError(f"Expected an imgpipe run summary (with run_id) in {out.path('summary.json')}")
    return data


def dataset(out: RunOutput, name: str) -> ds.Dataset | None:
    """The Parquet dataset ``name`` (results, errors) under the output, or None when there is none."""
    if not out.exists(name):
        return None
    return ds.dataset(out.path(name), filesystem=out.fs, format="parquet", partitioning="hive")


@dataclass(frozen=True)
class ErrorRows:
    """The first ``rows`` of this run's errors (sorted by reason, then key) and how many there are."""

    rows: list[dict[str, Any]]
    total: int


def read_errors(out: RunOutput, run_id: str, limit: int) -> ErrorRows:
    errors = dataset(out, "errors")
    if errors is None:
        return ErrorRows([], 0)
    columns = [c for c in (B.KEY, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR) if c in errors.schema.names]
    where = ds.field(B.RUN_ID) == run_id if B.RUN_ID in errors.schema.names else None
    # The errors dataset is small (one narrow row per failed image), so it is read whole.
    table = errors.to_table(columns=columns, filter=where)
    rows = sorted(table.to_pylist(), key=lambda r: (r.get(B.ERROR_REASON) or "", show_key(r.get(B.KEY))))
    return ErrorRows(rows[:limit], table.num_rows)


def show_key(key: Any) -> str:
    """A row key as text: strings as they are, binary (HBase) keys as HBase's shell shows them."""
    if isinstance(key, bytes):
        return hbase.show_key(key)
    return "" if key is None else str(key)
