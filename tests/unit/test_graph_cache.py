"""Edited models kept on disk: made once, read back unchanged, never loaded when damaged, and no onnx import."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from onnx_models import quantized_embedder, sha256

from imgpipe.errors import ModelError
from imgpipe.runtime import graph_cache
from imgpipe.runtime.graph import ExposedTensor, expose_tensors

DEQUANTIZED = [ExposedTensor("feat_q", "feat_scale", "feat_zp")]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IMGPIPE_MODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "exposed"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return quantized_embedder(tmp_path / "q.onnx", 0.5, 3)


def no_edits(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> bytes:
        raise AssertionError("edited again")

    monkeypatch.setattr(graph_cache, "expose_tensors", refuse)


def test_an_edit_is_made_once_and_read_back(cache: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = model.read_bytes()
    first = graph_cache.exposed_model("q", data, sha256(model), DEQUANTIZED)
    assert first == expose_tensors("q", data, DEQUANTIZED)
    assert [p.name.startswith(sha256(model)) for p in cache.iterdir()] == [True]
    no_edits(monkeypatch)
    assert graph_cache.exposed_model("q", data, sha256(model), DEQUANTIZED) == first


def test_another_edit_of_the_same_model_is_kept_apart(cache: Path, model: Path) -> None:
    data = model.read_bytes()
    dequantized = graph_cache.exposed_model("q", data, sha256(model), DEQUANTIZED)
    raw = graph_cache.exposed_model("q", data, sha256(model), [ExposedTensor("feat_q")])
    assert raw != dequantized and len(list(cache.iterdir())) == 2


def test_a_damaged_file_is_edited_anew_not_loaded(
    cache: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = model.read_bytes()
    good = graph_cache.exposed_model("q", data, sha256(model), DEQUANTIZED)
    (kept,) = cache.iterdir()
    kept.write_bytes(good[: len(good) // 2])
    with caplog.at_level(logging.WARNING, "imgpipe.runtime"):
        assert graph_cache.exposed_model("q", data, sha256(model), DEQUANTIZED) == good
    assert "does not hold what its name says" in caplog.text
    assert kept.read_bytes() == good


def test_a_cache_that_cannot_be_written_still_gives_the_edit(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("IMGPIPE_MODEL_CACHE", str(tmp_path / "a-file"))
    data = model.read_bytes()
    assert graph_cache.exposed_model("q", data, sha256(model), DEQUANTIZED) == expose_tensors("q", data, DEQUANTIZED)


def test_an_edit_that_fails_is_not_kept(cache: Path, model: Path) -> None:
    with pytest.raises(ModelError, match="no_such_tensor"):
        graph_cache.exposed_model("q", model.read_bytes(), sha256(model), [ExposedTensor("no_such_tensor")])
    assert not cache.exists() or not list(cache.iterdir())


def test_a_run_after_the_first_never_imports_onnx(cache: Path, model: Path) -> None:
    # onnx's import (with ml_dtypes 0.7) cost each driver and each worker daemon 0.55 s of a run's start.
    script = f"""
import sys
import imgpipe.job.run, imgpipe.spark.daemon
from imgpipe.runtime.graph import ExposedTensor
from imgpipe.runtime.sessions import load_session
exposed = [ExposedTensor("feat_q", "feat_scale", "feat_zp")]
session = load_session("q", {str(model)!r}, {sha256(model)!r}, expose=exposed)
assert "imgpipe_exposed:feat_q" in [o.name for o in session.get_outputs()]
print("onnx" in sys.modules)
"""
    env = {**os.environ, "IMGPIPE_MODEL_CACHE": str(cache.parent)}

    def onnx_imported() -> str:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert onnx_imported() == "True"  # the first run edits the model
    assert onnx_imported() == "False"
