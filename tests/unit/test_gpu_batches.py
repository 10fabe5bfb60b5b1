"""On a GPU provider every model call sees one batch shape (imgpipe.runtime.sessions.run_chunks).

Measured on an H200 (docs/benchmarks.md, "GPU"): cuDNN picks its kernels again for each new input shape, at
1.3 to 5.7 s per shape, and a task's batches vary in size. These tests stand a CPU session in for a CUDA one
by making it report CUDA first; what they check is the padding, and that it leaves the results unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pytest
from onnx_models import canned_outputs, sha256

from imgpipe.config import parse_config
from imgpipe.pipeline import Pipeline
from imgpipe.preflight import build_pipeline
from imgpipe.runtime.sessions import load_session, pads, run_chunks
from tests.helpers import files_config, photo_paths

CONFIG = files_config(
    "in",
    "out",
    """
detect: {model: yolox-nano-dynbatch, score_threshold: 0.3, batch_size: 8}
crop: {top_k: 3, min_size: 32}
embed: {model: mobilenetv2-int8, batch_size: 16}
run: {max_batch_bytes: 4000000}
""",
)


def photos() -> pa.RecordBatch:
    paths = photo_paths()
    return pa.RecordBatch.from_pydict({"key": [p.name for p in paths], "image": [p.read_bytes() for p in paths]})


def spy_shapes(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Each model input's batch sizes, as the sessions receive them."""
    shapes: dict[str, list[int]] = {}
    real = ort.InferenceSession.run

    def run(
        self: ort.InferenceSession,
        outputs: Any,
        feed: dict[str, Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        for name, value in feed.items():
            shapes.setdefault(name, []).append(int(value.shape[0]))
        return real(self, outputs, feed, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run", run)
    return shapes


def as_if_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ort.InferenceSession,
        "get_providers",
        lambda self: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )


@pytest.fixture
def pipeline() -> Pipeline:
    return build_pipeline(parse_config(CONFIG, "gpu.yaml"), run_id="r").with_threads(1)


def test_on_a_gpu_every_call_has_the_batch_size_and_the_results_do_not_change(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    shapes = spy_shapes(monkeypatch)
    on_cpu = pipeline.process(photos())
    cpu_shapes = {name: list(sizes) for name, sizes in shapes.items()}
    assert len(set(cpu_shapes["images"])) > 1 and len(set(cpu_shapes["input"])) > 1  # the case at hand
    shapes.clear()
    as_if_on_cuda(monkeypatch)
    padded = pipeline.process(photos())
    assert set(shapes["images"]) == {8} and set(shapes["input"]) == {16}
    assert len(shapes["images"]) == len(cpu_shapes["images"])  # padded, not regrouped
    assert padded.to_pylist() == on_cpu.to_pylist()


def test_the_cpu_runs_batches_as_they_come(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = spy_shapes(monkeypatch)
    pipeline.process(photos())
    assert max(shapes["images"]) <= 8 and min(shapes["images"]) < 8  # a padded row costs the CPU a real one


def test_only_outputs_on_the_input_batch_axis_are_padded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutting padded rows off is only right for outputs whose first axis is the input's batch axis."""
    as_if_on_cuda(monkeypatch)
    batched = canned_outputs(tmp_path / "b.onnx", {"out": np.ones((1, 2))}, batch=None)
    session = load_session("b", batched, sha256(batched))
    assert pads(session, "images", ["out"])
    fixed = canned_outputs(tmp_path / "f.onnx", {"out": np.ones((1, 2))}, batch=None)
    model = onnx.load(str(fixed))
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "detections"
    onnx.save(model, str(fixed))
    session = load_session("f", fixed, sha256(fixed))
    assert not pads(session, "images", ["out"])
    (result,) = run_chunks(session, "images", [np.zeros((3, 3, 64, 64), np.float32)], ["out"], pad_to=8)
    assert result["out"].shape == (3, 2)
