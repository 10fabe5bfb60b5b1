"""``imgpipe run`` exactly as the command runs it, plus timings the run report does not carry.

    python -m bench.imgpipe_cli TIMINGS_JSON run CONFIG [--set ...]

Wraps ``imgpipe.spark.session.build_session`` and ``imgpipe.job.run.run_on`` (looked up at call time) to
time the Spark session start and the run itself, and counts the Spark jobs and stages the run triggered
(the status tracker's jobs without a group, read before the session stops). Then calls the CLI's
``main``; the timings go to TIMINGS_JSON as the process ends (an exit handler: ``main`` leaves with ``os._exit``
once the exit handlers have run).
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from typing import Any

STARTED = time.monotonic()

import imgpipe.job.run as job  # noqa: E402
import imgpipe.spark.session as session  # noqa: E402
from imgpipe.cli import main  # noqa: E402

timings: dict[str, float] = {"imports_s": time.monotonic() - STARTED}
_build_session, _run_on = session.build_session, job.run_on


def build_session(cfg: Any, **kwargs: Any) -> Any:
    began = time.monotonic()
    timings["before_session_s"] = began - STARTED
    session = _build_session(cfg, **kwargs)
    timings["session_start_s"] = time.monotonic() - began
    return session


def run_on(spark: Any, *args: Any, **kwargs: Any) -> Any:
    began = time.monotonic()
    try:
        return _run_on(spark, *args, **kwargs)
    finally:
        timings["run_on_s"] = time.monotonic() - began
        tracker = spark.sparkContext.statusTracker()
        jobs = tracker.getJobIdsForGroup(None)
        timings["spark_jobs"] = len(jobs)
        timings["spark_stages"] = sum(len(info.stageIds) for j in jobs if (info := tracker.getJobInfo(j)))
        timings["after_run_on_at_s"] = time.monotonic() - STARTED


session.build_session, job.run_on = build_session, run_on


def save(out: str) -> None:
    timings["process_s"] = time.monotonic() - STARTED
    with open(out, "w") as f:
        json.dump(timings, f)


if __name__ == "__main__":
    out, sys.argv = sys.argv[1], [sys.argv[0], *sys.argv[2:]]
    atexit.register(save, out)  # main() ends the process itself, after the exit handlers
    main()
