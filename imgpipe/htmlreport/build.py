"""``write_report``: read a run's output, draw the sample, render the page and write it, replacing only
an earlier imgpipe report."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa

from imgpipe.config.hbase import HBaseSinkConfig
from imgpipe.config.job import JobConfig
from imgpipe.errors import SinkError, SourceError
from imgpipe.htmlreport import page
from imgpipe.htmlreport.hbase_results import scan_results
from imgpipe.htmlreport.images import reader_for
from imgpipe.htmlreport.results import ResultStats, read_results
from imgpipe.htmlreport.run import RunOutput, open_output, read_errors, read_summary
from imgpipe.htmlreport.thumbs import SampleView, render_sample
from imgpipe.hbase import client as hbase

T = TypeVar("T")


@dataclass(frozen=True)
class ReportOptions:
    samples: int = 24
    #: The run's config: tells where the source's images are (Parquet, HBase) and what the sink was.
    job: JobConfig | None = None
    max_error_rows: int = 500
    #: HBase sink: at most this many of the run's rows are scanned for the histograms and the sample.
    scan_limit: int = 20_000


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    images: int | None  # images in the results, None when the results are not Parquet
    samples: int
    samples_missing: int  # of those, shown as placeholders
    error_rows: int


def write_report(output: str, target: str | Path, options: ReportOptions = ReportOptions()) -> WrittenReport:
    """Write the HTML report of the run at ``output`` (a Parquet sink path, or an HBase run's report_dir)."""
    target = Path(target)
    _check_target(target)
    out = open_output(output)
    summary = read_summary(out)
    run_id, source = str(summary["run_id"]), str(summary.get("source") or "")
    stats, note = _results(out, run_id, summary, options)
    errors = _parquet(out.path("errors"), lambda: read_errors(out, run_id, options.max_error_rows))
    samples = _samples(stats, source, options.job)
    needs_config = options.job is None and not source.startswith("files ") and bool(samples)
    source_note = "Images of a Parquet or HBase source are read with --config (the run's config)." if needs_config else ""
    html = page.render(summary, page.Section(samples, stats, note), errors, source_note)
    _write_atomically(target, html)
    missing = sum(1 for s in samples if s.missing)
    return WrittenReport(target, stats.images if stats else None, len(samples), missing, errors.total)


def _results(
    out: RunOutput, run_id: str, summary: dict[str, object], options: ReportOptions
) -> tuple[ResultStats | None, str]:
    """Stats and sample from results/ (Parquet sink), else from the HBase sink table given --config."""
    stats = _parquet(out.path("results"), lambda: read_results(out, run_id, options.samples))
    if stats is not None:
        return stats, ""
    if options.job is not None and isinstance(options.job.sink, HBaseSinkConfig):
        return _hbase_results(options.job.sink, run_id, options)
    return None, _no_results_note(summary, options.job)


def _parquet(path: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(f"Expected a readable Parquet dataset at {path}, but: {exc}") from None


def _samples(stats: ResultStats | None, source: str, job: JobConfig | None) -> list[SampleView]:
    if stats is None or not stats.sample:
        return []
    fetched = reader_for(source, job)([s.key for s in stats.sample])
    return [render_sample(s, fetched.get(s.key, "not read")) for s in stats.sample]


def _no_results_note(summary: dict[str, object], job: JobConfig | None) -> str:
    sink = summary.get("sink") or "not Parquet"
    if job is None:
        return f"No results/ folder here (the sink was {sink}): pass --config with the run's config to scan its results."
    return f"No results/ folder here (the sink was {sink})."


def _hbase_results(sink: HBaseSinkConfig, run_id: str, options: ReportOptions) -> tuple[ResultStats | None, str]:
    where = f"HBase table {sink.table} ({sink.host}:{sink.port})"
    try:
        scanned = scan_results(sink, run_id, options.samples, options.scan_limit)
    except Exception as exc:  # noqa: BLE001 - any Thrift or socket failure: the page says why and shows the rest
        return None, f"The results are in {where}, which could not be read: {hbase.describe(exc)}."
    if scanned.complete:
        return scanned.stats, f"Read from {where}: all {scanned.rows:,} rows of run {run_id}."
    return scanned.stats, (
        f"Read from {where}: the first {scanned.rows:,} rows of run {run_id} in key order "
        f"(--scan-limit); the summary's counts cover every image."
    )


def _check_target(target: Path) -> None:
    """Replace an earlier report, never anything else (imgpipe overwrites only what it wrote)."""
    if not target.exists():
        if not target.parent.is_dir():
            raise SinkError(f"Expected --out in an existing folder, but {target.parent} does not exist")
        return
    if target.is_dir():
        raise SinkError(f"Expected --out to name a file, but {target} is a folder")
    with open(target, "rb") as f:
        head = f.read(1024)
    if f'content="{page.GENERATOR}'.encode() not in head:
        raise SinkError(f"{target} exists and is not an imgpipe report; choose another --out (it is left as it is)")


def _write_atomically(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
