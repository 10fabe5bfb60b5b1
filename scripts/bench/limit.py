"""The parallel limit: the project's ``Pipeline`` in one plain process per core, 1 thread each, no engine.

Each process loads its share of the corpus into memory and runs its models once before the clock
starts; then all start together on Arrow batches of in-memory bytes. The figure is the time from the
start signal until the last process is done.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import pyarrow as pa

from bench.common import Measurement, object_count

BATCH_ROWS = 32  # imgpipe's spark.max_records_per_batch default


def arrow_batches(images: list[tuple[str, bytes]]) -> list[pa.RecordBatch]:
    """(key, bytes) pairs as Arrow batches of BATCH_ROWS rows, as a Spark task receives them."""
    return [
        pa.RecordBatch.from_pydict({"key": [k for k, _ in chunk], "image": [d for _, d in chunk]})
        for chunk in (images[i : i + BATCH_ROWS] for i in range(0, len(images), BATCH_ROWS))
    ]


def _worker(pipeline: Any, images: list[tuple[str, bytes]], ready: Any, go: Any, done: Any) -> None:
    import cv2

    cv2.setNumThreads(1)  # what Pipeline.__call__ does in a Spark task with threads=1
    batches = arrow_batches(images)
    pipeline.process(batches[0].slice(0, 1))  # load the ONNX sessions outside the clock
    ready.put(1)
    go.wait()
    rows = objects = 0
    # A variant of the task loop (bench/task.py) may take the batches as a whole.
    outs = pipeline.process_all(batches) if hasattr(pipeline, "process_all") else map(pipeline.process, batches)
    for out in outs:
        rows += out.num_rows
        objects += object_count(out)
    done.put((time.monotonic(), rows, objects))


def parallel_limit(pipeline: Any, images: list[tuple[str, bytes]], cores: int) -> Measurement:
    ctx = mp.get_context("spawn")
    ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    single = pipeline.with_threads(1)
    # Interleaved shares, so each process gets the same mix of 800/1600/3000 px images.
    procs = [ctx.Process(target=_worker, args=(single, images[i::cores], ready, go, done)) for i in range(cores)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=600)
    start = time.monotonic()
    go.set()
    results = [done.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    rows = sum(r[1] for r in results)
    assert rows == len(images), f"Expected {len(images)} result rows, but got {rows}"
    return {"seconds": max(r[0] for r in results) - start, "images": float(rows),
            "objects": float(sum(r[2] for r in results))}  # fmt: skip
