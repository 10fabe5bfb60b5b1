"""Detector output decoding, one function per model family, for the detect stage.

Each adapter turns one ``session.run`` result (a chunk of images) into per-image ``Candidates``: boxes in
model-input pixels with their score and class, already above the score threshold. Where a model scores
every class for every box, each (box, class) pair above the threshold is a candidate (multi-label, as in
YOLOX's demo); NMS in ``detect.py`` removes the duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imgpipe.config.inference import DetectOutputs, ModelSpec
from imgpipe.errors import ModelError

Outputs = Mapping[str, NDArray[np.generic]]
YOLOX_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Candidates:
    """One image's boxes before NMS, in model-input pixels."""

    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    labels: NDArray[np.int32]


def cxcywh_to_xyxy(b: NDArray[np.float32]) -> NDArray[np.float32]:
    half = b[..., 2:4] / 2
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1).astype(np.float32)


def select(boxes: NDArray[np.float32], class_scores: NDArray[np.float32], threshold: float) -> Candidates:
    """Every (box, class) pair scoring above ``threshold``: boxes (n, 4), class_scores (n, classes)."""
    rows, cols = np.nonzero(class_scores > threshold)
    return Candidates(
        boxes[rows].astype(np.float32),
        class_scores[rows, cols].astype(np.float32),
        cols.astype(np.int32),
    )


def yolox_grid(height: int, width: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(anchors, 2) grid cell offsets and (anchors, 1) strides, strides 8/16/32, row-major per level."""
    grids, strides = [], []
    for s in YOLOX_STRIDES:
        ys, xs = np.mgrid[0 : height // s, 0 : width // s]
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((xs.size, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode_yolox(raw: NDArray[np.float32], input_hw: tuple[int, int], threshold: float) -> list[Candidates]:
    """Raw YOLOX ``[B, anchors, 5 + classes]``: grid/stride box decode, objectness x class score."""
    grid, stride = yolox_grid(*input_hw)
    if raw.shape[1] != grid.shape[0]:
        raise ModelError(
            f"Expected {grid.shape[0]} YOLOX anchors for a {input_hw[0]}x{input_hw[1]} input, "
            f"but the output has {raw.shape[1]}"
        )
    centres = (raw[..., :2] + grid) * stride
    sizes = np.exp(raw[..., 2:4]) * stride
    boxes = cxcywh_to_xyxy(np.concatenate([centres, sizes], axis=-1))
    scores = raw[..., 4:5] * raw[..., 5:]
    return [select(boxes[i], scores[i], threshold) for i in range(raw.shape[0])]


def decode_yolov5(raw: NDArray[np.float32], threshold: float) -> list[Candidates]:
    """YOLOv5 ``[B, N, 5 + classes]``: decoded cx,cy,w,h in input pixels, objectness x class score."""
    boxes = cxcywh_to_xyxy(raw[..., :4])
    scores = raw[..., 4:5] * raw[..., 5:]
    return [select(boxes[i], scores[i], threshold) for i in range(raw.shape[0])]


def decode_yolov8(raw: NDArray[np.float32], threshold: float) -> list[Candidates]:
    """YOLOv8 ``[B, 4 + classes, N]``: cx,cy,w,h in input pixels then class scores, no objectness."""
    rows = raw.transpose(0, 2, 1)
    boxes = cxcywh_to_xyxy(rows[..., :4])
    return [select(boxes[i], rows[i, :, 4:], threshold) for i in range(raw.shape[0])]


def decode_boxes(out: Outputs, spec: DetectOutputs, input_hw: tuple[int, int], threshold: float) -> list[Candidates]:
    """Models with NMS inside: boxes [B, N, 4], scores [B, N], classes [B, N] (batch dim optional)."""
    boxes = _batched(out[spec.boxes], 3).astype(np.float32)
    scores = _batched(out[spec.scores], 2).astype(np.float32)
    classes = _batched(out[spec.classes], 2).astype(np.int32)
    counts = _counts(out, spec, boxes.shape[:2])
    boxes = _to_xyxy(boxes, spec, input_hw)
    result = []
    for i, n in enumerate(counts):
        keep = scores[i, :n] > threshold
        result.append(Candidates(boxes[i, :n][keep], scores[i, :n][keep], classes[i, :n][keep]))
    return result


def _batched(value: NDArray[np.generic], rank: int) -> NDArray[np.generic]:
    # Batch-1 exports often drop the batch dimension of post-NMS outputs.
    return value[None] if value.ndim == rank - 1 else value


def _counts(out: Outputs, spec: DetectOutputs, shape: tuple[int, ...]) -> list[int]:
    if spec.count is None:
        return [shape[1]] * shape[0]
    return [int(c) for c in np.asarray(out[spec.count]).reshape(-1)]


def _to_xyxy(boxes: NDArray[np.float32], spec: DetectOutputs, input_hw: tuple[int, int]) -> NDArray[np.float32]:
    if spec.box_format == "yxyx":
        boxes = boxes[..., [1, 0, 3, 2]]
    elif spec.box_format == "cxcywh":
        boxes = cxcywh_to_xyxy(boxes)
    if spec.normalized:
        h, w = input_hw
        boxes = boxes * np.array([w, h, w, h], np.float32)
    return boxes.astype(np.float32)


def decoder(spec: ModelSpec, threshold: float) -> Callable[[Outputs, str], list[Candidates]]:
    """The adapter for ``spec``, as a function of (outputs, raw output name)."""
    hw = (spec.input.height, spec.input.width)
    if spec.adapter == "yolox":
        return lambda out, raw: decode_yolox(np.asarray(out[raw], np.float32), hw, threshold)
    if spec.adapter == "yolov5":
        return lambda out, raw: decode_yolov5(np.asarray(out[raw], np.float32), threshold)
    if spec.adapter == "yolov8":
        return lambda out, raw: decode_yolov8(np.asarray(out[raw], np.float32), threshold)
    if spec.adapter == "boxes":
        return lambda out, raw: decode_boxes(out, spec.outputs, hw, threshold)
    raise ModelError(f"Expected a detector adapter (yolox, yolov8, yolov5, boxes), but got {spec.adapter!r}")
