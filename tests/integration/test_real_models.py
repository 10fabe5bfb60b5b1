"""The real models from ../shared/models on the real photos in ../shared/images: no Spark, plain calls.

Boxes are compared with a reference decoding written here from MODELS.md alone (NumPy letterbox, grid
decode, per-class greedy NMS), independent of the stage code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from imgpipe.config.inference import CropConfig, DetectConfig, EmbedConfig
from imgpipe.errors import ModelError
from imgpipe.runtime.fetch import CACHE_ENV, MIRROR_ENV
from imgpipe.runtime.registry import load_registry
from imgpipe.runtime.resolve import resolve_model
from imgpipe.stages.crop import crop_objects
from imgpipe.stages.detect import Detections, Detector
from imgpipe.stages.embed import Embedder

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
IMAGES, MODELS = SHARED / "images", SHARED / "models"


@pytest.fixture(scope="module", autouse=True)
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if not (MODELS / "yolox_nano.onnx").is_file():
        pytest.fail(f"expected the shared models at {MODELS}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MIRROR_ENV, str(MODELS))
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("model-cache")))
        yield


def load(name: str) -> np.ndarray:
    image = cv2.imdecode(np.fromfile(IMAGES / name, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, name
    return image


def detector(model: str = "yolox-nano", **options: object) -> Detector:
    cfg = DetectConfig(model=model, **options)  # type: ignore[arg-type]
    return Detector.from_config(cfg, resolve_model(cfg, load_registry(), "detect"))


def embedder(model: str = "mobilenetv2-int8") -> Embedder:
    cfg = EmbedConfig(model=model)
    return Embedder.from_config(cfg, resolve_model(cfg, load_registry(), "embed"))


# --- reference YOLOX decoding, straight from MODELS.md ------------------------------------------------

COCO = (MODELS / "coco_classes.txt").read_text().split("\n")


Found = list[tuple[str, float, np.ndarray]]


def reference_detect(image: np.ndarray, threshold: float = 0.3, iou: float = 0.45) -> Found:
    h, w = image.shape[:2]
    r = min(416 / h, 416 / w)
    resized = cv2.resize(image, (int(w * r), int(h * r)), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((416, 416, 3), 114, np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    x = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    out = ort.InferenceSession(str(MODELS / "yolox_nano.onnx")).run(None, {"images": x})[0][0]
    grids, strides = [], []
    for s in (8, 16, 32):
        xv, yv = np.meshgrid(np.arange(416 // s), np.arange(416 // s))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), s))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    cxcy = (out[:, :2] + grid) * stride
    wh = np.exp(out[:, 2:4]) * stride
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1) / r
    scores = out[:, 4:5] * out[:, 5:]
    found = []
    for c in range(scores.shape[1]):
        for i in simple_nms(boxes, scores[:, c], threshold, iou):
            box = np.clip(boxes[i], 0, [w, h, w, h])
            found.append((COCO[c], float(scores[i, c]), box))
    return sorted(found, key=lambda d: -d[1])


def simple_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, iou: float) -> list[int]:
    order = [i for i in np.argsort(-scores) if scores[i] > threshold]
    keep: list[int] = []
    for i in order:
        if all(box_iou(boxes[i], boxes[k]) <= iou for k in keep):
            keep.append(i)
    return keep


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def assert_matches_reference(det: Detections, reference: Found) -> None:
    assert len(det) == len(reference)
    for name, score, box in reference:
        same = [i for i, n in enumerate(det.label_names) if n == name and abs(det.scores[i] - score) < 1e-3]
        assert same, f"{name} {score:.2f} missing from {det.label_names}"
        gap = min(float(np.abs(det.boxes[i] - box).max()) for i in same)
        assert gap <= 2.0, f"{name}: box off by {gap:.2f} px"


EXPECTED = {
    "dog.jpg": {"dog", "bicycle", "car"},
    "person.jpg": {"person", "dog", "horse"},
    "skimage_coffee.png": {"cup"},
    "water_bottle_111.jpg": {"bottle"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detections_match_the_reference_decoding(name: str) -> None:
    image = load(name)
    (det,) = detector()([image])
    assert EXPECTED[name] <= set(det.label_names)
    assert_matches_reference(det, reference_detect(image))


def test_dynamic_batch_file_gives_the_same_boxes_in_one_batch() -> None:
    images = [load(n) for n in sorted(EXPECTED)]
    batched = detector("yolox-nano-dynbatch", batch_size=8)
    assert batched.model.batch is None
    for single, many in zip(detector()(images), batched(images), strict=True):
        assert single.label_names == many.label_names
        np.testing.assert_allclose(single.boxes, many.boxes, atol=1e-3)


def test_greyscale_and_alpha_photos_are_detected() -> None:
    grey = cv2.imdecode(np.fromfile(IMAGES / "camera.png", np.uint8), cv2.IMREAD_UNCHANGED)
    rgba = cv2.imdecode(np.fromfile(IMAGES / "tfexamples_coffee.jpg", np.uint8), cv2.IMREAD_UNCHANGED)
    assert grey.ndim == 2 and rgba.shape[2] == 4
    people, cups = detector()([grey, rgba])
    assert "person" in people.label_names and "cup" in cups.label_names


def test_spec_that_does_not_match_the_real_graph() -> None:
    registry = load_registry()
    wrong = registry.models["yolox-nano"].spec.model_copy(
        update={"input": registry.models["yolox-nano"].spec.input.model_copy(update={"size": (224, 224)})}
    )
    with pytest.raises(ModelError, match=r"'yolox-nano'.*\[batch, 3, 224, 224\].*graph input is \[1, 3, 416, 416\]"):
        resolve_model(DetectConfig(model="yolox-nano", spec=wrong), registry, "detect")


# --- embeddings -----------------------------------------------------------------------------------------


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_internal_tensor_equals_the_features_output() -> None:
    images = [load(n) for n in ("dog.jpg", "carton_33.jpg", "skimage_coffee.png")]
    exposed, baked = embedder("mobilenetv2-int8")(images), embedder("mobilenetv2-int8-features")(images)
    assert exposed.shape == (3, 1280) and exposed.dtype == np.float32
    np.testing.assert_allclose(exposed, baked, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(exposed, axis=1), 1.0, atol=1e-5)


def test_same_product_is_closer_than_a_dog() -> None:
    c33, c47, dog = embedder()([load("carton_33.jpg"), load("carton_47.jpg"), load("dog.jpg")])
    assert cosine(c33, c47) > max(cosine(c33, dog), cosine(c47, dog))


def degraded(image: np.ndarray) -> np.ndarray:
    """Half size, then JPEG quality 60."""
    half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", half, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@pytest.mark.parametrize("name", ["dog.jpg", "carton_33.jpg", "skimage_coffee.png", "can_1.jpg"])
def test_near_duplicate_stays_close(name: str) -> None:
    image = load(name)
    original, copy = embedder()([image, degraded(image)])
    assert cosine(original, copy) >= 0.85


def test_detect_crop_embed_on_a_photo() -> None:
    image = load("dog.jpg")
    (det,) = detector()([image])
    crops = crop_objects(image, det, CropConfig(top_k=3, whole_image=True))
    assert [c.label_name for c in crops] == ["", "dog", "bicycle", "car"]
    vectors = embedder()([c.pixels for c in crops])
    assert vectors.shape == (4, 1280)
    half16 = Embedder(embedder().model, dtype="float16")([c.pixels for c in crops])
    assert half16.dtype == np.float16
    np.testing.assert_allclose(half16.astype(np.float32), vectors, atol=1e-3)
