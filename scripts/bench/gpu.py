"""The GPU check's measurements without Spark: CUDA against the CPU, for the models and for the ``Pipeline``.

    python -m bench.gpu [--images 1000] [--repeats 1] [--calls 20] [--json out/gpu.json]   (gpu-check.sh runs it)

1. **agreement**: the shared photos through the same ``Pipeline`` on the CPU and on CUDA. The check fails
   (exit 5) unless both find the same objects (each matched by label and overlap: IoU >= 0.95; only objects
   near the score threshold may differ) with embeddings of cosine >= 0.95, and unless the CUDA sessions
   really run on CUDA: ONNX Runtime falls back to the CPU when CUDA cannot start.
2. **model calls**: each model's latency per batch size, on all cores and on CUDA, through ``session.run`` and
   through I/O binding (the input copied once into a device buffer that is reused, outputs bound on the device);
   and the detector's first call per new batch shape under each of cuDNN's algorithm searches.
3. **throughput**: the benchmark corpus through the ``Pipeline``: the CPU parallel limit (one process per core,
   1 thread each), and CUDA in cores, cores/4 and 1 processes (Spark's tasks sharing one GPU); and the
   detector on CUDA with the embedder on the CPU.

The detector is ``yolox-nano-dynbatch`` in every variant, so CUDA gets whole batches and the CPU the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pyarrow as pa

from bench import common
from bench.common import Measurement, log
from bench.corpus import image_bytes, photos
from bench.limit import arrow_batches, parallel_limit

CPU = "CPUExecutionProvider"
#: The provider under test; only a dry run of this script on a machine without a GPU sets it to the CPU's.
CUDA = os.environ.get("IMGPIPE_BENCH_GPU_PROVIDER", "CUDAExecutionProvider")
DEVICE = "cuda" if CUDA == "CUDAExecutionProvider" else "cpu"
DETECT_BATCH = 32
#: What the agreement check allows CUDA: an object within NEAR of the score threshold may differ, and a matched
#: object's embedding may turn by up to this cosine (an int8 embedder's crop moves with a 0.26 px box shift;
#: 0.9796 was measured on an H200). A wrong preprocessing or decoding on one side fails both by far.
NEAR = 0.05
MIN_COSINE = 0.95


def config(providers: str, embed_providers: str | None = None) -> str:
    return (
        common.parquet_source(Path("unused"))
        + "sink: {type: parquet, path: unused}\n"
        + f"detect: {{model: yolox-nano-dynbatch, score_threshold: 0.3, batch_size: {DETECT_BATCH},"
        f" providers: [{providers}]}}\n"
        + "crop: {top_k: 3, min_size: 32}\n"
        + f"embed: {{model: mobilenetv2-int8, batch_size: 64, providers: [{embed_providers or providers}]}}\n"
    )


def pipelines() -> tuple[Any, Any]:
    return common.build_pipeline_from(config(CPU)), common.build_pipeline_from(config(f"{CUDA}, {CPU}"))


# --- 1. agreement ---------------------------------------------------------------------------------------


def agreement(cpu: Any, cuda: Any) -> dict[str, Any]:
    """Each image's CPU objects matched to its CUDA objects of the same label by overlap (near-equal scores may
    swap places), then compared: boxes in pixels and IoU, scores, embeddings' cosine."""
    shots = photos()
    batch = pa.RecordBatch.from_pydict({"key": [p.name for p in shots], "image": [p.read_bytes() for p in shots]})
    on_cpu, on_cuda = cpu.process(batch).to_pylist(), cuda.process(batch).to_pylist()
    active = {stage: list(getattr(cuda, stage)._session().get_providers()) for stage in ("detector", "embedder")}
    out: dict[str, Any] = {"images": len(shots), "sessions": active, "objects_cpu": 0, "objects_cuda": 0,
                           "max_box_px": 0.0, "min_iou": 1.0, "max_score_diff": 0.0,
                           "min_cosine": 1.0}  # fmt: skip
    unmatched: list[tuple[float, str]] = []
    for a, b in zip(on_cpu, on_cuda, strict=True):
        oa, ob = a["objects"] or [], list(b["objects"] or [])
        out["objects_cpu"] += len(oa)
        out["objects_cuda"] += len(ob)
        if a["status"] != b["status"]:
            unmatched.append((1.0, f"{a['key']}: status {a['status']} / {b['status']}"))
        for x in oa:
            same = [y for y in ob if y["label"] == x["label"]]
            if not same:
                unmatched.append((x["score"], f"{a['key']}: {x['label_name']} ({x['score']:.3f}) only on the CPU"))
                continue
            y = max(same, key=lambda y: _iou(_box(x), _box(y)))
            ob.remove(y)
            out["min_iou"] = min(out["min_iou"], _iou(_box(x), _box(y)))
            out["max_box_px"] = max(out["max_box_px"], float(np.abs(_box(x) - _box(y)).max()))
            out["max_score_diff"] = max(out["max_score_diff"], abs(x["score"] - y["score"]))
            ex, ey = np.asarray(x["embedding"], np.float64), np.asarray(y["embedding"], np.float64)
            out["min_cosine"] = min(out["min_cosine"], float(ex @ ey / (np.linalg.norm(ex) * np.linalg.norm(ey))))
        for y in ob:
            unmatched.append((y["score"], f"{a['key']}: {y['label_name']} ({y['score']:.3f}) only on CUDA"))
    out["unmatched"] = [text for _, text in unmatched]
    problems = [f"the {stage}'s session runs on {providers}, not CUDA" for stage, providers in active.items()
                if not providers or providers[0] != CUDA]  # fmt: skip
    # The last bits differ, so an object within NEAR of the score threshold may come or go (or swap a near-tie
    # class): measured on an H200, table.jpg's 0.312 "dining table" was a 0.312 "knife" under CUDA.
    near = cpu.detector.score_threshold + NEAR
    problems += [f"{text}: not near the score threshold" for score, text in unmatched if score >= near]
    if out["min_iou"] < 0.95:
        problems.append(f"a box overlaps its CPU twin by IoU {out['min_iou']:.3f} (>= 0.95 expected)")
    if out["min_cosine"] < MIN_COSINE:
        problems.append(f"an embedding's cosine to its CPU twin is {out['min_cosine']:.4f} (>= {MIN_COSINE} expected)")
    out["problems"] = problems
    return out


