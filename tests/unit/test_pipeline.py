"""The fused pass on plain Arrow batches, without Spark: one output row per input row, always."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest

from imgpipe import batch as B
from imgpipe.config import parse_config
from imgpipe.config.sections import DecodeConfig
from imgpipe.pipeline import Pipeline
from imgpipe.preflight import build_pipeline
from tests.helpers import MODELS_YAML, SHARED_IMAGES, encode, files_config, gradient

JOB_YAML = files_config("/tmp", "/tmp/out", MODELS_YAML)


def arrow_batch(items: dict[str, bytes | None], **extra: list[object]) -> pa.RecordBatch:
    cols = {B.KEY: pa.array(list(items), pa.string()), B.IMAGE: pa.array(list(items.values()), pa.binary())}
    cols.update({name: pa.array(values) for name, values in extra.items()})
    return pa.RecordBatch.from_pydict(cols)


def test_decode_only_pipeline_keeps_every_row_and_passthrough() -> None:
    batch = arrow_batch(
        {"good.png": encode(gradient()), "empty.jpg": b"", "text.jpg": b"just text", "null": None},
        sku=["a", "b", "c", "d"],
    )
    pipe = Pipeline(decode=DecodeConfig(), run_id="r1", passthrough=("sku",))
    out = pa.Table.from_batches(list(pipe(iter([batch])))).to_pylist()
    assert [r[B.KEY] for r in out] == ["good.png", "empty.jpg", "text.jpg", "null"]
    assert [r["sku"] for r in out] == ["a", "b", "c", "d"]
    assert [r[B.STATUS] for r in out] == ["ok", "error", "error", "error"]
    assert [r[B.ERROR_REASON] for r in out] == [None, "empty", "unsupported_format", "empty"]
    assert out[0][B.WIDTH] == 96 and out[0][B.HEIGHT] == 64
    assert {r[B.RUN_ID] for r in out} == {"r1"}
    assert B.OBJECTS not in out[0]


def test_output_schema_matches_batches() -> None:
    batch = arrow_batch({"a": encode(gradient())})
    pipe = Pipeline(decode=DecodeConfig(), run_id="r")
    assert pipe.process(batch).schema == pipe.output_schema(batch.schema)


def test_memory_bound_splits_groups_but_not_rows() -> None:
    batch = arrow_batch({f"k{i}": encode(gradient()) for i in range(5)})
    pipe = Pipeline(decode=DecodeConfig(), run_id="r", max_batch_bytes=1)
    assert pipe.process(batch).num_rows == 5


@pytest.fixture(scope="module")
def model_pipeline() -> Pipeline:
    return build_pipeline(parse_config(JOB_YAML), run_id="test")


def test_models_pipeline_finds_objects_with_embeddings(model_pipeline: Pipeline) -> None:
    dog = (SHARED_IMAGES / "dog.jpg").read_bytes()
    batch = arrow_batch({"dog": dog, "broken": dog[:5000], "tiny": encode(np.zeros((1, 1, 3), np.uint8))})
    out = model_pipeline.process(batch).to_pylist()
    dog_row, broken, tiny = out
    names = [o["label_name"] for o in dog_row[B.OBJECTS]]
    assert names[:3] == ["dog", "bicycle", "car"] or set(names[:3]) == {"dog", "bicycle", "car"}
    assert len(dog_row[B.OBJECTS]) <= 5  # crop.top_k in MODELS_YAML
    for obj in dog_row[B.OBJECTS]:
        vec = np.array(obj["embedding"], np.float32)
        assert vec.shape == (1280,) and abs(np.linalg.norm(vec) - 1) < 1e-4
    assert len(dog_row[B.IMAGE_EMBEDDING]) == 1280
    assert dog_row[B.DETECT_MODEL]["name"] == "yolox-nano"
    assert broken[B.STATUS] == "error" and broken[B.OBJECTS] is None and broken[B.ERROR_STAGE] == "decode"
    assert tiny[B.STATUS] == "ok" and tiny[B.OBJECTS] == []


def test_pipeline_pickles_without_sessions(model_pipeline: Pipeline) -> None:
    model_pipeline.process(arrow_batch({"a": encode(gradient())}))  # sessions now loaded in this process
    data = pickle.dumps(model_pipeline)
    assert len(data) < 200_000
    assert pickle.loads(data).run_id == "test"


def test_a_stage_crash_costs_one_image(model_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from imgpipe.stages import detect

    real = detect.Detector.__call__

    def flaky(self: detect.Detector, images: list[np.ndarray]) -> list[detect.Detections]:
        if any(img.shape[0] == 13 for img in images):
            raise RuntimeError("boom on the 13-pixel image")
        return real(self, images)

    monkeypatch.setattr(detect.Detector, "__call__", flaky)
    batch = arrow_batch({"ok": encode(gradient()), "bad": encode(gradient(13, 40)), "ok2": encode(gradient())})
    out = model_pipeline.process(batch).to_pylist()
    assert [r[B.STATUS] for r in out] == ["ok", "error", "ok"]
    assert out[1][B.ERROR_STAGE] == "detect" and "boom" in out[1][B.ERROR]


def test_float16_embeddings_are_packed_bytes() -> None:
    loaded = parse_config(JOB_YAML.replace("{model: mobilenetv2-int8}", "{model: mobilenetv2-int8, dtype: float16}"))
    pipe = build_pipeline(loaded, run_id="r")
    out = pipe.process(arrow_batch({"dog": (SHARED_IMAGES / "dog.jpg").read_bytes()})).to_pylist()[0]
    vec = np.frombuffer(out[B.IMAGE_EMBEDDING], "<f2")
    assert vec.shape == (1280,) and abs(np.linalg.norm(vec.astype(np.float32)) - 1) < 1e-2


def test_detect_without_crop_keeps_every_detection_the_detect_section_allows() -> None:
    """No crop section: no crop defaults (top 5, 32 px) trim what the detector found."""
    config = files_config("/tmp", "/tmp/out", "detect: {model: yolox-nano, score_threshold: 0.001, max_detections: 100}\n")
    pipe = build_pipeline(parse_config(config), run_id="r")
    out = pipe.process(arrow_batch({"person": (SHARED_IMAGES / "person.jpg").read_bytes()})).to_pylist()[0]
    boxes = [o["box"] for o in out[B.OBJECTS]]
    assert 5 < len(boxes) <= 100
    assert min(min(b["x2"] - b["x1"], b["y2"] - b["y1"]) for b in boxes) < 32
    scores = [o["score"] for o in out[B.OBJECTS]]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.001


def test_a_read_error_from_the_source_fails_that_row_only() -> None:
    batch = arrow_batch({"good.png": encode(gradient()), "gone.jpg": None}, read_error=[None, "dangling symlink"])
    out = Pipeline(decode=DecodeConfig(), run_id="r").process(batch).to_pylist()
    assert [r[B.STATUS] for r in out] == ["ok", "error"]
    assert (out[1][B.ERROR_STAGE], out[1][B.ERROR_REASON], out[1][B.ERROR]) == ("read", "unreadable", "dangling symlink")
    assert B.READ_ERROR not in out[0]


def test_a_row_without_a_key_is_an_error_row_and_its_image_is_not_processed() -> None:
    """A Parquet source's key column may hold nulls: a result nobody can name is an error, counted, not an ok."""
    image = encode(gradient())
    batch = pa.RecordBatch.from_pydict({B.KEY: ["a", None], B.IMAGE: [image, image]})
    out = Pipeline(decode=DecodeConfig(), run_id="r").process(batch).to_pylist()
    assert [(r[B.KEY], r[B.STATUS]) for r in out] == [("a", "ok"), (None, "error")]
    assert (out[1][B.ERROR_STAGE], out[1][B.ERROR_REASON]) == ("read", "no_key")
    assert "key is null" in out[1][B.ERROR] and out[1][B.WIDTH] is None
