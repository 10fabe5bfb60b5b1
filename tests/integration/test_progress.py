"""What a person or a scheduler sees while `imgpipe run` works: a live bar on a terminal, plain lines otherwise,
and none of the JVM's start-up lines (imgpipe.job.progress, imgpipe.spark.quiet). Real CLI processes."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import SHARED_MODELS, files_config, photo_paths

IMGPIPE = Path(sys.executable).parent / "imgpipe"
JVM_STARTUP = ("Using Spark's default log4j profile", "Setting default log level", "NativeCodeLoader", "SparkR",
               "Using incubator modules")  # fmt: skip
ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("progress")
    (root / "in").mkdir()
    for photo in photo_paths()[:9]:
        shutil.copy(photo, root / "in" / photo.name)
    config = root / "job.yaml"
    spark = "spark: {master: 'local[2]'}\n"
    config.write_text(files_config(root / "in", root / "out", spark + "detect: {model: yolox-nano}\nrun: {chunk_files: 3}\n"))
    return config


def env() -> dict[str, str]:
    return {**os.environ, "IMGPIPE_MODEL_MIRROR": str(SHARED_MODELS), "COLUMNS": "120", "TERM": "xterm"}


def test_on_a_terminal_a_bar_advances_before_the_end(job: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: imgpipe on the pseudo-terminal's slave end
        os.execve(str(IMGPIPE), [str(IMGPIPE), "run", str(job)], env())
    screen = _read_all(fd, pid, timeout=300)
    summary_at = screen.index("images read")
    counts = [int(n) for n in re.findall(r"(\d+)/9 images", screen[:summary_at])]
    assert counts and counts[0] < 9 and 9 in counts, screen[-2000:]
    assert any(0 < n < 9 for n in counts), "the bar never showed a count between start and end"
    assert ANSI.search(screen) and not any(line in screen for line in JVM_STARTUP), screen[:3000]


def test_without_a_terminal_plain_timestamped_lines(job: Path) -> None:
    done = subprocess.run([str(IMGPIPE), "run", str(job)], capture_output=True, text=True, env=env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout + done.stderr
    lines = re.findall(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ imgpipe: (\d+)/9 images", printed, re.M)
    assert [int(n) for n in lines][:3] == [3, 6, 9], printed[-3000:]
    assert not ANSI.search(printed) and not any(line in printed for line in JVM_STARTUP), printed[:3000]


def test_quiet_shows_only_the_summary(job: Path) -> None:
    done = subprocess.run([str(IMGPIPE), "run", str(job), "-q"], capture_output=True, text=True, env=env(), timeout=300)
    assert done.returncode == 0 and "images read" in done.stdout
    assert "imgpipe: " not in done.stderr and " INFO " not in done.stderr, done.stderr[-2000:]


def _read_all(fd: int, pid: int, timeout: float) -> str:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")
