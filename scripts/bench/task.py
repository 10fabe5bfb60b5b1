"""Inside a task: knobs of the per-task loop, each measured as the parallel limit (one process per core,
1 thread each: the condition of a Spark task that owns one core) against the job's default loop.

  default            yolox-nano (batch fixed at 1), decode then infer, batch after batch
  detect batch 4/8   yolox-nano-dynbatch (same weights, dynamic batch; bit-identical output per MODELS.md)
                     run ``detect.batch_size`` images per ONNX call
  decode ahead       the next Arrow batch decoded in a second thread while this one is inferred: OpenCV
                     and ONNX Runtime both release the GIL, so the two overlap wherever a core is free

Every variant must find the same objects as the default; a variant that pays would then be built into
``Pipeline`` (the decode-ahead loop below exists only here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import partial

import pyarrow as pa

from bench import common
from bench.common import Measurement
from bench.limit import parallel_limit
from imgpipe import batch as B
from imgpipe.pipeline import Pipeline, _Row
from imgpipe.timings import StageTimes

DETECT_BATCHES = (4, 8)


@dataclass(frozen=True)
class DecodeAhead(Pipeline):
    """``Pipeline`` whose batches are decoded one batch ahead, in a second thread. Built from the pipeline's own
    steps (``_decode``, ``_infer``, ``_to_arrow``): the same work as ``process``, in another order."""

    def process_all(self, batches: Sequence[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if not batches:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="decode-ahead") as pool:
            ahead = pool.submit(self._decoded, batches[0])
            for i, batch in enumerate(batches):
                rows = ahead.result()
                if i + 1 < len(batches):
                    ahead = pool.submit(self._decoded, batches[i + 1])
                self._infer([r for r in rows if r.decoded is not None], StageTimes())
                yield self._to_arrow(batch, rows)

    def _decoded(self, batch: pa.RecordBatch) -> list[_Row]:
        images = batch.column(B.IMAGE)
        rows = [_Row(key) for key in batch.column(B.KEY).to_pylist()]
        for i, row in enumerate(rows):
            self._decode(row, images[i].as_py())
        return rows


def decode_ahead(pipeline: Pipeline) -> DecodeAhead:
    return DecodeAhead(**{f.name: getattr(pipeline, f.name) for f in fields(pipeline)})


def detect_batched(config: str, batch: int) -> str:
    """The job's config with the dynamic-batch detector at ``batch`` images per call."""
    old = "detect: {model: yolox-nano, "
    assert old in config, config
    return config.replace(old, f"detect: {{model: yolox-nano-dynbatch, batch_size: {batch}, ")


def task_variants(config: str, images: list[tuple[str, bytes]], cores: int) -> dict[str, Callable[[], Measurement]]:
    default = common.build_pipeline_from(config)
    pipelines = {"default loop": default}
    pipelines |= {f"detect batch {n}": common.build_pipeline_from(detect_batched(config, n)) for n in DETECT_BATCHES}
    pipelines["decode ahead"] = decode_ahead(default)
    return {name: partial(parallel_limit, p, images, cores) for name, p in pipelines.items()}


def check_same_objects(measured: dict[str, Measurement]) -> None:
    counts = {name: m["objects"] for name, m in measured.items() if name != "failed"}
    assert len(set(counts.values())) == 1, f"Expected every variant to find the same objects, but got {counts}"
