"""Crop stage: detections -> object crops cut from the full-resolution decoded image, for embed.

Plain function over NumPy: top-k boxes by score, an optional margin, a minimum size, an optional
whole-image entry, and a policy for images where no box survives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imgpipe.batch import REASON_NO_OBJECTS
from imgpipe.config.inference import CropConfig
from imgpipe.stages.detect import Detections

Box = tuple[float, float, float, float]


class NoObjectsError(ValueError):
    """``on_no_objects: error`` and no box survived; the pipeline records it as a failed image."""

    reason = REASON_NO_OBJECTS


@dataclass(frozen=True)
class Crop:
    pixels: NDArray[np.uint8]  # BGR uint8
    box: Box  # x1, y1, x2, y2 in original-image pixels (after padding and clipping)
    label: int  # -1 for the whole image
    label_name: str  # "" for the whole image
    score: float  # 1.0 for the whole image
    whole_image: bool


def crop_objects(image: NDArray[np.uint8], det: Detections, cfg: CropConfig, scale: float = 1.0) -> list[Crop]:
    """Crops for one image, best score first.

    Args:
        image: the decoded image, possibly decoded at reduced size.
        det: its detections, in original-image pixels.
        scale: decoded pixels per original pixel (0.5 for a half-size decode).

    Raises:
        NoObjectsError: when no box survives and ``cfg.on_no_objects`` is ``error``.
    """
    crops = _objects(image, det, cfg, scale)
    if not crops:
        if cfg.on_no_objects == "error":
            raise NoObjectsError(f"Expected at least one object of {cfg.min_size}px or more, but got none")
        if cfg.on_no_objects == "whole_image" and not cfg.whole_image:
            return [whole_image(image, scale)]
    return [whole_image(image, scale)] + crops if cfg.whole_image else crops


def _objects(image: NDArray[np.uint8], det: Detections, cfg: CropConfig, scale: float) -> list[Crop]:
    crops: list[Crop] = []
    for i in np.argsort(-det.scores, kind="stable"):
        x1, y1, x2, y2 = (float(v) for v in det.boxes[i])
        if min(x2 - x1, y2 - y1) < cfg.min_size:
            continue
        box = _pad((x1, y1, x2, y2), cfg.padding, image.shape[:2], scale)
        pixels = cut(image, box, scale)
        if pixels.size:
            crops.append(Crop(pixels, box, int(det.labels[i]), det.label_names[i], float(det.scores[i]), False))
        if len(crops) == cfg.top_k:
            break
    return crops


def _pad(box: Box, padding: float, decoded_hw: tuple[int, ...], scale: float) -> Box:
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * padding, (y2 - y1) * padding
    width, height = decoded_hw[1] / scale, decoded_hw[0] / scale
    return (max(0.0, x1 - mx), max(0.0, y1 - my), min(width, x2 + mx), min(height, y2 + my))


def cut(image: NDArray[np.uint8], box: Box, scale: float = 1.0) -> NDArray[np.uint8]:
    """The pixels under ``box`` (original pixels), taking whole pixels that the box touches."""
    h, w = image.shape[:2]
    x1 = max(0, math.floor(box[0] * scale))
    y1 = max(0, math.floor(box[1] * scale))
    x2 = min(w, math.ceil(box[2] * scale))
    y2 = min(h, math.ceil(box[3] * scale))
    # A copy, so a crop does not keep the whole decoded image alive.
    return image[y1:y2, x1:x2].copy() if x2 > x1 and y2 > y1 else image[0:0, 0:0]


def uncut(det: Detections) -> list[Crop]:
    """Every detection as an object entry without pixels: the output of a job with no crop section."""
    empty = np.zeros((0, 0, 3), np.uint8)
    objects = []
    for i in np.argsort(-det.scores, kind="stable"):
        x1, y1, x2, y2 = (float(v) for v in det.boxes[i])
        objects.append(Crop(empty, (x1, y1, x2, y2), int(det.labels[i]), det.label_names[i], float(det.scores[i]), False))
    return objects


def whole_image(image: NDArray[np.uint8], scale: float = 1.0) -> Crop:
    h, w = image.shape[:2]
    return Crop(image, (0.0, 0.0, w / scale, h / scale), -1, "", 1.0, True)
