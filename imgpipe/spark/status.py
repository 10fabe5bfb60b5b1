"""Where a chunk's tasks ran and how many attempts failed, read from the driver's own status store.

Spark records every task (executor, host, status) in an in-process store, fed by its listener bus; the web UI
and the REST API show the same store. imgpipe reads it through the JVM gateway, with no HTTP and no listener
of its own: the chunk's jobs come from its job group (``SparkStatusTracker``), then each stage's task list.
A failed attempt of a task that later succeeded is a retry (an executor lost mid-task, a crashed worker).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

#: Enough for Spark's default of 100000 retained tasks per stage.
MAX_TASKS = 1_000_000


@dataclass
class TaskStats:
    #: Successful tasks by executor, as ``host:executor-id``.
    executors: dict[str, int] = field(default_factory=dict)
    #: Task attempts that failed (and were run again, when the job succeeded).
    failed_attempts: int = 0

    def add(self, other: TaskStats) -> None:
        for name, n in other.executors.items():
            self.executors[name] = self.executors.get(name, 0) + n
        self.failed_attempts += other.failed_attempts


@dataclass(frozen=True)
class Jobs:
    """The jobs started inside ``tracked_jobs``: those of ``group`` not in ``before``."""

    group: str
    before: frozenset[int] = frozenset()


@contextmanager
def tracked_jobs(spark: SparkSession, description: str) -> Iterator[Jobs]:
    """Jobs started inside belong to a job group: the caller's (a notebook, a test), else a new one."""
    sc = spark.sparkContext
    outer = sc.getLocalProperty("spark.jobGroup.id")
    if outer:
        yield Jobs(outer, frozenset(sc.statusTracker().getJobIdsForGroup(outer)))
        return
    group = f"imgpipe-{uuid.uuid4().hex[:12]}"
    sc.setJobGroup(group, description)
    try:
        yield Jobs(group)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]  # None clears it
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def task_stats(spark: SparkSession, jobs: Jobs, wait: float = 10.0) -> TaskStats:
    """The tasks of ``jobs`` once they ended. Waits (up to ``wait`` s) until the store has seen them end."""
    sc = spark.sparkContext
    tracker = sc.statusTracker()
    ids = sorted(set(tracker.getJobIdsForGroup(jobs.group)) - jobs.before)
    deadline = time.monotonic() + wait
    # The store learns of task ends through the listener bus, after the job's caller does: a job shown as
    # ended has had all its task ends recorded, since the bus delivers events in order.
    while time.monotonic() < deadline and any(_running(tracker, job) for job in ids):
        time.sleep(0.05)
    store = sc._jsc.sc().statusStore()
    stats = TaskStats()
    for job in ids:
        info = tracker.getJobInfo(job)
        for stage_id in info.stageIds if info else []:
            stage = tracker.getStageInfo(stage_id)
            for attempt in range(stage.currentAttemptId + 1 if stage else 0):
                stats.add(_stage_tasks(spark, store, stage_id, attempt))
    return stats


def _running(tracker: Any, job: int) -> bool:
    info = tracker.getJobInfo(job)
    return info is not None and info.status == "RUNNING"


def _stage_tasks(spark: SparkSession, store: Any, stage_id: int, attempt: int) -> TaskStats:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    stats = TaskStats()
    try:
        tasks = jvm.scala.jdk.javaapi.CollectionConverters.asJava(store.taskList(stage_id, attempt, MAX_TASKS))
    except Exception:  # the stage attempt was skipped or dropped from the store: nothing ran there
        return stats
    for task in tasks:
        status = task.status()
        if status == "SUCCESS":
            name = f"{task.host()}:{task.executorId()}"
            stats.executors[name] = stats.executors.get(name, 0) + 1
        elif status == "FAILED":
            stats.failed_attempts += 1
    return stats
