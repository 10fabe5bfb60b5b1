"""Builders shared by tests of every tier: the shared photos and models, job configs, synthetic images, ports,
and the rule for services that cannot start."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import NoReturn

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMGPIPE_SHARED", REPO.parent / "shared"))
SHARED_IMAGES = SHARED / "images"
SHARED_MODELS = SHARED / "models"


#: The three model sections most job tests run: YOLOX-Nano, up to 5 crops of 16 px or more, MobileNetV2-int8.
MODELS_YAML = """
detect: {model: yolox-nano, score_threshold: 0.3}
crop: {top_k: 5, min_size: 16, whole_image: true}
embed: {model: mobilenetv2-int8}
"""


def photo_paths() -> list[Path]:
    return sorted(p for p in SHARED_IMAGES.iterdir() if p.suffix.lower() in {".jpg", ".png", ".bmp"})


def photo_count() -> int:
    """How many photos ../shared/images holds: assertions count against this, not a literal."""
    return len(photo_paths())


def files_config(src: Path | str, out: Path | str, extra: str = "") -> str:
    """A job config reading the image folder ``src`` and overwriting Parquet output at ``out``."""
    return f"source: {{type: files, path: '{src}'}}\nsink: {{type: parquet, path: '{out}', mode: overwrite}}\n" + extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_unavailable(service: str, reason: str) -> NoReturn:
    """A real service the test needs did not start: a failure under CI=true, a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{service} could not start (CI=true makes this a failure): {reason}", pytrace=False)
    pytest.skip(f"{service} not available: {reason}")


def encode(img: np.ndarray, ext: str = ".png", params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok, f"OpenCV could not encode {ext}"
    return buf.tobytes()


def gradient(h: int = 64, w: int = 96) -> np.ndarray:
    """A BGR image whose colours differ along both axes, so rotations and channel swaps are visible."""
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), np.full((h, w), 128)]).astype(np.uint8)


def process_args() -> dict[int, list[str]]:
    """Every process's command-line arguments, by PID (Linux /proc): to find a service's processes by its dir."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found[int(cmdline.parent.name)] = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # the process ended while we looked
    return found


#: The photos that get near-duplicate copies in the dedup tests and in scripts/measure_features.py.
DEDUP_PHOTOS = ("dog.jpg", "carton_33.jpg", "chelsea.png", "can_1.jpg", "skimage_coffee.png")


def near_duplicate_copies(path: Path) -> dict[str, bytes]:
    """File name -> bytes of four copies of a photo: re-encoded (JPEG q50), resized (0.5x), cropped (5 % off
    each side), flipped (horizontally). Each copy changes one thing; lossless PNG keeps the others exact."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    dy, dx = round(h * 0.05), round(w * 0.05)
    half = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return {
        f"{path.name}~q50.jpg": encode(img, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 50]),
        f"{path.name}~half.png": encode(half),
        f"{path.name}~crop.png": encode(np.ascontiguousarray(img[dy : h - dy, dx : w - dx])),
        f"{path.name}~flip.png": encode(np.ascontiguousarray(img[:, ::-1])),
    }


def near_duplicate_corpus(target: Path) -> Path:
    """The shared photos plus four near-duplicate copies of each of ``DEDUP_PHOTOS``, in one folder."""
    target.mkdir(parents=True, exist_ok=True)
    for photo in photo_paths():
        (target / photo.name).write_bytes(photo.read_bytes())
    for name in DEDUP_PHOTOS:
        for copy, data in near_duplicate_copies(SHARED_IMAGES / name).items():
            (target / copy).write_bytes(data)
    return target
