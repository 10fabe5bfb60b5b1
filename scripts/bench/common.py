"""What every part of the benchmark shares: paths, the job's model config, measurements, subprocesses."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
SHARED = Path(os.environ.get("IMGPIPE_SHARED", REPO.parent / "shared"))
os.environ.setdefault("IMGPIPE_MODEL_MIRROR", str(SHARED / "models"))

#: The issue's models and crop: YOLOX-Nano, top-3 crops of at least 32 px, MobileNetV2-int8.
MODELS = """
detect: {model: yolox-nano, score_threshold: 0.3}
crop: {top_k: 3, min_size: 32}
embed: {model: mobilenetv2-int8}
"""
#: The plain loop and Spark's own path decode every JPEG at full size, as a script without imgpipe would.
FULL_DECODE = "decode: {reduced_decode_min_side: null}\n"

#: One measurement: ``seconds`` is the figure the rate is computed from; other numbers ride along.
Measurement = dict[str, float]


def config_text(source: str, sink_path: Path | str, extra: str = "") -> str:
    sink = f"sink: {{type: parquet, path: '{sink_path}', mode: overwrite}}\n"
    return source + sink + MODELS + extra


def parquet_source(path: Path) -> str:
    return f"source: {{type: parquet, path: '{path}'}}\n"


def files_source(path: Path) -> str:
    return f"source: {{type: files, path: '{path}'}}\n"


def build_pipeline_from(text: str, threads: int = 0) -> Any:
    """The project's own ``Pipeline`` for a config text, as ``imgpipe run`` builds it."""
    from imgpipe.config import parse_config
    from imgpipe.preflight import build_pipeline

    pipeline = build_pipeline(parse_config(text, "bench.yaml"), run_id="bench")
    return pipeline.with_threads(threads) if threads else pipeline


def interleaved(repeats: int, variants: dict[str, Callable[[], Measurement]]) -> dict[str, Measurement]:
    """Run the variants A B C A B C ... and keep each field's median, so drift hits every variant alike."""
    runs: dict[str, list[Measurement]] = {name: [] for name in variants}
    failed: dict[str, str] = {}
    for round_ in range(repeats):
        for name, fn in variants.items():
            if name in failed:
                continue
            began = time.monotonic()
            try:
                m = fn()
            except Exception as exc:  # one broken variant must not cost the others' measurements
                failed[name] = f"{type(exc).__name__}: {exc}"[-3000:]
                log(f"  [{round_ + 1}/{repeats}] {name} FAILED, dropped from this run: {failed[name]}")
                continue
            m["load1"] = os.getloadavg()[0]  # how busy the shared machine was as the variant finished
            runs[name].append(m)
            log(f"  [{round_ + 1}/{repeats}] {name}: {m['seconds']:.2f} s ({m['images'] / m['seconds']:.1f} img/s)"
                f"  [{time.monotonic() - began:.0f} s]")
    out: dict[str, Any] = {name: medians(ms) for name, ms in runs.items() if ms and name not in failed}
    return {**out, **({"failed": failed} if failed else {})}


def medians(ms: Sequence[Measurement]) -> Measurement:
    keys = [k for k in ms[0] if all(k in m for m in ms)]
    out = {k: float(statistics.median(m[k] for m in ms)) for k in keys}
    out["repeats"] = float(len(ms))
    return out


def object_count(results: Any) -> int:
    """Objects in a results batch or table (the ``objects`` list column), without building Python rows."""
    import pyarrow.compute as pc

    total = pc.sum(pc.list_value_length(results.column("objects"))).as_py()
    return int(total or 0)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def module_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for ``python -m bench.<module>`` in any interpreter: scripts/ on the path."""
    path = os.pathsep.join(p for p in (str(SCRIPTS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def run_json(cmd: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """Run a child that prints one JSON object as its last stdout line; return it and the child's wall time."""
    began = time.monotonic()
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=env or module_env())
    wall = time.monotonic() - began
    if done.returncode != 0:
        raise RuntimeError(f"Expected exit 0 from {' '.join(cmd[:4])} ..., but got {done.returncode}:\n"
                           f"{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"Expected a JSON line on stdout from {' '.join(cmd[:4])} ..., but got:\n{done.stdout[-2000:]}")
    return json.loads(lines[-1]), wall
