"""Non-maximum suppression for the detect stage: plain NumPy, greedy, per class or class-agnostic."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Boxes = NDArray[np.float32]


def iou(box: Boxes, boxes: Boxes) -> NDArray[np.float32]:
    """IoU of one x1,y1,x2,y2 box against (n, 4) boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iou: NDArray[np.float32] = (inter / np.maximum(area + areas - inter, 1e-9)).astype(np.float32)
    return iou


def nms(boxes: Boxes, scores: NDArray[np.float32], iou_threshold: float) -> NDArray[np.int64]:
    """Indices of the boxes kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, np.int64)


def batched_nms(
    boxes: Boxes,
    scores: NDArray[np.float32],
    labels: NDArray[np.int32],
    iou_threshold: float,
    agnostic: bool = False,
) -> NDArray[np.int64]:
    """NMS within each class (or across all when ``agnostic``); indices kept, best score first."""
    if boxes.shape[0] == 0 or agnostic:
        return nms(boxes, scores, iou_threshold)
    # Shifting each class to its own region makes one NMS pass equal to one pass per class.
    span = float(boxes.max() - boxes.min()) + 1.0
    offsets = (labels.astype(np.float32) * span)[:, None]
    return nms(boxes + offsets, scores, iou_threshold)
