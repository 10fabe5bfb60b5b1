"""The job: plan chunks on the driver, run the fused pass per chunk, commit each chunk, report.

    sink.claim()  ->  summary.json: running  ->  source.plan()  ->  sink.prepare()  ->  manifest
    for each chunk not yet done:
        source.results(chunk) (read + mapInArrow(Pipeline), counting)  -->  sink.write_chunk(chunk)
        ->  manifest: done, with the chunk's counts
    ->  errors read back from what was committed  ->  summary.json: succeeded | too_many_errors
    (any failure on the way: summary.json: failed, with the error)
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import SparkSession

from imgpipe.config import LoadedConfig
from imgpipe.errors import ImgpipeError
from imgpipe.job import ledger, manifest, tally
from imgpipe.job.progress import Mode, Watch
from imgpipe.pipeline import Pipeline
from imgpipe.report import FAILED, RunReport, images_in, inference_config, new_run_id
from imgpipe.sinks import Sink, make_sink
from imgpipe.sources import Source, make_source
from imgpipe.spark import files, fs, status
from imgpipe.spark.counts import add
from imgpipe.spark.errors import describe_failure
from imgpipe.spark.session import master_of, spark_job
from imgpipe.spark.warmup import warm_workers

log = logging.getLogger("imgpipe.job")


def run_job(
    loaded: LoadedConfig,
    pipeline: Pipeline,
    *,
    resume: bool = False,
    verbose: bool = False,
    progress: Mode = "off",
    submitted: bool = False,
) -> RunReport:
    """Run the whole job on a session built from ``spark:`` (and spark-submit's settings when ``submitted``);
    the session is stopped afterwards.

    ``progress``: ``bar`` (a live bar on a terminal), ``lines`` (a timestamped line now and then) or ``off``.
    """
    reports: list[RunReport] = []

    def ran_a_chunk() -> bool:
        """Whether a new class archive of this JVM holds what runs load (it ran the pass over a chunk)."""
        return any(r.chunks_total > r.chunks_skipped for r in reports)

    with spark_job(loaded.job.spark, "the job", verbose=verbose, submitted=submitted, archive_if=ran_a_chunk) as spark:
        reports.append(run_on(spark, loaded, pipeline, resume=resume, progress=progress))
    return reports[0]


def run_on(
    spark: SparkSession, loaded: LoadedConfig, pipeline: Pipeline, *, resume: bool = False, progress: Mode = "off"
) -> RunReport:
    """Run the job on ``spark``. Any failure becomes an ``ImgpipeError`` naming its root cause."""
    try:
        return _run(spark, loaded, pipeline, resume, progress)
    except ImgpipeError:
        raise
    except Exception as exc:
        raise ImgpipeError(f"the job failed: {describe_failure(exc)}") from exc


def _run(spark: SparkSession, loaded: LoadedConfig, pipeline: Pipeline, resume: bool, progress: Mode) -> RunReport:
    started = time.monotonic()
    source, sink = make_source(loaded.job), make_sink(loaded.job)
    pipeline = files.for_executors(spark, pipeline)
    warm_workers(spark, pipeline)  # while the driver claims, plans and writes its manifest
    sink.claim(spark)
    settings = manifest.result_settings(loaded.job, _models(pipeline))
    plan = _resumed(spark, loaded, sink, settings) if resume else None
    run_id = plan.run_id if plan else (pipeline.run_id or new_run_id())
    report = _new_report(loaded, source, sink, pipeline, run_id, master_of(spark))
    _write_summary(spark, sink, report, loaded)
    try:
        plan = plan or _plan(spark, source, sink, run_id, settings)
        with Watch(spark, progress, plan.images, len(plan.chunks)) as watch:
            collected = _run_chunks(spark, source, sink, replace(pipeline, run_id=run_id), plan, report, watch)
        _finish(spark, source, sink, report, plan, collected)
    except BaseException as exc:  # the summary must not keep saying "running"; the error still propagates
        report.status, report.error = FAILED, describe_failure(exc)
        report.wall_seconds = time.monotonic() - started
        _write_summary(spark, sink, report, loaded, best_effort=True)
        raise
    report.finish()
    report.wall_seconds = time.monotonic() - started
    _write_summary(spark, sink, report, loaded)
    return report


def _new_report(
    loaded: LoadedConfig, source: Source, sink: Sink, pipeline: Pipeline, run_id: str, master: str
) -> RunReport:
    return RunReport(
        run_id=run_id,
        source=source.describe(),
        sink=sink.describe(),
        master=master,
        max_error_rate=loaded.job.run.max_error_rate,
        models=_models(pipeline),
        inference=inference_config(loaded.job),
        started_at=_now(),
    )


def _models(pipeline: Pipeline) -> dict[str, dict[str, str]]:
    infos = {"detect": pipeline.detect_model, "embed": pipeline.embed_model}
    return {role: {"name": info.name, "sha256": info.sha256} for role, info in infos.items() if info is not None}


def _resumed(spark: SparkSession, loaded: LoadedConfig, sink: Sink, settings: dict[str, Any]) -> manifest.Manifest:
    """The interrupted run's plan; refused (``ConfigError``, before anything is written) if settings changed."""
    try:
        plan = manifest.load_for_resume(spark, sink.report_dir, settings)
    except ImgpipeError as exc:
        raise type(exc)(loaded.raw.redact(str(exc))) from None
    log.info("resuming run %s: %d of %d chunks done", plan.run_id, len(plan.done), len(plan.chunks))
    return plan


def _plan(spark: SparkSession, source: Source, sink: Sink, run_id: str, settings: dict[str, Any]) -> manifest.Manifest:
    """A fresh run: plan the chunks, make the sink ready (``overwrite`` happens here), save the manifest."""
    began = time.monotonic()
    planned = source.plan(spark)
    chunks = manifest.group(planned.units, source.chunk_size)
    plan = manifest.Manifest(
        run_id, manifest.hashed(settings), chunks, skipped=planned.skipped, key_type=planned.key_type,
        images=planned.images,
    )  # fmt: skip
    log.info("planned %d read units in %d chunks in %.1fs", len(planned.units), len(chunks), time.monotonic() - began)
    sink.prepare(spark)
    manifest.save(spark, sink.report_dir, plan)
    return plan


def _run_chunks(
    spark: SparkSession,
    source: Source,
    sink: Sink,
    pipeline: Pipeline,
    plan: manifest.Manifest,
    report: RunReport,
    watch: Watch,
) -> tally.Tally:
    """Every chunk not yet done, each committed with its counts; what this invocation's tasks brought back."""
    report.chunks_total = len(plan.chunks)
    collected = tally.Tally()
    for index, units in enumerate(plan.chunks):
        if index in plan.done:
            report.chunks_skipped += 1
            report.images_already_committed += images_in(plan.counts.get(str(index), {}))
            watch.committed(plan.counts.get(str(index), {}))
            continue
        began = time.monotonic()
        counter = tally.counter(spark)
        watch.chunk(index, counter)
        run = tally.Tallied(pipeline, counter, hash_keys=not source.unique_keys)
        with status.tracked_jobs(spark, f"imgpipe run {report.run_id} chunk {index + 1}/{len(plan.chunks)}") as jobs:
            tasks = _run_chunk(spark, source, sink, run, units, plan.chunk_name(index))
        _count_tasks(spark, jobs, report)
        report.read_tasks += tasks
        report.images_processed += images_in(counter.value.counts)
        log.info("chunk %d/%d: %d read tasks in %.1fs", index + 1, len(plan.chunks), tasks, time.monotonic() - began)
        plan.commit(index, counter.value.counts)
        manifest.save(spark, sink.report_dir, plan)
        collected.merge(counter.value)
        watch.committed(counter.value.counts)
    report.source_retries = source.retries()
    report.gateways = source.gateways()
    return collected


def _count_tasks(spark: SparkSession, jobs: status.Jobs, report: RunReport) -> None:
    """Where the chunk's tasks ran and how many attempts failed, added to the report."""
    stats = status.task_stats(spark, jobs)
    for name, n in stats.executors.items():
        report.executors[name] = report.executors.get(name, 0) + n
    report.tasks_retried += stats.failed_attempts


def _run_chunk(
    spark: SparkSession, source: Source, sink: Sink, run: tally.Tallied, units: list[Any], name: str
) -> int:
    """Read, run and commit one chunk; returns its read task count."""
    results, tasks = source.results(spark, units, run)
    sink.write_chunk(spark, results, name)
    return tasks


def _finish(
    spark: SparkSession, source: Source, sink: Sink, report: RunReport, plan: manifest.Manifest, collected: tally.Tally
) -> None:
    """Counts from the manifest; errors and duplicate keys from what the tasks brought back, or read back."""
    began = time.monotonic()
    for chunk_counts in plan.counts.values():
        add(report.counts, chunk_counts)
    report.files_skipped = plan.skipped
    report.spark_app_id = spark.sparkContext.applicationId
    errors = None if report.chunks_skipped else ledger.collected_errors(collected, source.unique_keys)
    if errors is None:
        _read_back_errors(spark, sink, report, source.unique_keys)
    else:
        ledger.write_rows(spark, errors, plan.key_type, sink.errors_path, report.run_id, sink.errors_mode)
    report.outputs = sink.locations()
    report.finished_at = _now()
    log.info("report (errors%s) in %.1fs", "" if errors is not None else " read back", time.monotonic() - began)


def _read_back_errors(spark: SparkSession, sink: Sink, report: RunReport, unique_keys: bool) -> None:
    """The errors dataset (and duplicate keys) from what was committed: resumed runs, floods of errors, repeats."""
    rows = sink.ledger(spark, report.run_id)
    duplicates = None
    if not unique_keys:
        duplicates = ledger.duplicate_keys(rows).cache()
        report.duplicate_keys = duplicates.count()
    if report.duplicate_keys:
        log.warning("%d keys appear more than once in the input; listed in %s", report.duplicate_keys, sink.errors_path)
    ledger.write_errors(rows, duplicates, sink.errors_path, report.run_id, sink.errors_mode)
    if duplicates is not None:
        duplicates.unpersist()


def _write_summary(
    spark: SparkSession, sink: Sink, report: RunReport, loaded: LoadedConfig, *, best_effort: bool = False
) -> None:
    try:
        fs.write_text(spark, sink.summary_path, report.to_json(loaded.raw.redact))
    except Exception:
        if not best_effort:
            raise
        log.warning("could not write %s with status %s", sink.summary_path, report.status, exc_info=True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
