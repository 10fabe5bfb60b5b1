"""examples/cron/imgpipe-nightly.sh for real (bash, flock, the imgpipe of this .venv): one run per output at a
time, an interrupted run finished with --resume, a finished one not redone."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, photo_paths

pytestmark = pytest.mark.system

SCRIPT = REPO / "examples" / "cron" / "imgpipe-nightly.sh"
DAY = "2026-11-29"
CONFIG = """
spark: {master: "local[1]"}
source: {type: files, path: /nonexistent}   # the script sets the day's folder and output
sink: {type: parquet, path: /nonexistent, mode: error}
"""


def nightly(root: Path, *options: str, day: str = DAY) -> subprocess.CompletedProcess[str]:
    (root / "job.yaml").write_text(CONFIG)
    env = {**os.environ, "IMGPIPE": str(Path(sys.executable).parent / "imgpipe"), "IMGPIPE_CONFIG": str(root / "job.yaml"),
           "IMGPIPE_INPUT": str(root / "in"), "IMGPIPE_OUTPUT": str(root / "out")}  # fmt: skip
    return subprocess.run(["bash", str(SCRIPT), day, *options], env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def test_a_second_start_while_one_runs_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / f"dt={DAY}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running imgpipe-nightly.sh holds
        done = nightly(tmp_path)
    assert done.returncode == 75 and "another run holds" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"dt={DAY}.lock"]


def test_a_day_runs_once_and_an_interrupted_run_is_resumed(tmp_path: Path) -> None:
    day = tmp_path / "in" / f"dt={DAY}"
    day.mkdir(parents=True)
    for photo in photo_paths()[:3]:
        shutil.copy(photo, day / photo.name)
    first = nightly(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    out = tmp_path / "out" / f"dt={DAY}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_ok"] == 3 and summary["run_id"] == "nightly-20261129" and (out / "report.html").exists()

    again = nightly(tmp_path)
    assert again.returncode == 0 and "already done" in again.stdout

    # As if the driver died after its last chunk: the manifest is there, summary.json not yet. imgpipe
    # resuming for real is tested with the job; here, that the script asks for it (--dry-run starts no Spark).
    (out / "summary.json").unlink()
    resumed = nightly(tmp_path, "--dry-run")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming the interrupted run" in resumed.stdout and "nothing was run (--dry-run)" in resumed.stdout
    next_day = tmp_path / "in" / "dt=2026-11-30"
    shutil.copytree(day, next_day)
    fresh = nightly(tmp_path, "--dry-run", day="2026-11-30")  # no manifest: a fresh run (--resume would refuse)
    assert fresh.returncode == 0 and "resuming" not in fresh.stdout, fresh.stdout + fresh.stderr
