"""The benchmark corpora: the shared photos re-encoded as JPEG q90 at given long sides, repeated.

Image i is photo ``i % 16`` at side ``sides[(i // 16) % len(sides)]`` (as the first benchmark built it);
each distinct encoding is made once and its bytes repeated, so large corpora build in seconds.
The same images are written as files (``img_00000.jpg`` ...) and as a Parquet dataset of (key, image).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import SHARED

SIDES = (800, 1600, 3000)
#: Rows per Parquet file and per row group: Spark, Ray and Daft all split on these.
PARQUET_FILE_ROWS = 250
PARQUET_GROUP_ROWS = 25


def photos() -> list[Path]:
    return sorted(p for p in (SHARED / "images").iterdir() if p.suffix.lower() in (".jpg", ".png", ".bmp"))


@cache
def encoded(photo: Path, side: int) -> bytes:
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    scale = side / max(img.shape[:2])
    size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
    img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok, f"OpenCV could not encode {photo}"
    return bytes(buf.tobytes())


def image_bytes(count: int, sides: tuple[int, ...] = SIDES) -> list[tuple[str, bytes]]:
    shots = photos()
    return [
        (f"img_{i:05d}.jpg", encoded(shots[i % len(shots)], sides[(i // len(shots)) % len(sides)]))
        for i in range(count)
    ]


def write_files(target: Path, images: list[tuple[str, bytes]]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name, data in images:
        (target / name).write_bytes(data)
    return target


def write_parquet(target: Path, images: list[tuple[str, bytes]]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for part, start in enumerate(range(0, len(images), PARQUET_FILE_ROWS)):
        rows = images[start : start + PARQUET_FILE_ROWS]
        table = pa.table({"key": [k for k, _ in rows], "image": pa.array([d for _, d in rows], pa.binary())})
        pq.write_table(table, target / f"part-{part:05d}.parquet", row_group_size=PARQUET_GROUP_ROWS)
    return target


class Corpus:
    """One size of the corpus, as files and as Parquet, built once under ``work``."""

    def __init__(self, work: Path, count: int, sides: tuple[int, ...] = SIDES, name: str = "corpus") -> None:
        self.count = count
        base = work / f"{name}-{count}"
        self.images = image_bytes(count, sides)
        self.files = write_files(base / "files", self.images)
        self.parquet = write_parquet(base / "parquet", self.images)
        self.bytes = sum(len(d) for _, d in self.images)
