"""Decode: encoded bytes -> oriented BGR uint8 pixels, or a failure with a reason class.

Every odd input is normalised here so later stages see one kind of image: 3-channel 8-bit BGR
(OpenCV's order). Grey, alpha (composited over white), 16-bit, palette and CMYK inputs are
converted; JPEG EXIF orientation is applied. The pixel limit is checked from the header first, so a
decompression bomb is refused without allocating its pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from imgpipe import batch as B
from imgpipe.config.sections import DecodeConfig
from imgpipe.stages.header import Header, looks_like_text, sniff

_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


@dataclass(frozen=True)
class Decoded:
    """Pixels plus the size of the original (oriented) image that boxes are reported in."""

    pixels: np.ndarray
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Decoded pixels per original pixel (below 1 after a reduced JPEG decode)."""
        return float(self.pixels.shape[1] / self.width)


class DecodeFailure(Exception):
    """One image could not be decoded; carried as data in its row, never raised out of a task."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def decode_image(data: bytes | None, cfg: DecodeConfig) -> Decoded:
    """Decode one encoded image. Raises ``DecodeFailure`` with a reason class from ``imgpipe.batch``."""
    if not data:
        raise DecodeFailure(B.REASON_EMPTY, "no image bytes (null or zero-length)")
    header = sniff(data)
    if header is None:
        raise DecodeFailure(B.REASON_UNSUPPORTED, _not_an_image(data))
    _check_size(header.width, header.height, cfg, "header declares")
    if header.format == "jpeg":
        return _decode_jpeg(data, header, cfg)
    return _decode_other(data, header, cfg)


def _not_an_image(data: bytes) -> str:
    if looks_like_text(data):
        return "text or HTML, not an image"
    return f"not a known image format (first bytes {data[:8].hex()})"


def _check_size(width: int | None, height: int | None, cfg: DecodeConfig, what: str) -> None:
    if width is None or height is None:
        return
    if width * height > cfg.max_pixels:
        raise DecodeFailure(
            B.REASON_TOO_LARGE,
            f"{what} {width}x{height} = {width * height} pixels, over decode.max_pixels={cfg.max_pixels}",
        )
    if min(width, height) < cfg.min_side:
        raise DecodeFailure(B.REASON_TOO_SMALL, f"{what} {width}x{height}, under decode.min_side={cfg.min_side}")


def _imdecode(data: bytes, flags: int, fmt: str) -> np.ndarray:
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        # OpenCV refuses images over its own pixel limit by raising rather than returning None.
        reason = B.REASON_TOO_LARGE if "pixels" in str(exc).lower() else B.REASON_UNDECODABLE
        raise DecodeFailure(reason, f"{fmt}: OpenCV refused it: {str(exc).strip().splitlines()[-1]}") from None
    if img is None or img.size == 0:
        raise DecodeFailure(B.REASON_UNDECODABLE, f"{fmt}: corrupt or truncated, OpenCV could not decode it")
    return img


def _decode_jpeg(data: bytes, header: Header, cfg: DecodeConfig) -> Decoded:
    if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise DecodeFailure(B.REASON_UNDECODABLE, "jpeg: truncated (no end-of-image marker after the last scan)")
    factor, flags = _reduction(header, cfg)
    # IMREAD_COLOR applies EXIF orientation and converts grey and CMYK JPEGs to BGR.
    img = _imdecode(data, flags, "jpeg")
    if factor == 1 or header.width is None or header.height is None:
        _check_size(img.shape[1], img.shape[0], cfg, "decoded")
        return Decoded(img, img.shape[1], img.shape[0])
    w, h = header.width, header.height
    if _rotated(img, w, h, factor):
        w, h = h, w
    return Decoded(img, w, h)


def _reduction(header: Header, cfg: DecodeConfig) -> tuple[int, int]:
    if cfg.reduced_decode_min_side is None or header.width is None or header.height is None:
        return 1, cv2.IMREAD_COLOR
    long_side = max(header.width, header.height)
    for factor, flags in _REDUCED:
        if long_side // factor >= cfg.reduced_decode_min_side:
            return factor, flags
    return 1, cv2.IMREAD_COLOR


def _rotated(img: np.ndarray, width: int, height: int, factor: int) -> bool:
    """True when EXIF orientation swapped the axes: the decoded shape matches the transposed header size."""
    dh, dw = img.shape[:2]
    straight = abs(dw - -(-width // factor)) + abs(dh - -(-height // factor))
    swapped = abs(dw - -(-height // factor)) + abs(dh - -(-width // factor))
    return bool(swapped < straight)


def _decode_other(data: bytes, header: Header, cfg: DecodeConfig) -> Decoded:
    # IMREAD_UNCHANGED keeps alpha and 16-bit samples so they can be normalised properly below
    # (IMREAD_COLOR would drop alpha onto black).
    img = to_bgr8(_imdecode(data, cv2.IMREAD_UNCHANGED, header.format))
    _check_size(img.shape[1], img.shape[0], cfg, "decoded")
    return Decoded(img, img.shape[1], img.shape[0])


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Any OpenCV image (grey, grey+alpha, BGR, BGRA; 8/16-bit or float) -> 3-channel uint8 BGR."""
    img = _to_uint8(img)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 2:
        img = np.dstack([img[:, :, 0]] * 3 + [img[:, :, 1]])
        channels = 4
    if channels == 4:
        return _over_white(img)
    return np.ascontiguousarray(img[:, :, :3])


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        # Float TIFFs hold 0..1 by convention, sometimes 0..255; NaN and infinities (no data) become 0.
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
        peak = 255.0 if img.size and float(img.max()) > 1.0 else 1.0
        scaled: np.ndarray = (np.clip(img / peak, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return scaled
    clipped: np.ndarray = np.clip(img, 0, 255).astype(np.uint8)
    return clipped


def _over_white(bgra: np.ndarray) -> np.ndarray:
    """Transparent product shots sit on white in every shop; compositing on black would invent a dark background."""
    alpha = bgra[:, :, 3:4].astype(np.float32) / 255.0
    bgr = bgra[:, :, :3].astype(np.float32)
    out: np.ndarray = (bgr * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return out
