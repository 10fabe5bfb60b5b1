"""The benchmark harness runs end to end, tiny: imgpipe, the parallel limit and the plain loop (no peers, no HBase).

A real `imgpipe run` and real models; it checks that the ratio lines the issue names come out, and that
imgpipe and the parallel limit found the same objects (same stage code, same corpus).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def test_benchmark_smoke_run_prints_the_ratio_lines(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--sizes", "12", "--repeats", "1",
           "--parts", "inference", "--variants", "parallel-limit,imgpipe,python-loop", "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]

    lines = done.stdout.splitlines()
    for label in ("imgpipe ÷ parallel limit: ", "imgpipe ÷ python-loop: "):
        (line,) = [x for x in lines if x.startswith(label)]
        assert float(line[len(label):].split()[0]) > 0, line
    results = json.loads(out.read_text())
    variants = results["sizes"]["12"]
    assert set(variants) == {"parallel-limit", "imgpipe", "python-loop"}
    assert all(m["images"] == 12 for m in variants.values())
    assert variants["imgpipe"]["objects"] == variants["parallel-limit"]["objects"] > 0
    assert 0 < variants["imgpipe"]["session_start_s"] < variants["imgpipe"]["whole_s"]
    assert variants["imgpipe"]["spark_jobs"] >= 1
    assert any(k.startswith("imgpipe ÷ parallel limit") for k in results["ratios"])


def test_the_cpu_part_tells_the_jvm_from_the_python_workers(tmp_path: Path) -> None:
    """spark-submit's bash names imgpipe.spark.daemon in its arguments before it execs java: the JVM was once
    counted as a Python worker (its CPU and its heap as worker RSS)."""
    out = tmp_path / "cpu.json"
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--sizes", "12", "--repeats", "1",
           "--parts", "cpu", "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    sampled = json.loads(out.read_text())["cpu"]["imgpipe (sampled)"]
    assert sampled["cpu JVM s"] > 0.5 and sampled["cpu Python workers s"] > 0.5, sampled
    assert sampled["peak_worker_rss_mib"] < sampled["peak_tree_rss_mib"] / 2, sampled