def _box(obj: dict[str, Any]) -> np.ndarray:
    return np.array([obj["box"][k] for k in ("x1", "y1", "x2", "y2")], np.float64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 1.0


# --- 2. model calls -------------------------------------------------------------------------------------


def model_calls(cpu: Any, cuda: Any, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for stage, sizes in (("detector", (1, 8, 32)), ("embedder", (1, 32, 128))):
        cpu_session = getattr(cpu, stage).with_threads(0)._session()
        cuda_session = getattr(cuda, stage)._session()
        for size in sizes:
            row: dict[str, Any] = {"model": getattr(cpu, stage).name, "batch": size}
            row["cpu_ms"] = _latency(lambda x, s=cpu_session: _run(s, x), cpu_session, size, repeats)[1]
            row["cuda_first_ms"], row["cuda_ms"] = _latency(lambda x, s=cuda_session: _run(s, x), cuda_session,
                                                            size, repeats)  # fmt: skip
            row["cuda_bound_ms"] = _latency(_bound(cuda_session, size), cuda_session, size, repeats)[1]
            rows.append(row)
            log(
                f"  {row['model']} batch {size}: cpu {row['cpu_ms']:.2f} ms, cuda {row['cuda_ms']:.2f} ms "
                f"(first {row['cuda_first_ms']:.1f}), cuda bound {row['cuda_bound_ms']:.2f} ms"
            )
    return rows


def conv_search(cuda: Any, repeats: int) -> list[dict[str, Any]]:
    """The detector under each of cuDNN's algorithm searches: the first call per new batch shape, then steady."""
    detector = cuda.detector
    data = detector.model.local_path().read_bytes()
    rows = []
    for mode in ("EXHAUSTIVE", "HEURISTIC", "DEFAULT"):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(data, options, providers=[(CUDA, {"cudnn_conv_algo_search": mode}), CPU])
        for size in (1, 9, 32):
            first, steady = _latency(lambda x, s=session: _run(s, x), session, size, repeats)
            rows.append({"search": mode, "batch": size, "first_ms": first, "ms": steady})
            log(f"  cudnn_conv_algo_search {mode} batch {size}: first call {first:.1f} ms, then {steady:.2f} ms")
    return rows


def _input(session: ort.InferenceSession, size: int) -> np.ndarray:
    shape = [size, *(int(d) for d in session.get_inputs()[0].shape[1:])]
    return np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)


def _run(session: ort.InferenceSession, x: np.ndarray) -> list[np.ndarray]:
    return session.run(None, {session.get_inputs()[0].name: x})  # type: ignore[no-any-return]


def _bound(session: ort.InferenceSession, size: int) -> Any:
    """A call through I/O binding: one device buffer for the input, refilled per call; outputs on the device."""
    device = ort.OrtValue.ortvalue_from_numpy(_input(session, size), DEVICE, 0)
    binding = session.io_binding()
    binding.bind_ortvalue_input(session.get_inputs()[0].name, device)
    for output in session.get_outputs():
        binding.bind_output(output.name, DEVICE, 0)

    def call(x: np.ndarray) -> list[np.ndarray]:
        device.update_inplace(x)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()  # type: ignore[no-any-return]

    return call


def _latency(call: Any, session: ort.InferenceSession, size: int, repeats: int) -> tuple[float, float]:
    """(first call, median of the next ``repeats``) in milliseconds."""
    x = _input(session, size)
    times = []
    for _ in range(repeats + 1):
        began = time.perf_counter()
        call(x)
        times.append((time.perf_counter() - began) * 1000)
    return times[0], statistics.median(times[1:])


# --- 3. throughput --------------------------------------------------------------------------------------


def in_process(pipeline: Any, images: list[tuple[str, bytes]]) -> Measurement:
    batches = arrow_batches(images)
    pipeline.process(batches[0].slice(0, 1))
    began = time.monotonic()
    outs = [pipeline.process(b) for b in batches]
    seconds = time.monotonic() - began
    return {"seconds": seconds, "images": float(sum(o.num_rows for o in outs)),
            "objects": float(sum(common.object_count(o) for o in outs))}  # fmt: skip


def throughput(cpu: Any, cuda: Any, count: int, cores: int, repeats: int) -> dict[str, Measurement]:
    images = image_bytes(count)
    quarter = max(cores // 4, 1)
    # The int8 embedder's quantised convolutions have no CUDA kernels: its CUDA session runs them on the CPU
    # between copies, so one variant keeps the embedder on the CPU outright.
    mixed = common.build_pipeline_from(config(f"{CUDA}, {CPU}", embed_providers=CPU))
    return common.interleaved(repeats, {
        f"cpu, {cores} processes x 1 thread (parallel limit)": lambda: parallel_limit(cpu, images, cores),
        f"cuda, {cores} processes x 1 thread": lambda: parallel_limit(cuda, images, cores),
        f"cuda detector + cpu embedder, {cores} processes x 1 thread": lambda: parallel_limit(mixed, images, cores),
        f"cuda, {quarter} processes x 1 thread": lambda: parallel_limit(cuda, images, quarter),
        "cuda, 1 process": lambda: in_process(cuda.with_threads(1), images),
    })  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1000, help="throughput corpus size")
    p.add_argument("--repeats", type=int, default=1, help="throughput rounds")
    p.add_argument("--calls", type=int, default=20, help="timed calls per model and batch size")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", type=Path, help="write every figure here")
    args = p.parse_args()
    log(f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}, {args.cores} cores")
    if CUDA not in ort.get_available_providers():
        log("bench.gpu: this onnxruntime has no CUDA provider (install onnxruntime-gpu); nothing to measure")
        sys.exit(4)
    cpu, cuda = pipelines()
    report: dict[str, Any] = {"onnxruntime": ort.__version__, "cores": args.cores}
    log("agreement (the shared photos, CPU against CUDA):")
    report["agreement"] = agree = agreement(cpu, cuda)
    log(json.dumps(agree))
    log("model calls (ms per call; the CUDA sessions as imgpipe makes them):")
    report["model_calls"] = model_calls(cpu, cuda, repeats=args.calls)
    log("the detector's first call per batch shape under each cuDNN algorithm search:")
    report["conv_search"] = conv_search(cuda, repeats=max(args.calls // 2, 1))
    log(f"throughput ({args.images} images, {args.repeats} interleaved rounds):")
    report["throughput"] = measured = throughput(cpu, cuda, args.images, args.cores, args.repeats)
    limit = measured[f"cpu, {args.cores} processes x 1 thread (parallel limit)"]
    for name, m in measured.items():
        if name != "failed":
            print(f"{name}: {m['images'] / m['seconds']:.1f} img/s, {m['objects']:.0f} objects, "
                  f"÷ cpu parallel limit: {limit['seconds'] / m['seconds']:.2f}")  # fmt: skip
    for problem in agree["problems"]:
        print(f"agreement problem: {problem}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    print(
        json.dumps(
            {
                "agreement_ok": not agree["problems"],
                **{k: report[k] for k in ("onnxruntime", "cores")},
            }
        )
    )
    sys.exit(5 if agree["problems"] else 0)


if __name__ == "__main__":
    main()
