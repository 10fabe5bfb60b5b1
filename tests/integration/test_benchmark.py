"""The benchmark harness runs end to end, tiny: imgpipe, the parallel limit and the plain loop (no peers, no HBase).

A real `imgpipe run` and real models; it checks that the ratio lines the issue names come out, and that
imgpipe and the parallel limit found the same objects (same stage code, same corpus).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def test_benchmark_smoke_run_prints_the_ratio_lines(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--sizes", "12", "--repeats", "1",
           "--parts", "inference", "--variants", "parallel-limit,imgpipe,python-loop,spark-udf", "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]

    lines = done.stdout.splitlines()
    for label in ("imgpipe ÷ parallel limit: ", "imgpipe ÷ python-loop: ", "imgpipe ÷ spark-udf: "):
        (line,) = [x for x in lines if x.startswith(label)]
        assert float(line[len(label):].split()[0]) > 0, line
    results = json.loads(out.read_text())
    variants = results["sizes"]["12"]
    assert set(variants) == {"parallel-limit", "imgpipe", "python-loop", "spark-udf"}
    assert all(m["images"] == 12 for m in variants.values())
    assert variants["imgpipe"]["objects"] == variants["parallel-limit"]["objects"] > 0
    assert variants["spark-udf"]["objects"] == variants["imgpipe"]["objects"]
    assert 0 < variants["imgpipe"]["session_start_s"] < variants["imgpipe"]["whole_s"]
    assert variants["imgpipe"]["spark_jobs"] >= 1
    assert any(k.startswith("imgpipe ÷ parallel limit") for k in results["ratios"])
    archive = results["jvm_class_archive"]  # which the runs mapped, if any: it moves every figure
    assert archive["path"] is None or archive["bytes"] == Path(archive["path"]).stat().st_size > 0, archive


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


def test_the_task_part_compares_loops_that_find_the_same_objects(tmp_path: Path) -> None:
    """The detector batched (yolox-nano-dynbatch) and decode-ahead must find exactly the default loop's objects:
    the part refuses a run where they differ, so its speed figures compare the same work."""
    out = tmp_path / "task.json"
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--sizes", "12", "--repeats", "1",
           "--parts", "task", "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| variant | images | median s | images/s | ÷ default loop |" in done.stdout
    measured = json.loads(out.read_text())
    assert "task" not in measured["failed"], measured["failed"]
    task = measured["task"]
    assert set(task) == {"default loop", "detect batch 4", "detect batch 8", "decode ahead"}
    assert {m["objects"] for m in task.values()} == {task["default loop"]["objects"]}
    assert task["default loop"]["objects"] > 0 and all(m["images"] == 12 for m in task.values())


def test_against_runs_the_other_trees_imgpipe_in_the_driver_and_the_workers(tmp_path: Path) -> None:
    """``--against DIR`` compares this checkout with another version's package: both the driver and the Spark
    workers of that run must import DIR's imgpipe (a checkout's own folder comes first on ``python -m``'s path)."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "imgpipe", tree / "imgpipe", ignore=shutil.ignore_patterns("__pycache__"))
    marks = tmp_path / "marks"
    marks.mkdir()
    for module in ("cli/__init__.py", "spark/daemon.py"):  # each leaves a mark as it is imported
        path = tree / "imgpipe" / module
        mark = f"open({str(marks / module.replace('/', '.'))!r}, 'w').close()\n"
        main = 'if __name__ == "__main__":'  # the daemon serves forever from here
        path.write_text(path.read_text().replace(main, mark + main) if main in path.read_text() else path.read_text() + mark)
    out = tmp_path / "overhead.json"
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--parts", "overhead", "--overhead-images", "8",
           "--repeats", "1", "--against", str(tree), "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["overhead_against"]["tree"] == str(tree)
    assert results["overhead_against"]["objects"] == results["overhead"]["objects"] > 0
    assert sorted(p.name for p in marks.iterdir()) == ["cli.__init__.py", "spark.daemon.py"]
    assert f"imgpipe from {tree}: " in done.stdout


def test_against_set_runs_this_checkout_with_the_settings_beside_the_defaults(tmp_path: Path) -> None:
    """``--against-set KEY=VALUE`` measures a setting against the defaults in one interleaved run: the other run
    must get the setting (here a higher score threshold, so fewer objects) and this checkout's run must not."""
    out = tmp_path / "overhead.json"
    cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--parts", "overhead", "--overhead-images", "8",
           "--repeats", "1", "--against-set", "detect.score_threshold=0.9", "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    against = results["overhead_against"]
    assert (against["tree"], against["set"]) == ("this checkout", ["detect.score_threshold=0.9"])
    assert against["images"] == results["overhead"]["images"] == 8
    assert against["objects"] < results["overhead"]["objects"], (against, results["overhead"])
    assert "imgpipe from this checkout --set detect.score_threshold=0.9: " in done.stdout


def test_the_gpu_check_runs_with_the_cpu_standing_in_for_cuda(tmp_path: Path) -> None:
    """scripts/bench/gpu.py runs for real only on a GPU machine, which CI has not: this dry run keeps it whole.
    With the CPU in CUDA's place, both sides of the agreement check must find exactly the same objects."""
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, "-m", "bench.gpu", "--images", "8", "--cores", "2", "--calls", "1", "--json", str(out)]
    env = {**os.environ, "IMGPIPE_BENCH_GPU_PROVIDER": "CPUExecutionProvider",
           "PYTHONPATH": os.pathsep.join([str(REPO / "scripts"), str(REPO)])}  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO / "scripts", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    agree = report["agreement"]
    assert agree["problems"] == [] and agree["objects_cpu"] == agree["objects_cuda"] > 0
    assert agree["min_cosine"] > 0.9999 and agree["max_box_px"] == 0.0
    assert {row["batch"] for row in report["model_calls"]} == {1, 8, 32, 128}
    assert {row["search"] for row in report["conv_search"]} == {"EXHAUSTIVE", "HEURISTIC", "DEFAULT"}
    throughput = {name: m for name, m in report["throughput"].items() if name != "failed"}
    assert len(throughput) == 5 and all(m["images"] == 8 for m in throughput.values())
    assert len({m["objects"] for m in throughput.values()}) == 1
