"""The local JVM's class archive is written by a run that ran the pass, never by one that stopped early.

An archive holds the classes its JVM had loaded when it exited and is never rewritten: one written by a run
that failed while planning lacked the SQL planner's, Parquet's and Arrow's classes, and cost every later run
0.7 s (docs/benchmarks.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SHARED_IMAGES, files_config
from tests.spark_helpers import own_process_env

pytestmark = pytest.mark.spark


def _imgpipe_run(config: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``imgpipe run`` in its own process, its class archives under ``home`` (``~/.cache/imgpipe/jvm``)."""
    env = own_process_env(HOME=str(home))
    env.pop("IMGPIPE_JVM_CACHE", None)
    return subprocess.run([sys.executable, "-m", "imgpipe", "run", str(config), *args], capture_output=True,
                          text=True, cwd=config.parent, env=env, timeout=600, check=False)  # fmt: skip


def _archives(home: Path) -> list[Path]:
    return sorted((home / ".cache" / "imgpipe" / "jvm").glob("*.jsa*"))


def test_only_a_run_that_ran_the_pass_leaves_a_class_archive(tmp_path: Path) -> None:
    home = tmp_path / "home"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "part-0.parquet").write_bytes(b"not parquet at all")
    failing = tmp_path / "failing.yaml"
    failing.write_text(f"source: {{type: parquet, path: '{broken}'}}\nsink: {{type: parquet, path: '{tmp_path / 'a'}'}}\n")

    done = _imgpipe_run(failing, home)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "is not a readable Parquet file" in done.stderr, "expected the run to fail while planning, in Spark"
    assert _archives(home) == [], "a run that stopped before the pass wrote the archive every later run maps"

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("dog.jpg", "person.jpg"):
        shutil.copy(SHARED_IMAGES / name, photos / name)
    good = tmp_path / "good.yaml"
    good.write_text(files_config(photos, tmp_path / "b", "detect: {model: yolox-nano}\n"))
    done = _imgpipe_run(good, home)
    assert done.returncode == 0, done.stderr[-3000:]
    archives = _archives(home)
    assert len(archives) == 1 and archives[0].suffix == ".jsa" and archives[0].stat().st_size > 0, archives
    assert "cds" not in done.stdout.lower(), "the JVM's archive logging reached the run's report"

    # The next run's JVM maps it: the archive fits the JVM imgpipe starts.
    log = tmp_path / "cds.log"
    done = _imgpipe_run(good, home, "--set", f"spark.conf.spark.driver.extraJavaOptions=-Xlog:cds=info:file={log}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Mapped dynamic region" in log.read_text(), log.read_text()[-3000:]
    assert _archives(home) == archives
