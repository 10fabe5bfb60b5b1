"""Faults during a real run: a Python worker killed mid-task, the driver killed mid-run, a task that dies
mid-write. Each must end with every key exactly once, and nothing half-written may look committed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.config import parse_config
from imgpipe.preflight import build_pipeline
from imgpipe.job.manifest import Manifest, manifest_path
from imgpipe.job import run_on
from tests.helpers import MODELS_YAML, SHARED_IMAGES, files_config
from tests.integration.conftest import read_rows
from tests.integration.faults import FailOnKey, KillOnce, job_group, ship_by_value, sql_conf, task_failures

PHOTOS = ("dog.jpg", "person.jpg", "horses.jpg", "table.jpg", "can_1.jpg", "pets.jpg", "carton_33.jpg")


def photo_folder(folder: Path, names: tuple[str, ...]) -> Path:
    folder.mkdir()
    for name in names:
        shutil.copy(SHARED_IMAGES / name, folder / name)
    return folder


def keys_of(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(str(r[B.KEY]).rsplit("/", 1)[-1] for r in rows)


# --- a. a Python worker killed mid-task ---------------------------------------------------------------


def test_a_killed_python_worker_is_retried_and_every_key_is_written_once(
    spark: SparkSession, tmp_path: Path
) -> None:
    names = PHOTOS[:4]
    loaded = parse_config(
        files_config(photo_folder(tmp_path / "in", names), tmp_path / "out", "detect: {model: yolox-nano}\n")
    )
    pipeline = build_pipeline(loaded)
    assert pipeline.detector is not None
    marker = tmp_path / "killed-once"
    fields = {f.name: getattr(pipeline.detector, f.name) for f in dataclasses.fields(pipeline.detector)}
    pipeline = dataclasses.replace(pipeline, detector=KillOnce(**fields, marker=str(marker)))
    ship_by_value()

    with job_group(spark, "kill-worker"):
        report = run_on(spark, loaded, pipeline)

    assert marker.exists(), "the worker was never killed: the test proves nothing"
    assert task_failures(spark, "kill-worker")["failed_tasks"] >= 1, "Spark saw no failed task attempt"
    assert report.tasks_retried == task_failures(spark, "kill-worker")["failed_tasks"], "the summary counts the retry"
    rows = read_rows(tmp_path / "out" / "results")
    assert keys_of(rows) == sorted(names)
    assert all(r[B.STATUS] == "ok" and r[B.OBJECTS] for r in rows)
    assert report.images_ok == len(names) and report.images_failed == 0


# --- b. the driver SIGKILLed mid-run, then --resume ------------------------------------------------------


def _imgpipe(args: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
    """``python -m imgpipe ARGS`` with output to ``log`` (a pipe nobody reads could fill and block it)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the model mirror and cache come from tests/conftest.py
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "imgpipe", *args], env=env, stdout=out, stderr=out, **kw)


def _wait_for_some_chunks(proc: subprocess.Popen[bytes], manifest: Path, log: Path, timeout: float) -> None:
    """Return once at least one chunk is committed; fail if the run ends or stalls first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"imgpipe exited ({proc.returncode}) before it could be killed:\n{log.read_text()[-3000:]}")
        try:
            if Manifest.from_json(manifest.read_text()).done:
                return
        except (OSError, ValueError):
            pass  # not written yet
        time.sleep(0.05)
    pytest.fail(f"no chunk was committed within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the driver, its JVM and the Python workers: everything in the session it leads."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_members(proc.pid), "processes of the killed run are still alive"


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            # /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so split after ')'.
            state, _ppid, pgrp = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:
            continue
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry))
    return members


def test_a_killed_driver_resumes_from_its_committed_chunks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    src = photo_folder(tmp_path / "in", PHOTOS[:6])
    cfg = tmp_path / "cfg.yaml"
    spark_section = "spark: {master: 'local[2]', conf: {spark.sql.shuffle.partitions: 2}}\n"
    cfg.write_text(files_config(src, out, MODELS_YAML + spark_section + "run: {chunk_files: 2}\n"))
    manifest = Path(manifest_path(str(out)))

    proc = _imgpipe(["run", str(cfg)], tmp_path / "first.log", start_new_session=True)
    try:
        _wait_for_some_chunks(proc, manifest, tmp_path / "first.log", timeout=150)
    finally:
        _kill_group(proc)
    killed = Manifest.from_json(manifest.read_text())
    assert len(killed.chunks) == 3 and 1 <= len(killed.done) < 3, f"killed too late to test resume: {killed}"
    # Nobody was left to say how it ended: the summary still says what it said at the start.
    assert json.loads((out / "summary.json").read_text())["status"] == "running"

    resumed = _imgpipe(["run", str(cfg), "--resume"], tmp_path / "resume.log", start_new_session=True)
    try:
        resumed.wait(timeout=240)
    except subprocess.TimeoutExpired:
        _kill_group(resumed)
        pytest.fail("imgpipe run --resume did not finish within 240s")
    printed = (tmp_path / "resume.log").read_text()
    assert resumed.returncode == 0, printed[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["chunks_total"], summary["chunks_skipped"]) == (3, len(killed.done))
    assert f"chunks 3 ({len(killed.done)} skipped, already done)" in printed
    rows = read_rows(out / "results")
    assert keys_of(rows) == sorted(PHOTOS[:6]) and summary["images_ok"] == 6
    assert {r[B.RUN_ID] for r in rows} == {killed.run_id}


# --- c. a task that dies mid-write: nothing half-written looks committed -----------------------------------


FIRST_FILE = ["dog.jpg", "person.jpg", "horses.jpg"]
SECOND_FILE = ["table.jpg", "can_1.jpg", "poison.jpg", "pets.jpg"]


def _parquet_source(folder: Path) -> None:
    """Two files, one chunk each; the second holds the poisoned row after two good ones."""
    folder.mkdir()
    photo = {n: (SHARED_IMAGES / n).read_bytes() for n in PHOTOS}
    for name, keys in (("a.parquet", FIRST_FILE), ("b.parquet", SECOND_FILE)):
        images = [photo.get(k, photo["carton_33.jpg"]) for k in keys]
        pq.write_table(pa.table({"key": keys, "image": pa.array(images, pa.binary())}), folder / name)


def _visible_data_files(folder: Path) -> list[Path]:
    """Files a reader would take as data: not under a ``_``/``.`` folder, not named ``_x``/``.x``."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    ]


