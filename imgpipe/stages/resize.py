"""Image -> model input tensor, for detect and embed: the resize policies and the map back to image pixels.

Every policy returns the resized image and a ``Transform`` from model-input pixels back to the original
image, so detectors can report boxes in the pixels the user sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from imgpipe.config.inference import InputSpec

Image = NDArray[np.uint8]


@dataclass(frozen=True)
class Transform:
    """Model-input pixels -> original pixels: ``x = (x' - dx) / sx``, ``y = (y' - dy) / sy``."""

    sx: float
    sy: float
    dx: float = 0.0
    dy: float = 0.0

    def to_original(self, boxes: NDArray[np.float32]) -> NDArray[np.float32]:
        """Map (n, 4) x1,y1,x2,y2 boxes from model input to the original image."""
        scale = np.array([self.sx, self.sy, self.sx, self.sy], np.float32)
        shift = np.array([self.dx, self.dy, self.dx, self.dy], np.float32)
        return ((boxes - shift) / scale).astype(np.float32)


def ensure_bgr(image: NDArray[np.uint8]) -> Image:
    """3-channel BGR uint8 from grey (HxW, HxWx1), BGR or BGRA input."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cast(Image, cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    if image.shape[2] == 4:
        return cast(Image, cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 BGR image, but got shape {image.shape}")
    return image


def _resize(image: Image, width: int, height: int, antialias: bool) -> Image:
    shrinking = width < image.shape[1] or height < image.shape[0]
    interp = cv2.INTER_AREA if antialias and shrinking else cv2.INTER_LINEAR
    return cast(Image, cv2.resize(image, (width, height), interpolation=interp))


def letterbox(image: Image, spec: InputSpec, center: bool) -> tuple[Image, Transform]:
    """Fit inside the input keeping the aspect ratio, then pad (top-left for YOLOX, centred for YOLOv5/8)."""
    h, w = image.shape[:2]
    r = min(spec.height / h, spec.width / w)
    nw, nh = max(1, int(w * r)), max(1, int(h * r))
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
    dx, dy = ((spec.width - nw) // 2, (spec.height - nh) // 2) if center else (0, 0)
    canvas[dy : dy + nh, dx : dx + nw] = _resize(image, nw, nh, spec.antialias)
    # YOLOX maps back with the float ratio r, not nw / w; keep that so boxes match upstream decoding.
    return canvas, Transform(r, r, dx, dy)


def shortest_side_center_crop(image: Image, spec: InputSpec) -> tuple[Image, Transform]:
    """ImageNet style: shorter side to ``shortest_side``, then the centred ``size`` crop."""
    assert spec.shortest_side is not None  # InputSpec validates this for the policy
    h, w = image.shape[:2]
    s = spec.shortest_side / min(h, w)
    nw, nh = max(spec.width, round(w * s)), max(spec.height, round(h * s))
    resized = _resize(image, nw, nh, spec.antialias)
    top, left = (nh - spec.height) // 2, (nw - spec.width) // 2
    crop = resized[top : top + spec.height, left : left + spec.width]
    return crop, Transform(nw / w, nh / h, -left, -top)


def stretch(image: Image, spec: InputSpec) -> tuple[Image, Transform]:
    h, w = image.shape[:2]
    resized = _resize(image, spec.width, spec.height, spec.antialias)
    return resized, Transform(spec.width / w, spec.height / h)


def fit(image: Image, spec: InputSpec) -> tuple[Image, Transform]:
    """Apply the spec's resize policy."""
    if spec.resize == "letterbox":
        return letterbox(image, spec, center=False)
    if spec.resize == "letterbox_center":
        return letterbox(image, spec, center=True)
    if spec.resize == "shortest_side_center_crop":
        return shortest_side_center_crop(image, spec)
    return stretch(image, spec)


def to_tensor(images: Sequence[Image], spec: InputSpec) -> NDArray[np.float32]:
    """Stack fitted BGR images into the model's layout, channel order and normalisation."""
    batch = np.stack(images)
    if spec.channels == "rgb":
        batch = batch[..., ::-1]
    if spec.layout == "nchw":
        batch = batch.transpose(0, 3, 1, 2)
    # One conversion pass on uint8 views, then (x * scale - mean) / std folded into one in-place
    # multiply-add, skipped for models fed raw 0-255 pixels: this runs on every image and crop.
    out = np.ascontiguousarray(batch, dtype=np.float32)
    std = np.asarray(spec.std, np.float32)
    gain = np.float32(spec.scale) / std
    shift = -np.asarray(spec.mean, np.float32) / std
    if spec.layout == "nchw":
        gain, shift = gain[:, None, None], shift[:, None, None]
    if not np.all(gain == 1):
        out *= gain
    if np.any(shift != 0):
        out += shift
    return out


def preprocess(images: Sequence[NDArray[np.uint8]], spec: InputSpec) -> tuple[NDArray[np.float32], list[Transform]]:
    """Images (any of grey / BGR / BGRA) -> (input tensor, one Transform per image)."""
    fitted = [fit(ensure_bgr(image), spec) for image in images]
    return to_tensor([f[0] for f in fitted], spec), [f[1] for f in fitted]
