"""Sample pictures for the page: a downscaled JPEG of each image with its boxes and labels drawn, and
its crops, as ``data:`` URIs so the page needs no other file.

An image that cannot be read or decoded becomes a grey placeholder of the image's shape with the
boxes still drawn where they were found, and the reason: never a broken image.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from imgpipe.config.sections import DecodeConfig
from imgpipe.htmlreport.results import Detection, SampleImage, key_hash
from imgpipe.stages.crop import cut
from imgpipe.stages.decode import DecodeFailure, decode_image

THUMB_SIDE = 360
CROP_SIDE = 96
MAX_CROPS = 6
JPEG_QUALITY = 82
#: Decoding at reduced size is plenty for a thumbnail and much faster on big JPEGs.
_DECODE = DecodeConfig(reduced_decode_min_side=THUMB_SIDE * 2)
_PLACEHOLDER_BGR = (235, 231, 229)

#: Distinct colours (RGB) for labels; a label keeps its colour on every page.
PALETTE = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40),
)  # fmt: skip


@dataclass(frozen=True)
class Picture:
    uri: str
    width: int
    height: int


@dataclass(frozen=True)
class CropView:
    picture: Picture
    label_name: str
    score: float
    colour: str


@dataclass(frozen=True)
class SampleView:
    """One tile of the grid: the picture, its crops, and why the real image is missing (if it is)."""

    image: SampleImage
    picture: Picture
    crops: list[CropView]
    missing: str | None


def label_colour(label: str) -> tuple[int, int, int]:
    return PALETTE[key_hash(label) % len(PALETTE)]


def hex_colour(label: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*label_colour(label))


def render_sample(sample: SampleImage, data: bytes | str) -> SampleView:
    """The tile for ``sample`` from its encoded bytes, or from the reason they are not available."""
    if isinstance(data, str):
        return _placeholder(sample, data)
    try:
        decoded = decode_image(data, _DECODE)
    except DecodeFailure as exc:
        return _placeholder(sample, f"cannot decode the image: {exc.message}")
    except cv2.error as exc:
        return _placeholder(sample, f"OpenCV failed on the image: {str(exc).strip().splitlines()[-1]}")
    pixels, scale = decoded.pixels, decoded.scale
    objects = sample.objects[:MAX_CROPS]
    crops = [_crop(pixels, d, scale) for d in objects]
    return SampleView(sample, _annotated(pixels, sample.objects, scale), [c for c in crops if c is not None], None)


def _annotated(pixels: NDArray[np.uint8], objects: list[Detection], scale: float) -> Picture:
    """``scale``: decoded pixels per original pixel, which the boxes are in."""
    fit = min(1.0, THUMB_SIDE / max(pixels.shape[:2]))
    thumb = _resize(pixels, fit)
    _draw(thumb, objects, scale * fit)
    return _picture(thumb)


def _placeholder(sample: SampleImage, reason: str) -> SampleView:
    width, height = sample.width or 4, sample.height or 3
    fit = THUMB_SIDE / max(width, height)
    size = (max(1, round(width * fit)), max(1, round(height * fit)))
    canvas = np.empty((size[1], size[0], 3), np.uint8)
    canvas[:] = _PLACEHOLDER_BGR
    _draw(canvas, sample.objects, fit)
    _centred_text(canvas, "image not available")
    return SampleView(sample, _picture(canvas), [], reason)


def _draw(canvas: NDArray[np.uint8], objects: list[Detection], scale: float) -> None:
    """Boxes (in original pixels, times ``scale``) and their labels, best score drawn last so it is on top."""
    for det in sorted(objects, key=lambda d: d.score):
        r, g, b = label_colour(det.label_name)
        colour = (b, g, r)
        x1, y1, x2, y2 = (int(round(v * scale)) for v in det.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
        text = f"{det.label_name} {det.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        top = max(0, y1 - th - base - 2)
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(canvas, text, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def _centred_text(canvas: NDArray[np.uint8], text: str) -> None:
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    x, y = max(0, (canvas.shape[1] - tw) // 2), (canvas.shape[0] + th) // 2
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (90, 90, 90), 1, cv2.LINE_AA)


def _crop(pixels: NDArray[np.uint8], det: Detection, scale: float) -> CropView | None:
    part = cut(pixels, det.box, scale)
    if part.size == 0:
        return None
    thumb = _resize(part, min(1.0, CROP_SIDE / max(part.shape[:2])))
    return CropView(_picture(thumb), det.label_name, det.score, hex_colour(det.label_name))


def _resize(pixels: NDArray[np.uint8], fit: float) -> NDArray[np.uint8]:
    if fit >= 1.0:
        return pixels.copy()
    size = (max(1, round(pixels.shape[1] * fit)), max(1, round(pixels.shape[0] * fit)))
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _picture(pixels: NDArray[np.uint8]) -> Picture:
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {pixels.shape} thumbnail as JPEG")
    uri = "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")
    return Picture(uri, int(pixels.shape[1]), int(pixels.shape[0]))
