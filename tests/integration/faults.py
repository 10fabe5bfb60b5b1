"""Faults injected into real Spark runs: a Python worker that kills itself, a task that always fails.

The wrappers are shipped to the Python workers *by value* (``ship_by_value``): executors cannot import
``tests.integration`` (it is on the driver's ``sys.path`` only, through pytest's ``pythonpath``), and a
by-value class is exactly what a user-defined stage would look like to Spark.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import cloudpickle
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.pipeline import Pipeline
from imgpipe.stages.detect import Detections, Detector
from imgpipe.timings import StageTimes


def ship_by_value() -> None:
    """Pickle the classes below by value, so workers need not import this test module."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def first_claim(marker: str) -> bool:
    """True for exactly one caller across every process: the one that creates ``marker``."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


@dataclass(frozen=True)
class KillOnce(Detector):
    """A real detector whose Python worker SIGKILLs itself the first time any worker runs it.

    The kill lands mid-task: the batch's images are already decoded and nothing has been yielded
    back to the JVM for them. Spark sees "Python worker exited unexpectedly" and retries the task.
    """

    marker: str = ""

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        if self.marker and first_claim(self.marker):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(images)


@dataclass(frozen=True)
class FailOnKey(Pipeline):
    """A pipeline whose task fails, on every attempt, when it reaches a batch holding ``poison``.

    It raises between batches, outside the per-image isolation that turns a stage's exception into an
    error row: this is a task failure (a worker bug, a lost executor), not a bad image. The message says
    how many rows had already gone to the writer, so a test can tell the task died mid-write.
    """

    poison: str = ""

    def __call__(self, batches: Iterator[pa.RecordBatch], times: StageTimes | None = None) -> Iterator[pa.RecordBatch]:
        written = 0
        for batch in batches:
            if any(self.poison in str(k) for k in batch.column(B.KEY).to_pylist()):
                raise RuntimeError(f"injected task failure on {self.poison!r} after {written} rows went to the writer")
            if batch.num_rows:
                out = self.process(batch, times)
                written += out.num_rows
                yield out


@contextmanager
def job_group(spark: SparkSession, group: str) -> Iterator[None]:
    """Tag every Spark job started inside with ``group``, so its stages can be found afterwards."""
    sc = spark.sparkContext
    sc.setJobGroup(group, f"imgpipe test {group}")
    try:
        yield
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def task_failures(spark: SparkSession, group: str) -> dict[str, Any]:
    """Jobs, stages and failed task attempts Spark recorded for ``group`` (its status tracker)."""
    tracker = spark.sparkContext.statusTracker()
    job_ids = tracker.getJobIdsForGroup(group)
    stages = [s for j in job_ids if (info := tracker.getJobInfo(j)) for s in info.stageIds]
    infos = [tracker.getStageInfo(s) for s in stages]
    return {
        "jobs": len(job_ids),
        "stages": len(stages),
        "failed_tasks": sum(i.numFailedTasks for i in infos if i is not None),
    }


@contextmanager
def sql_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a runtime SQL conf on the shared session for one block, restoring the old value."""
    old = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if old is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, old)


@contextmanager
def driver_dies_at_chunk(monkeypatch: Any, n: int) -> Iterator[list[str]]:
    """The job's driver 'dies' (raises) as it starts its ``n``-th chunk; the names of the chunks it started."""
    from imgpipe.job import run as job_module

    real = job_module._run_chunk
    started: list[str] = []

    def die(*args: Any) -> int:
        started.append(args[-1])
        if len(started) == n:
            raise RuntimeError("driver lost")
        return int(real(*args))

    monkeypatch.setattr(job_module, "_run_chunk", die)
    try:
        yield started
    finally:
        monkeypatch.setattr(job_module, "_run_chunk", real)
