"""What a running driver's tasks are doing, read from its web UI's REST API (``/api/v1``) on 127.0.0.1.

The cluster tests kill a worker while one of the run's own tasks runs on it: not while a Python worker merely
exists, which the run's warm-up job (imgpipe.spark.warmup, no job group) also causes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5) as response:
        return json.load(response)


def executor_id(worker_dir: Path) -> str | None:
    """The id of the executor a standalone worker runs (its folder ``work/<app>/<executor id>``), if any."""
    found = sorted(worker_dir.glob("app-*/*"))
    return found[-1].name if found else None


def runs_job_task(port: int, executor: str) -> bool:
    """Whether ``executor`` is running a task while only jobs of an imgpipe job group run (no warm-up)."""
    try:
        apps = _get(port, "applications")
        if not apps:
            return False
        app = apps[0]["id"]
        running = _get(port, f"applications/{app}/jobs?status=running")
        if not running or not all(str(job.get("jobGroup", "")).startswith("imgpipe-") for job in running):
            return False
        executors = _get(port, f"applications/{app}/executors")
    except (urllib.error.URLError, OSError, ValueError):
        return False  # the UI is not up yet, or the driver has gone
    return any(e["id"] == executor and e["activeTasks"] > 0 for e in executors)
