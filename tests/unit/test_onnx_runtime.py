"""ONNX Runtime sessions: one per process per (path, sha, options), provider fallback, sha check at load."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx_models import canned_outputs, quantized_embedder, sha256

from imgpipe.errors import ModelError
from imgpipe.runtime import sessions as rt
from imgpipe.runtime.graph import expose_tensors
from imgpipe.runtime.graph import ExposedTensor
from imgpipe.runtime.sessions import SessionCache, load_session


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return canned_outputs(tmp_path / "m.onnx", {"out": np.ones((1, 2))})


def test_sessions_are_loaded_once_and_reused(model: Path) -> None:
    first = load_session("m", model, sha256(model), threads=1)
    assert load_session("m", str(model), sha256(model), threads=1) is first
    assert load_session("m", model, sha256(model), threads=2) is not first


def test_cache_evicts_the_least_recently_used() -> None:
    cache = SessionCache(capacity=2)
    loads: list[str] = []

    def loader(key: str) -> object:
        loads.append(key)
        return object()

    for key in ["a", "b", "a", "c", "a", "b"]:
        cache.get(key, lambda key=key: loader(key))  # type: ignore[misc]
    assert loads == ["a", "b", "c", "b"] and len(cache) == 2


def test_wrong_sha_is_refused_at_load(model: Path) -> None:
    with pytest.raises(ModelError, match=r"model 'm': expected sha256 f{64}, but .*m.onnx has"):
        load_session("m", model, "f" * 64)


def test_unreadable_model_is_a_model_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk")
    with pytest.raises(ModelError, match=r"model 'junk' .* cannot be loaded by ONNX Runtime"):
        load_session("junk", junk, sha256(junk))


def test_unavailable_providers_fall_back_to_cpu_with_one_log_line(
    model: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rt, "_warned_providers", set())
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    with caplog.at_level(logging.WARNING, logger="imgpipe.runtime"):
        for threads in (1, 2):
            session = load_session("m", model, sha256(model), providers=wanted, threads=threads)
            assert session.get_providers() == ["CPUExecutionProvider"]
    records = [r for r in caplog.records if r.name == "imgpipe.runtime"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert records == []
    else:
        assert len(records) == 1 and "CUDAExecutionProvider" in records[0].getMessage()


def test_only_unavailable_providers_still_run_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "_warned_providers", set())
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert rt.usable_providers(["TensorrtExecutionProvider"]) == ["CPUExecutionProvider"]


def test_a_provider_that_cannot_start_is_reported_once_per_model(
    model: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime-gpu lists CUDA as available even where it cannot start (no GPU, no cuDNN): ONNX Runtime
    then runs the model on the CPU, and imgpipe must say so rather than pass it over in silence."""
    monkeypatch.setattr(rt, "_warned_fallbacks", set())
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    with caplog.at_level(logging.WARNING, logger="imgpipe.runtime"), warnings.catch_warnings():
        if "CUDAExecutionProvider" not in ort.capi._pybind_state.get_available_providers():
            warnings.simplefilter("ignore", UserWarning)  # ORT's own note that this build lacks CUDA
        sessions = [load_session("m", model, sha256(model), providers=wanted, threads=t) for t in (1, 2)]
    active = sessions[0].get_providers()
    records = [r.getMessage() for r in caplog.records if r.name == "imgpipe.runtime"]
    if active[0] == "CUDAExecutionProvider":
        assert records == []
    else:
        assert len(records) == 1, records
        assert "model 'm'" in records[0] and "CUDAExecutionProvider could not start" in records[0]
        assert "running on CPUExecutionProvider" in records[0]


def test_expose_needs_opset_10_to_dequantize(tmp_path: Path) -> None:
    import onnx

    path = quantized_embedder(tmp_path / "q.onnx", 1.0, 0)
    model = onnx.load(str(path))
    model.opset_import[0].version = 9
    with pytest.raises(ModelError, match=r"'q': expected opset >= 10.*opset 9"):
        expose_tensors("q", model.SerializeToString(), [ExposedTensor("feat_q", "feat_scale", "feat_zp")])


def test_exposed_output_keeps_the_original_outputs(tmp_path: Path) -> None:
    path = quantized_embedder(tmp_path / "q.onnx", 1.0, 0)
    item = ExposedTensor("feat_q", "feat_scale", "feat_zp")
    session = load_session("q", path, sha256(path), expose=[item])
    assert [o.name for o in session.get_outputs()] == ["logits", item.output_name]
