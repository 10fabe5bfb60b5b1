"""Embed stage: embeddings from graph outputs and from an internal int8 tensor, batching, L2 norm, float16."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from onnx_models import pooled_embedder, quantized_embedder, resolved, spec

from imgpipe.config.inference import EmbedConfig, ModelSpec
from imgpipe.errors import ModelError
from imgpipe.runtime.sessions import load_session
from imgpipe.stages.embed import Embedder

SCALE, ZERO_POINT = 3.0, 10


def raw_spec(**embedding: object) -> ModelSpec:
    # exact resize, BGR, no normalisation: the model sees the pixel values themselves
    return spec(adapter="embedding", input={"size": [8, 8], "channels": "bgr", "resize": "exact"}, embedding=embedding)


def flat(b: int, g: int, r: int, h: int = 8, w: int = 8) -> np.ndarray:
    return np.tile(np.array([b, g, r], np.uint8), (h, w, 1))


def quantized(tmp_path: Path, batch: int | None = None) -> Embedder:
    path = quantized_embedder(tmp_path / f"q{batch}.onnx", SCALE, ZERO_POINT, batch=batch)
    model = resolved(path, raw_spec(tensor="feat_q", scale="feat_scale", zero_point="feat_zp"))
    return Embedder.from_config(EmbedConfig(model=str(path), batch_size=2), model)


def test_internal_int8_tensor_is_exposed_and_dequantized(tmp_path: Path) -> None:
    embedder = quantized(tmp_path)
    # channel means 10, 100, 200 quantize to round(v / 3) + 10 = 13, 43, 77 -> (q - 10) * 3 = 9, 99, 201
    m = embedder.model
    session = load_session(m.name, m.path, m.sha256, expose=m.exposed)
    tensor = np.tile(np.array([10, 100, 200], np.float32)[None, :, None, None], (1, 1, 8, 8))
    (value,) = session.run([m.exposed[0].output_name], {"images": tensor})
    np.testing.assert_array_equal(value, [[9, 99, 201]])
    expected = np.array([9, 99, 201], np.float32) / np.linalg.norm([9, 99, 201])
    np.testing.assert_allclose(embedder([flat(10, 100, 200)]), [expected], rtol=1e-6)
    assert embedder.dim == 3


def test_batched_crops_keep_their_order(tmp_path: Path) -> None:
    crops = [flat(30, 0, 0), flat(0, 30, 0), flat(0, 0, 30, h=5, w=11)]
    vectors = quantized(tmp_path)(crops)
    np.testing.assert_allclose(vectors, np.eye(3), atol=1e-6)
    assert vectors.dtype == np.float32


def test_fixed_batch_embedder_runs_one_crop_at_a_time(tmp_path: Path) -> None:
    embedder = quantized(tmp_path, batch=1)
    assert embedder.model.batch == 1
    np.testing.assert_allclose(embedder([flat(30, 0, 0), flat(0, 0, 30)]), [[1, 0, 0], [0, 0, 1]], atol=1e-6)


def test_graph_output_pooled_features_flattened(tmp_path: Path) -> None:
    path = pooled_embedder(tmp_path / "pool.onnx")
    embedder = Embedder(resolved(path, raw_spec(output="features")), dtype="float16")
    vectors = embedder([flat(3, 4, 0), flat(0, 0, 0)])
    assert vectors.dtype == np.float16 and vectors.shape == (2, 3)
    np.testing.assert_allclose(vectors.astype(np.float32), [[0.6, 0.8, 0], [0, 0, 0]], atol=1e-3)


def test_float_internal_tensor_without_quantization(tmp_path: Path) -> None:
    path = quantized_embedder(tmp_path / "q.onnx", SCALE, ZERO_POINT)
    embedder = Embedder(resolved(path, raw_spec(tensor="pooled")))
    np.testing.assert_allclose(embedder([flat(0, 3, 4)]), [[0, 0.6, 0.8]], atol=1e-6)


def test_unknown_internal_tensor_names_model_and_suggests(tmp_path: Path) -> None:
    path = quantized_embedder(tmp_path / "q.onnx", SCALE, ZERO_POINT)
    with pytest.raises(ModelError, match=r"'tiny'.*'feat_qq'.*Did you mean.*'feat_q'"):
        resolved(path, raw_spec(tensor="feat_qq", scale="feat_scale", zero_point="feat_zp"))


def test_missing_graph_output_names_model(tmp_path: Path) -> None:
    path = pooled_embedder(tmp_path / "pool.onnx")
    with pytest.raises(ModelError, match=r"'tiny'.*'feats'"):
        resolved(path, raw_spec(output="feats"))


def test_no_crops_gives_an_empty_matrix(tmp_path: Path) -> None:
    assert quantized(tmp_path)([]).shape == (0, 3)


def test_embedder_pickles(tmp_path: Path) -> None:
    embedder = quantized(tmp_path).with_threads(2)
    copy = pickle.loads(pickle.dumps(embedder))
    assert copy.intra_op_threads == 2
    np.testing.assert_allclose(copy([flat(30, 0, 0)]), [[1, 0, 0]], atol=1e-6)


def test_embedding_spec_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        raw_spec(output="a", tensor="b")
    with pytest.raises(ValueError, match="embedding section"):
        spec(adapter="embedding", input={"size": [8, 8]})