def test_a_task_failing_mid_write_leaves_no_committed_chunk(spark: SparkSession, tmp_path: Path) -> None:
    _parquet_source(tmp_path / "in")
    out = tmp_path / "out"
    loaded = parse_config(
        f"source: {{type: parquet, path: '{tmp_path / 'in'}'}}\n"
        f"sink: {{type: parquet, path: '{out}', mode: overwrite}}\nrun: {{chunk_files: 1}}\n"
    )
    clean = build_pipeline(loaded)
    fields = {f.name: getattr(clean, f.name) for f in dataclasses.fields(clean)}
    ship_by_value()

    # One row per Arrow batch: the poisoned task has handed two rows to the writer when it dies.
    with sql_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "1"), job_group(spark, "mid-write"):
        with pytest.raises(Exception, match="injected task failure on 'poison' after 2 rows went to the writer"):
            run_on(spark, loaded, FailOnKey(**fields, poison="poison"))
    assert task_failures(spark, "mid-write")["failed_tasks"] >= 3, "expected 3 attempts (local[2,3])"

    state = Manifest.from_json(Path(manifest_path(str(out))).read_text())
    assert state.done == [0] and len(state.chunks) == 2
    failed_chunk = out / "results" / state.chunk_name(1)
    assert not (failed_chunk / "_SUCCESS").exists()
    if failed_chunk.exists():
        assert _visible_data_files(failed_chunk) == [], "a failed chunk left data files a reader would take"
    assert keys_of(read_rows(out / "results")) == sorted(FIRST_FILE)
    failed = json.loads((out / "summary.json").read_text())
    assert failed["status"] == "failed" and "injected task failure on 'poison'" in failed["error"]

    report = run_on(spark, loaded, clean, resume=True)
    assert (report.chunks_total, report.chunks_skipped) == (2, 1)
    rows = read_rows(out / "results")
    assert keys_of(rows) == sorted(FIRST_FILE + SECOND_FILE)
    assert {r[B.RUN_ID] for r in rows} == {state.run_id} and report.images_ok == 7
    assert json.loads((out / "summary.json").read_text())["chunks_skipped"] == 1


# --- d. the driver killed while it replaces the manifest -------------------------------------------------------


def test_a_driver_killed_between_the_manifest_delete_and_rename_can_resume(
    spark: SparkSession, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = files_config(photo_folder(tmp_path / "in", PHOTOS[:4]), out, "run: {chunk_files: 2}\n")
    loaded = parse_config(config)
    first = run_on(spark, loaded, build_pipeline(loaded))
    # Recreate, byte for byte, what fs.write_text leaves when the driver dies after its delete, before its
    # rename, while saving "chunk 0 done": a complete manifest.json.tmp and no manifest.json.
    manifest = Path(manifest_path(str(out)))
    state = Manifest.from_json(manifest.read_text())
    state.done = [0]
    Path(f"{manifest}.tmp").write_text(state.to_json())
    for leftover in (manifest, manifest.with_name(f".{manifest.name}.crc"), out / "summary.json"):
        leftover.unlink(missing_ok=True)

    report = run_on(spark, loaded, build_pipeline(loaded), resume=True)
    assert (report.run_id, report.chunks_total, report.chunks_skipped) == (first.run_id, 2, 1)
    assert keys_of(read_rows(out / "results")) == sorted(PHOTOS[:4])
