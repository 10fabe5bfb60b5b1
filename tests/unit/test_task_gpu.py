"""A task that Spark gave a GPU runs its CUDA sessions on that GPU (imgpipe.spark.devices, runtime.sessions).

Local mode assigns no GPUs (a task asking for one is never scheduled), so these tests stand a fake task context
in for an executor's: Spark's ``TaskContext.resources()`` maps "gpu" to its ``ResourceInformation``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pytest
from onnx_models import canned_outputs, sha256
from pyspark import TaskContext
from pyspark.resource import ResourceInformation
from pyspark.sql.types import LongType, StructField, StructType

from imgpipe.runtime import sessions
from imgpipe.spark import devices, warmup
from imgpipe.spark.fused import fused_pass

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


class FakeTask:
    def __init__(self, addresses: list[str] | None) -> None:
        self._resources = {"gpu": ResourceInformation("gpu", addresses)} if addresses is not None else {}

    def resources(self) -> dict[str, ResourceInformation]:
        return self._resources


def in_task(monkeypatch: pytest.MonkeyPatch, addresses: list[str] | None) -> None:
    monkeypatch.setattr(TaskContext, "get", classmethod(lambda cls: FakeTask(addresses)))


@pytest.mark.parametrize(("addresses", "expected"), [(["3"], 3), (["1", "2"], 1), ([], None), (None, None)])
def test_the_task_gpu_is_its_first_address(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str] | None, expected: int | None
) -> None:
    in_task(monkeypatch, addresses)
    assert devices.task_gpu() == expected


def test_outside_a_task_there_is_no_gpu() -> None:
    assert devices.task_gpu() is None


def test_an_address_that_is_not_an_index_is_named(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    in_task(monkeypatch, ["GPU-8f2c"])
    with caplog.at_level(logging.WARNING, logger="imgpipe.spark"):
        assert devices.task_gpu() is None
    assert "'GPU-8f2c'" in caplog.text and "discovery script" in caplog.text


def test_cuda_sessions_take_the_device_and_are_kept_per_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = canned_outputs(tmp_path / "m.onnx", {"out": np.ones((1, 2))})
    given: list[Any] = []
    real = ort.InferenceSession

    def recording(data: bytes, sess_options: Any = None, providers: Any = None) -> Any:
        given.append(providers)
        return real(data, sess_options=sess_options, providers=[CPU])

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", recording)
    monkeypatch.setattr(sessions, "_warned_fallbacks", {("m", CUDA)})  # the stand-in runs on the CPU
    with sessions.on_device(1):
        first = sessions.load_session("m", model, sha256(model), providers=(CUDA, CPU), threads=1)
        assert sessions.load_session("m", model, sha256(model), providers=(CUDA, CPU), threads=1) is first
    with sessions.on_device(0):
        assert sessions.load_session("m", model, sha256(model), providers=(CUDA, CPU), threads=1) is not first
    assert given[0] == [(CUDA, {"cudnn_conv_algo_search": "HEURISTIC", "device_id": "1"}), (CPU, {})]
    assert given[1][0] == (CUDA, {"cudnn_conv_algo_search": "HEURISTIC", "device_id": "0"})
    assert len(given) == 2 and sessions._device is None


def test_cpu_sessions_ignore_the_device(tmp_path: Path) -> None:
    model = canned_outputs(tmp_path / "c.onnx", {"out": np.ones((1, 2))})
    with sessions.on_device(1):
        first = sessions.load_session("c", model, sha256(model), threads=1)
    assert sessions.load_session("c", model, sha256(model), threads=1) is first


def test_the_fused_pass_runs_each_task_on_its_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function Spark runs per task sets the task's GPU for the whole pass, and restores it after."""
    seen: list[int | None] = []

    class Run:
        def output_schema(self, input_schema: pa.Schema) -> pa.Schema:
            return input_schema

        def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                seen.append(sessions._device)
                yield batch

    class Frame:
        schema = StructType([StructField("n", LongType())])

        def mapInArrow(self, fn: Any, schema: Any) -> Any:  # noqa: N802 - pyspark's name
            self.fn = fn
            return self

    frame = Frame()
    fused_pass(frame, Run())  # type: ignore[arg-type]
    batch = pa.RecordBatch.from_pydict({"n": [1, 2]})
    in_task(monkeypatch, ["2"])
    assert list(frame.fn(iter([batch, batch]))) == [batch, batch]
    assert seen == [2, 2] and sessions._device is None


def test_the_warm_up_loads_the_sessions_of_its_task_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warmed on the default device, a worker's sessions would not be the ones its tasks on GPU 2 look up (and
    each would hold a CUDA context on GPU 0)."""
    seen: list[int | None] = []

    class Pipeline:
        def warm(self) -> None:
            seen.append(sessions._device)

    class Job:
        def __init__(self, fn: Any = None) -> None:
            self.fn = fn

        def mapPartitions(self, fn: Any) -> Job:  # noqa: N802 - pyspark's name
            return Job(fn)

        def collect(self) -> list[int]:
            return list(self.fn(iter([0])))

    class Context:
        defaultParallelism = 1
        environment: dict[str, str] = {}

        def parallelize(self, data: Any, slices: int) -> Job:
            return Job()

    class Session:
        sparkContext = Context()
        conf = {"spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled": "true"}

    in_task(monkeypatch, ["2"])
    warmup.warm_workers(Session(), Pipeline()).join(timeout=10)  # type: ignore[arg-type]
    assert seen == [2] and sessions._device is None
