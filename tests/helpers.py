"""Builders shared by tests of every tier: paths to the shared photos and models, synthetic images."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMGPIPE_SHARED", REPO.parent / "shared"))
SHARED_IMAGES = SHARED / "images"
SHARED_MODELS = SHARED / "models"


def photo_paths() -> list[Path]:
    return sorted(p for p in SHARED_IMAGES.iterdir() if p.suffix.lower() in {".jpg", ".png", ".bmp"})


def encode(img: np.ndarray, ext: str = ".png", params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok, f"OpenCV could not encode {ext}"
    return buf.tobytes()


def gradient(h: int = 64, w: int = 96) -> np.ndarray:
    """A BGR image whose colours differ along both axes, so rotations and channel swaps are visible."""
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), np.full((h, w), 128)]).astype(np.uint8)
