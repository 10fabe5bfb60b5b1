"""A session stopped while tasks still run (a run refused during planning, its warm-up in flight) says nothing
of the Python workers the stop kills: the run's own error is the news."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.spark_helpers import own_process_env

PROGRAM = """
import threading, time
from imgpipe.config.sections import SparkConfig
from imgpipe.errors import SourceError
from imgpipe.spark.session import spark_job

def slow(_):
    time.sleep(60)
    return []

try:
    with spark_job(SparkConfig(master="local[2]"), "probe") as spark:
        sc = spark.sparkContext
        threading.Thread(target=lambda: sc.parallelize(range(2), 2).mapPartitions(slow).collect(), daemon=True).start()
        tracker, until = sc.statusTracker(), time.monotonic() + 120
        while not tracker.getActiveStageIds() and time.monotonic() < until:
            time.sleep(0.1)
        time.sleep(3)  # the tasks' Python workers have started
        raise SourceError("refused while tasks run")
except SourceError:
    print("refused")
"""


def test_a_session_stopped_under_running_tasks_does_not_report_their_workers_as_crashed(tmp_path: Path) -> None:
    env = own_process_env(IMGPIPE_JVM_CACHE="off")
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr[-3000:]
    assert "exited unexpectedly" not in done.stderr, done.stderr[-3000:]
