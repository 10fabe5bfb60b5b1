"""The job: plan chunks on the driver, run the fused pass per chunk, commit each chunk, report.

    source.plan()  ->  chunks  ->  for each chunk not yet done:
        source.results(chunk) (read + mapInArrow(Pipeline)) --> sink.write_chunk(chunk)  ->  manifest: done
    ->  counts and errors read back from what was committed  ->  summary.json
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.config import LoadedConfig
from imgpipe.job import ledger, manifest
from imgpipe.pipeline import Pipeline
from imgpipe.report import RunReport
from imgpipe.sinks import Sink, make_sink
from imgpipe.sources import Source, make_source
from imgpipe.spark import fs
from imgpipe.spark.session import build_session, cores_per_task

log = logging.getLogger("imgpipe.job")


def run_job(loaded: LoadedConfig, pipeline: Pipeline, *, resume: bool = False) -> RunReport:
    """Run the whole job on a session built from ``spark:``; the session is stopped afterwards."""
    spark = build_session(loaded.job.spark)
    try:
        return run_on(spark, loaded, pipeline, resume=resume)
    finally:
        spark.stop()


def run_on(spark: SparkSession, loaded: LoadedConfig, pipeline: Pipeline, *, resume: bool = False) -> RunReport:
    job = loaded.job
    started = time.monotonic()
    source, sink = make_source(job), make_sink(job)
    plan = _start(spark, loaded, source, sink, pipeline, resume)
    pipeline = dataclasses.replace(pipeline, run_id=plan.run_id).with_threads(cores_per_task(spark))
    report = _new_report(loaded, source, sink, pipeline)
    report.chunks_total = len(plan.chunks)
    for index, units in enumerate(plan.chunks):
        if index in plan.done:
            report.chunks_skipped += 1
            continue
        began = time.monotonic()
        tasks = _run_chunk(spark, source, sink, pipeline, units, plan.chunk_name(index))
        report.read_tasks += tasks
        log.info("chunk %d/%d: %d read tasks in %.1fs", index + 1, len(plan.chunks), tasks, time.monotonic() - began)
        plan.done.append(index)
        manifest.save(spark, sink.report_dir, plan)
    report.source_retries = source.retries()
    began = time.monotonic()
    _finish(spark, sink, report, started, loaded, source.unique_keys)
    log.info("report (counts, errors, summary) in %.1fs", time.monotonic() - began)
    return report


def _new_report(loaded: LoadedConfig, source: Source, sink: Sink, pipeline: Pipeline) -> RunReport:
    models = {}
    for role, info in (("detect", pipeline.detect_model), ("embed", pipeline.embed_model)):
        if info is not None:
            models[role] = {"name": info.name, "sha256": info.sha256}
    return RunReport(
        run_id=pipeline.run_id,
        source=source.describe(),
        sink=sink.describe(),
        master=loaded.job.spark.master,
        max_error_rate=loaded.job.run.max_error_rate,
        models=models,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _start(
    spark: SparkSession, loaded: LoadedConfig, source: Source, sink: Sink, pipeline: Pipeline, resume: bool
) -> manifest.Manifest:
    job = loaded.job
    expected = manifest.fingerprint(
        {"source": job.source.model_dump(), "sink": job.sink.model_dump(), "models": [
            dataclasses.asdict(m) for m in (pipeline.detect_model, pipeline.embed_model) if m
        ]}
    )
    if resume:
        plan = manifest.load_for_resume(spark, sink.report_dir, expected)
        log.info("resuming run %s: %d of %d chunks done", plan.run_id, len(plan.done), len(plan.chunks))
        return plan
    began = time.monotonic()
    units = source.plan(spark)
    run_id = pipeline.run_id or manifest.new_run_id()
    plan = manifest.Manifest(run_id, expected, manifest.group(units, source.chunk_size))
    log.info("planned %d read units in %d chunks in %.1fs", len(units), len(plan.chunks), time.monotonic() - began)
    sink.prepare(spark)
    manifest.save(spark, sink.report_dir, plan)
    return plan


def _run_chunk(spark: SparkSession, source: Source, sink: Sink, pipeline: Pipeline, units: list[Any], name: str) -> int:
    """Read, run and commit one chunk; returns its read task count."""
    results, tasks = source.results(spark, units, pipeline)
    sink.write_chunk(spark, results, name)
    return tasks


def _finish(
    spark: SparkSession, sink: Sink, report: RunReport, started: float, loaded: LoadedConfig, unique_keys: bool
) -> None:
    rows = sink.ledger(spark, report.run_id).cache()
    counts = ledger.status_counts(rows)
    report.images_ok = sum(n for (status, _), n in counts.items() if status == B.STATUS_OK)
    report.images_failed = sum(n for (status, _), n in counts.items() if status != B.STATUS_OK)
    report.images_read = report.images_ok + report.images_failed
    report.errors_by_reason = {
        str(reason): n for (status, reason), n in counts.items() if status != B.STATUS_OK
    }
    duplicates = None
    if not unique_keys:
        duplicates = ledger.duplicate_keys(rows).cache()
        report.duplicate_keys = duplicates.count()
    if report.duplicate_keys:
        log.warning("%d keys appear more than once in the input; listed in %s", report.duplicate_keys, sink.errors_path)
    ledger.write_errors(rows, duplicates, sink.errors_path, report.run_id, sink.errors_mode)
    rows.unpersist()
    if duplicates is not None:
        duplicates.unpersist()
    report.outputs = sink.locations()
    report.wall_seconds = time.monotonic() - started
    report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fs.write_text(spark, sink.summary_path, report.to_json(loaded.raw.redact))
