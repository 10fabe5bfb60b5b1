"""The job: plan chunks on the driver, run the fused pass per chunk, commit each chunk, report.

    source.plan()  ->  chunks  ->  for each chunk not yet done:
        source.read(chunk) --mapInArrow(Pipeline)--> sink.write_chunk(chunk)  ->  manifest: done
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
from imgpipe.config.job import JobConfig
from imgpipe.pipeline import Pipeline
from imgpipe.report import RunReport
from imgpipe.spark import chunks, fs, write
from imgpipe.spark.inputs import Input, make_input
from imgpipe.spark.outputs import Output, make_output
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
    inp, out = make_input(job), make_output(job)
    report = _new_report(job, inp, out, pipeline)
    manifest = _start(spark, job, inp, out, pipeline, resume)
    report.run_id = manifest.run_id
    pipeline = dataclasses.replace(pipeline, run_id=manifest.run_id)
    report.chunks_total = len(manifest.chunks)
    for index, units in enumerate(manifest.chunks):
        if index in manifest.done:
            report.chunks_skipped += 1
            continue
        began = time.monotonic()
        tasks = _run_chunk(spark, inp, out, pipeline, units, manifest.chunk_name(index))
        report.read_tasks += tasks
        log.info("chunk %d/%d: %d read tasks in %.1fs", index + 1, len(manifest.chunks), tasks, time.monotonic() - began)
        manifest.done.append(index)
        chunks.save(spark, out.report_dir, manifest)
    report.source_retries = inp.retries()
    began = time.monotonic()
    _finish(spark, out, report, started, loaded, inp.unique_keys)
    log.info("report (counts, errors, summary) in %.1fs", time.monotonic() - began)
    return report


def _new_report(job: JobConfig, inp: Input, out: Output, pipeline: Pipeline) -> RunReport:
    models = {}
    for role, info in (("detect", pipeline.detect_model), ("embed", pipeline.embed_model)):
        if info is not None:
            models[role] = {"name": info.name, "sha256": info.sha256}
    return RunReport(
        run_id=pipeline.run_id,
        source=inp.describe(),
        sink=out.describe(),
        master=job.spark.master,
        max_error_rate=job.run.max_error_rate,
        models=models,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _start(
    spark: SparkSession, job: JobConfig, inp: Input, out: Output, pipeline: Pipeline, resume: bool
) -> chunks.Manifest:
    expected = chunks.fingerprint(
        {"source": job.source.model_dump(), "sink": job.sink.model_dump(), "models": [
            dataclasses.asdict(m) for m in (pipeline.detect_model, pipeline.embed_model) if m
        ]}
    )
    if resume:
        manifest = chunks.load_for_resume(spark, out.report_dir, expected)
        log.info("resuming run %s: %d of %d chunks done", manifest.run_id, len(manifest.done), len(manifest.chunks))
        return manifest
    began = time.monotonic()
    units = inp.plan(spark)
    manifest = chunks.Manifest(pipeline.run_id, expected, chunks.group(units, inp.chunk_size))
    log.info("planned %d read units in %d chunks in %.1fs", len(units), len(manifest.chunks), time.monotonic() - began)
    out.prepare(spark)
    chunks.save(spark, out.report_dir, manifest)
    return manifest


def _run_chunk(spark: SparkSession, inp: Input, out: Output, pipeline: Pipeline, units: list[Any], name: str) -> int:
    results, tasks = inp.results(spark, units, pipeline.with_threads(cores_per_task(spark)))
    out.write_chunk(spark, results, name)
    return tasks


def _finish(
    spark: SparkSession, out: Output, report: RunReport, started: float, loaded: LoadedConfig, unique_keys: bool
) -> None:
    rows = out.ledger(spark, report.run_id).cache()
    counts = write.status_counts(rows)
    report.images_ok = sum(n for (status, _), n in counts.items() if status == B.STATUS_OK)
    report.images_failed = sum(n for (status, _), n in counts.items() if status != B.STATUS_OK)
    report.images_read = report.images_ok + report.images_failed
    report.errors_by_reason = {
        str(reason): n for (status, reason), n in counts.items() if status != B.STATUS_OK
    }
    duplicates = None
    if not unique_keys:
        duplicates = write.duplicate_keys(rows).cache()
        report.duplicate_keys = duplicates.count()
    if report.duplicate_keys:
        log.warning("%d keys appear more than once in the input; listed in %s", report.duplicate_keys, out.errors_path)
    write.write_errors(rows, duplicates, out.errors_path, report.run_id, out.errors_mode)
    rows.unpersist()
    if duplicates is not None:
        duplicates.unpersist()
    report.outputs = out.locations()
    report.wall_seconds = time.monotonic() - started
    report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fs.write_text(spark, out.summary_path, report.to_json(loaded.raw.redact))
