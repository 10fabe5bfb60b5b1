"""``imgpipe`` as a process. It starts without the libraries only some commands need (a quarter of a second of
imports on every run), and it leaves without the interpreter's teardown, yet with its exit code, all of its
output, and the exit handlers run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Runs the console entry point with an exit handler of its own, as a wrapper or a plugin might register one.
ENTRY = """
import atexit, sys
atexit.register(lambda: print("exit handler ran", file=sys.stderr, flush=True))
from imgpipe.cli import main
main()
"""


def imgpipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_a_good_command_exits_0_with_all_of_its_output(tmp_path: Path) -> None:
    done = imgpipe("models", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "yolox-nano" in done.stdout and "mobilenetv2-int8" in done.stdout  # a pipe: block-buffered
    assert "exit handler ran" in done.stderr


def test_a_bad_config_still_exits_2_with_its_message(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("source: {type: files}\n")
    done = imgpipe("validate", "job.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Error:" in done.stderr and "job.yaml" in done.stderr
    assert "exit handler ran" in done.stderr


def test_usage_errors_keep_clicks_exit_code(tmp_path: Path) -> None:
    done = imgpipe("no-such-command", cwd=tmp_path)
    assert done.returncode == 2 and "No such command" in done.stderr


def test_the_command_starts_without_what_only_other_commands_need(tmp_path: Path) -> None:
    """faiss (index, search, dedup), pyarrow.dataset and pandas (ingest, index), happybase (ingest, HBase runs)
    and pyspark (any job) are imported by the commands that use them, not by every ``imgpipe`` start."""
    probe = "import sys, imgpipe.cli; print(sorted(m for m in HEAVY if m in sys.modules))"
    heavy = ("faiss", "pandas", "pyarrow.dataset", "happybase", "pyspark")
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {heavy!r}\n{probe}"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"expected none of {heavy} at start, but imgpipe.cli imported {done.stdout.strip()}"


def test_a_reader_that_stops_reading_gets_no_error_message(tmp_path: Path) -> None:
    """``imgpipe models list | head -1``: the pipe's reader is gone before imgpipe writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-c", ENTRY, "models", "list"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert "Error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "exit handler ran" in done.stderr
