"""Detect stage with tiny canned-output models: every adapter, NMS, class filters, batch-1 and dynamic batch."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx_models import canned_outputs, resolved, spec

from imgpipe.config.inference import DetectConfig
from imgpipe.errors import ModelError
from imgpipe.runtime.model import ResolvedModel
from imgpipe.stages import detect as detect_module
from imgpipe.stages.detect import Detector
from imgpipe.stages.nms import batched_nms, nms

LABELS = ["cat", "dog", "car"]
SIZE = 64  # input 64x64: YOLOX anchors 8*8 + 4*4 + 2*2 = 84


def yolox_raw() -> np.ndarray:
    """Raw YOLOX rows whose decoded boxes are known (comments give them in 64x64 input pixels)."""
    raw = np.zeros((1, 84, 8), np.float32)
    two, four = np.log(2.0), np.log(4.0)
    # stride 8, cell (2, 3): centre (20, 28), 16x16 -> [12, 20, 28, 36]; dog 0.9 * 0.8 = 0.72
    raw[0, 3 * 8 + 2] = [0.5, 0.5, two, two, 0.9, 0, 0.8, 0]
    # cell (3, 3): the same dog box shifted 0.8 px, weaker (0.64): NMS removes it
    raw[0, 3 * 8 + 3] = [-0.4, 0.5, two, two, 0.8, 0, 0.8, 0]
    # cell (4, 3): the same box as car 0.7: kept per class, removed class-agnostic
    raw[0, 3 * 8 + 4] = [-1.5, 0.5, two, two, 0.7, 0, 0, 1.0]
    # stride 8, cell (6, 6): cat 0.25, under the 0.3 threshold
    raw[0, 6 * 8 + 6] = [0.5, 0.5, two, two, 0.5, 0.5, 0, 0]
    # stride 32, cell (0, 0): centre (16, 16), 128x128 -> [-48, -48, 80, 80], past the border; cat 0.81
    raw[0, 64 + 16] = [0.5, 0.5, four, four, 0.9, 0.9, 0, 0]
    return raw


def yolox_spec() -> Any:
    return spec(adapter="yolox", input={"size": [SIZE, SIZE], "channels": "bgr"}, labels=LABELS)


def yolox_detector(tmp_path: Path, batch: int | None = 1, **options: Any) -> Detector:
    path = canned_outputs(tmp_path / f"yolox_{batch}.onnx", {"output": yolox_raw()}, batch=batch, size=(SIZE, SIZE))
    return Detector.from_config(DetectConfig(model=str(path), **options), resolved(path, yolox_spec()))


def image(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def test_yolox_decode_nms_and_clip(tmp_path: Path) -> None:
    (det,) = yolox_detector(tmp_path)([image(128, 128)])  # letterbox ratio 0.5: boxes double
    assert det.label_names == ["cat", "dog", "car"]
    np.testing.assert_allclose(det.scores, [0.81, 0.72, 0.70], atol=1e-5)
    np.testing.assert_allclose(det.boxes, [[0, 0, 128, 128], [24, 40, 56, 72], [24, 40, 56, 72]], atol=1e-3)
    assert det.boxes.dtype == np.float32 and det.labels.dtype == np.int32


def test_boxes_map_back_through_the_letterbox(tmp_path: Path) -> None:
    # 256 high, 128 wide: ratio 0.25, content pasted top-left
    (det,) = yolox_detector(tmp_path, classes=["dog"])([image(256, 128)])
    np.testing.assert_allclose(det.boxes, [[48, 80, 112, 144]], atol=1e-3)


def test_class_agnostic_nms_drops_the_overlapping_car(tmp_path: Path) -> None:
    (det,) = yolox_detector(tmp_path, class_agnostic=True)([image(128, 128)])
    assert det.label_names == ["cat", "dog"]


def test_class_allow_list_and_max_detections(tmp_path: Path) -> None:
    (det,) = yolox_detector(tmp_path, classes=["car", "cat"], max_detections=1)([image(128, 128)])
    assert det.label_names == ["cat"]
    (det,) = yolox_detector(tmp_path, classes=["car"])([image(128, 128)])
    assert det.label_names == ["car"]


def test_unknown_class_names_the_model_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"'tiny'.*'dgo'.*Did you mean 'dog'"):
        yolox_detector(tmp_path, classes=["dgo"])


def test_score_threshold(tmp_path: Path) -> None:
    (det,) = yolox_detector(tmp_path, score_threshold=0.2)([image(128, 128)])
    assert "cat" in det.label_names and len(det) == 4


def spy_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = detect_module.run_chunks

    def spy(session: Any, name: str, tensors: Any, outputs: Any, pad_to: int | None = None) -> Any:
        seen.extend(t.shape[0] for t in tensors)
        return real(session, name, tensors, outputs, pad_to)

    monkeypatch.setattr(detect_module, "run_chunks", spy)
    return seen


def test_fixed_batch_model_runs_one_image_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = yolox_detector(tmp_path, batch=1, batch_size=8)
    assert detector.model.batch == 1
    seen = spy_batches(monkeypatch)
    results = detector([image(128, 128), image(256, 128), image(128, 128)])
    assert seen == [1, 1, 1] and len(results) == 3


def test_dynamic_batch_model_runs_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = yolox_detector(tmp_path, batch=None, batch_size=2)
    assert detector.model.batch is None
    seen = spy_batches(monkeypatch)
    results = detector([image(128, 128), image(256, 128), image(128, 128)])
    assert seen == [2, 1]
    np.testing.assert_allclose(results[0].boxes, results[2].boxes)
    np.testing.assert_allclose(results[1].boxes[results[1].labels == 1], [[48, 80, 112, 144]], atol=1e-3)


def v5_v8_rows() -> np.ndarray:
    """cx, cy, w, h in input pixels, then per-class scores: a dog box and a weaker duplicate."""
    return np.array([[32, 32, 20, 10, 0.0, 0.9, 0.0], [33, 32, 20, 10, 0.0, 0.6, 0.0]], np.float32)


def test_yolov8_adapter(tmp_path: Path) -> None:
    raw = v5_v8_rows()[None].transpose(0, 2, 1)  # [1, 4 + classes, N]
    path = canned_outputs(tmp_path / "v8.onnx", {"output0": raw}, batch=None, size=(SIZE, SIZE))
    model_spec = spec(adapter="yolov8", input={"size": [SIZE, SIZE], "resize": "letterbox_center"}, labels=LABELS)
    (det,) = Detector(resolved(path, model_spec))([image(64, 64)])
    assert det.label_names == ["dog"]
    np.testing.assert_allclose(det.boxes, [[22, 27, 42, 37]], atol=1e-3)
    np.testing.assert_allclose(det.scores, [0.9], atol=1e-6)


def test_yolov5_adapter_uses_objectness(tmp_path: Path) -> None:
    rows = np.insert(v5_v8_rows(), 4, [0.5, 0.5], axis=1)  # [cx, cy, w, h, objectness, 3 classes]
    path = canned_outputs(tmp_path / "v5.onnx", {"output": rows[None]}, batch=1, size=(SIZE, SIZE))
    model_spec = spec(adapter="yolov5", input={"size": [SIZE, SIZE], "resize": "letterbox_center"}, labels=LABELS)
    # 32 high, 64 wide: ratio 1, padded 16 above and below
    (det,) = Detector(resolved(path, model_spec))([image(32, 64)])
    np.testing.assert_allclose(det.scores, [0.45], atol=1e-6)
    np.testing.assert_allclose(det.boxes, [[22, 11, 42, 21]], atol=1e-3)


def test_boxes_adapter_with_named_outputs_and_count(tmp_path: Path) -> None:
    outputs = {
        "det_boxes": np.array([[[0.25, 0.5, 0.5, 1.0], [0, 0, 0.1, 0.1], [0, 0, 1, 1]]], np.float32),  # yxyx 0..1
        "det_scores": np.array([[0.9, 0.2, 0.8]], np.float32),
        "det_classes": np.array([[2, 0, 1]], np.float32),
        "num": np.array([2], np.float32),  # the third row is padding
    }
    path = canned_outputs(tmp_path / "nms.onnx", outputs, batch=1, size=(SIZE, SIZE))
    outs = {"boxes": "det_boxes", "scores": "det_scores", "classes": "det_classes", "count": "num",
            "box_format": "yxyx", "normalized": True}
    model_spec = spec(adapter="boxes", input={"size": [SIZE, SIZE], "resize": "exact"}, outputs=outs, labels=LABELS)
    (det,) = Detector(resolved(path, model_spec))([image(128, 256)])  # stretch: x * 4, y * 2
    assert det.label_names == ["car"]
    np.testing.assert_allclose(det.boxes, [[128, 32, 256, 64]], atol=1e-3)


def test_boxes_adapter_missing_output_is_a_model_error(tmp_path: Path) -> None:
    path = canned_outputs(tmp_path / "nms.onnx", {"boxes": np.zeros((1, 2, 4))}, size=(SIZE, SIZE))
    model_spec = spec(adapter="boxes", input={"size": [SIZE, SIZE]})
    with pytest.raises(ModelError, match=r"'tiny'.*'scores'"):
        resolved(path, model_spec)


def test_label_count_must_match_the_graph(tmp_path: Path) -> None:
    path = canned_outputs(tmp_path / "y.onnx", {"output": yolox_raw()}, size=(SIZE, SIZE))
    with pytest.raises(ModelError, match=r"'tiny'.*expected 2 classes.*predicts 3"):
        resolved(path, spec(adapter="yolox", input={"size": [SIZE, SIZE]}, labels=["a", "b"]))


def test_detector_pickles_and_runs_after(tmp_path: Path) -> None:
    detector = yolox_detector(tmp_path).with_threads(1)
    copy = pickle.loads(pickle.dumps(detector))
    assert copy == detector and copy.intra_op_threads == 1
    assert copy([image(128, 128)])[0].label_names == ["cat", "dog", "car"]
    assert isinstance(copy.model, ResolvedModel) and copy.name == "tiny" and len(copy.sha256) == 64


def test_no_images_no_results(tmp_path: Path) -> None:
    assert yolox_detector(tmp_path)([]) == []


def test_nms_keeps_best_of_overlapping() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.5, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.45).tolist() == [1, 2]
    labels = np.array([0, 1, 0], np.int32)
    assert batched_nms(boxes, scores, labels, 0.45).tolist() == [1, 2, 0]
    assert batched_nms(boxes, scores, labels, 0.45, agnostic=True).tolist() == [1, 2]
