"""imgpipe as a user runs it: ``imgpipe run CONFIG`` in its own process, timed from outside and inside.

Figures of one run (all seconds):
- ``seconds``: imgpipe's own wall time from its run report (``summary.json`` ``wall_seconds``: planning,
  every chunk, commits, counts, errors, summary), which starts after the Spark session is up;
- ``whole_s``: the whole process by the wall clock (Python start, imports, model checks, session start,
  the run, session stop);
- ``session_start_s``: the Spark session start inside that process (bench/imgpipe_cli.py times it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from bench.common import SCRIPTS, Measurement, module_env, object_count
from bench.procs import TreeSampler


def class_archive() -> dict[str, Any]:
    """The local JVM's class archive the imgpipe runs will map (``imgpipe.spark.classcache``). Without one, the
    first run writes it as its JVM exits, inside that run's whole-process time; one written by a JVM that had
    loaded little (as earlier versions kept) made every run 0.4-0.7 s slower. So a result names it."""
    from imgpipe.spark.classcache import class_cache
    from imgpipe.spark.session import LOCAL_JVM_OPTIONS

    found = class_cache(LOCAL_JVM_OPTIONS, write=False)
    if found is None:
        return {"path": None}
    return {"path": str(found.archive), "bytes": found.archive.stat().st_size}


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def imgpipe_run(
    config: Path,
    sink: Path,
    *,
    master: str = "local[2]",
    timeout: float = 3600,
    sample: bool = False,
    tree: Path | None = None,
    sets: list[str] | None = None,
) -> Measurement:
    """One ``imgpipe run`` process; with ``sample`` also its CPU by role and its workers' peak RSS.
    ``tree``: a folder holding another version's ``imgpipe`` package, run instead of this checkout's (its driver
    and, through the inherited PYTHONPATH, its local Spark workers); ``sets``: config overrides (``--set``)."""
    timings_path = config.with_suffix(".timings.json")
    cmd = [sys.executable, "-m", "bench.imgpipe_cli", str(timings_path), "run", str(config),
           "--set", f"spark.master={master}", *(a for kv in sets or [] for a in ("--set", kv))]  # fmt: skip
    began = time.monotonic()
    env = module_env() if tree is None else module_env({"PYTHONPATH": os.pathsep.join([str(tree), str(SCRIPTS)])})
    # ``python -m`` puts its working folder first on sys.path: in the tree, its imgpipe is the one imported.
    child = subprocess.Popen(cmd, env=env, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(child.pid).start() if sample else None
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except BaseException:
        child.kill()  # its Spark JVM exits with it
        child.wait()
        raise
    finally:
        if sampler is not None:
            sampler.stop()
    whole = time.monotonic() - began
    if child.returncode != 0:
        raise RuntimeError(f"Expected imgpipe run to exit 0, but it exited {child.returncode}:\n{stderr[-3000:]}")
    summary = json.loads((sink / "summary.json").read_text())
    assert summary["images_failed"] == 0, f"Expected no failed images, but got {summary['errors_by_reason']}"
    timings = json.loads(timings_path.read_text())
    m: Measurement = {
        "seconds": float(summary["wall_seconds"]),
        "images": float(summary["images_read"]),
        "whole_s": whole,
        "session_start_s": timings["session_start_s"],
        "run_on_s": timings["run_on_s"],
        "before_session_s": timings["before_session_s"],
        "after_run_s": whole - timings["after_run_on_at_s"],
        "spark_jobs": timings["spark_jobs"],
        "spark_stages": timings["spark_stages"],
        "read_tasks": float(summary["read_tasks"]),
        "chunks": float(summary["chunks_total"]),
    }
    results = ds.dataset(str(sink / "results"), format="parquet", partitioning="hive")
    m["objects"] = float(object_count(results.to_table(columns=["objects"])))
    m.update(phases(stderr))
    if sampler is not None:
        m.update({f"cpu {role} s": s for role, s in sampler.cpu_by_role().items()})
        m["peak_worker_rss_mib"] = sampler.peak_worker_rss / 2**20
        m["peak_tree_rss_mib"] = sampler.peak_tree_rss / 2**20
    return m


def phases(log: str) -> Measurement:
    """The phase times imgpipe logs: planning, each chunk (summed), the report phase."""
    out: Measurement = {}
    if m := re.search(r"planned \d+ read units in \d+ chunks in ([\d.]+)s", log):
        out["plan_s"] = float(m.group(1))
    chunks = [float(x) for x in re.findall(r"chunk \d+/\d+: \d+ read tasks in ([\d.]+)s", log)]
    if chunks:
        out["chunks_s"] = sum(chunks)
    if m := re.search(r"report \(counts, errors, summary\) in ([\d.]+)s", log):
        out["report_s"] = float(m.group(1))
    return out
