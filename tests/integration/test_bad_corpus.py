"""A corpus with every kind of bad input mixed into real photos, through the full job on local Spark.

One run (decode -> detect -> crop -> embed, yolox-nano + mobilenetv2-int8) over a Parquet source:
Parquet is the only source that can hold a null image cell and two rows with one key. Every good image
must come out right, every bad one must be an ``errors`` row with its reason class, and no Spark task
may fail: a bad image is data, never a task failure.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.report import RunReport
from tests.helpers import MODELS_YAML, SHARED_IMAGES
from tests.integration.conftest import read_rows, run_config
from tests.integration.faults import job_group, task_failures

DOG = {"dog", "bicycle", "car"}
#: key -> expected error_reason (all from the decode stage).
BAD = {
    "zero-bytes.jpg": "empty",
    "null-cell.jpg": "empty",
    "truncated.jpg": "undecodable",
    "random.bin": "unsupported_format",
    "notes.txt": "unsupported_format",
    "page.html": "unsupported_format",
    "bomb-50000x50000.png": "too_large",
}
#: key -> (width, height) of good images that are not plain photos.
ODD = {
    "cmyk.jpg": (320, 240),
    "rgb16.png": (320, 240),
    "grey.jpg": (320, 240),
    "rgba.png": (320, 240),
    "palette.gif": (320, 240),
    "lossy.webp": (320, 240),
    "pages.tif": (320, 240),
    "one-pixel.png": (1, 1),
    "strip-20000x10.png": (20000, 10),
}
PHOTOS = ("dog.jpg", "person.jpg")
DUPLICATE = "dup.jpg"


# --- building the corpus -------------------------------------------------------------------------------


def _pil_bytes(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header declares ``width`` x ``height`` RGB."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * width) * 4)  # a few rows; the decoder would want them all
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def exif_rotated(jpeg: bytes) -> bytes:
    """The same pixels, re-encoded with EXIF orientation 6 (display rotated 90 degrees clockwise)."""
    img = Image.open(io.BytesIO(jpeg))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _pil_bytes(img, "JPEG", quality=95, exif=exif.tobytes())


def odd_formats(photo: Image.Image) -> dict[str, bytes]:
    small = photo.convert("RGB").resize((320, 240), Image.Resampling.BILINEAR)
    rgba = small.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((320, 240)))
    bgr16 = cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    ok, png16 = cv2.imencode(".png", bgr16)
    assert ok
    second_page = small.resize((100, 50))
    return {
        "cmyk.jpg": _pil_bytes(small.convert("CMYK"), "JPEG", quality=95),
        "rgb16.png": png16.tobytes(),
        "grey.jpg": _pil_bytes(small.convert("L"), "JPEG", quality=95),
        "rgba.png": _pil_bytes(rgba, "PNG"),
        "palette.gif": _pil_bytes(small.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "lossy.webp": _pil_bytes(small, "WEBP", quality=90),
        "pages.tif": _pil_bytes(small, "TIFF", save_all=True, append_images=[second_page]),
        "one-pixel.png": _pil_bytes(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"),
        "strip-20000x10.png": _pil_bytes(Image.new("RGB", (20000, 10), (30, 200, 30)), "PNG"),
    }


def bad_inputs(dog: bytes) -> dict[str, bytes | None]:
    return {
        "zero-bytes.jpg": b"",
        "null-cell.jpg": None,
        "truncated.jpg": dog[: len(dog) // 2],
        "random.bin": np.random.default_rng(7).bytes(4096),
        "notes.txt": b"shopping list:\n- milk\n- eggs\n",
        "page.html": b"<!DOCTYPE html>\n<html><body><img src='dog.jpg'></body></html>\n",
        "bomb-50000x50000.png": decompression_bomb(),
    }


def corpus() -> dict[str, list[Any]]:
    """Rows in order; ``dup.jpg`` appears twice (a dog and a person), everything else once."""
    dog = (SHARED_IMAGES / "dog.jpg").read_bytes()
    rows: list[tuple[str, bytes | None]] = [(name, (SHARED_IMAGES / name).read_bytes()) for name in PHOTOS]
    rows.append(("dog-exif6.jpg", exif_rotated(dog)))
    rows += odd_formats(Image.open(io.BytesIO(dog))).items()
    rows += bad_inputs(dog).items()
    rows += [(DUPLICATE, dog), (DUPLICATE, (SHARED_IMAGES / "person.jpg").read_bytes())]
    return {"key": [k for k, _ in rows], "image": [v for _, v in rows]}


def write_corpus(folder: Path) -> int:
    """The corpus as two Parquet files (two read tasks), interleaving good and bad rows."""
    folder.mkdir()
    data = corpus()
    table = pa.table({"key": pa.array(data["key"]), "image": pa.array(data["image"], pa.binary())})
    assert table.column("image").null_count == 1
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), folder / "part-a.parquet")
    pq.write_table(table.slice(half), folder / "part-b.parquet")
    return table.num_rows


def parquet_config(src: Path, out: Path, extra: str = "") -> str:
    return (
        f"source: {{type: parquet, path: '{src}', key_column: key, image_column: image}}\n"
        f"sink: {{type: parquet, path: '{out}', mode: overwrite}}\n" + extra
    )


# --- the run ---------------------------------------------------------------------------------------------


class CorpusRun:
    def __init__(self, report: RunReport, out: Path, rows: int, failures: dict[str, Any]) -> None:
        self.report, self.out, self.rows, self.failures = report, out, rows, failures
        self.results = read_rows(out / "results")
        self.errors = read_rows(out / "errors")
        self.summary = json.loads((out / "summary.json").read_text())

    def one(self, key: str) -> dict[str, Any]:
        (row,) = [r for r in self.results if r[B.KEY] == key]
        return row

    def decode_errors(self) -> dict[str, dict[str, Any]]:
        return {e[B.KEY]: e for e in self.errors if e[B.ERROR_REASON] != "duplicate_key"}


@pytest.fixture(scope="module")
def corpus_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    root = tmp_path_factory.mktemp("bad-corpus")
    rows = write_corpus(root / "src")
    with job_group(spark, "bad-corpus"):
        config = parquet_config(root / "src", root / "out", MODELS_YAML + "run: {max_error_rate: 0.5}\n")
        report = run_config(spark, config)
    yield CorpusRun(report, root / "out", rows, task_failures(spark, "bad-corpus"))


def labels(row: dict[str, Any]) -> set[str]:
    return {o["label_name"] for o in row[B.OBJECTS] if o["label_name"]}


def test_the_job_completes_and_no_task_failed(corpus_run: CorpusRun) -> None:
    report = corpus_run.report
    assert corpus_run.failures["stages"] >= 1, f"no stages recorded for the job group: {corpus_run.failures}"
    assert corpus_run.failures["failed_tasks"] == 0, f"bad images made Spark tasks fail: {corpus_run.failures}"
    assert report.images_read == corpus_run.rows == len(corpus_run.results)
    assert not report.error_rate_exceeded and corpus_run.summary["status"] == "succeeded"
    decode_failures = {r: n for r, n in report.errors_by_reason.items() if r != "duplicate_key"}
    assert decode_failures == {"empty": 2, "undecodable": 1, "unsupported_format": 3, "too_large": 1}


def test_every_bad_input_is_an_error_row_with_its_reason(corpus_run: CorpusRun) -> None:
    errors = corpus_run.decode_errors()
    assert {k: e[B.ERROR_REASON] for k, e in errors.items()} == BAD
    assert all(e[B.ERROR_STAGE] == "decode" and e[B.ERROR] for e in errors.values())
    assert "50000x50000" in errors["bomb-50000x50000.png"][B.ERROR]
    for key in BAD:
        row = corpus_run.one(key)
        assert row[B.STATUS] == "error" and row[B.OBJECTS] is None and row[B.IMAGE_EMBEDDING] is None


def test_photos_keep_their_objects(corpus_run: CorpusRun) -> None:
    dog = corpus_run.one("dog.jpg")
    assert (dog[B.STATUS], dog[B.WIDTH], dog[B.HEIGHT]) == ("ok", 768, 576)
    assert DOG <= labels(dog)
    assert "person" in labels(corpus_run.one("person.jpg"))
    for key in PHOTOS:
        assert len(corpus_run.one(key)[B.IMAGE_EMBEDDING]) == 1280


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return w * h / (area - w * h)


def _box(row: dict[str, Any], label: str) -> tuple[float, ...]:
    best = max((o for o in row[B.OBJECTS] if o["label_name"] == label), key=lambda o: o["score"])
    return tuple(best["box"][k] for k in ("x1", "y1", "x2", "y2"))


def test_exif_rotated_photo_is_upright_and_still_a_dog(corpus_run: CorpusRun) -> None:
    rotated = corpus_run.one("dog-exif6.jpg")
    assert (rotated[B.STATUS], rotated[B.WIDTH], rotated[B.HEIGHT]) == ("ok", 576, 768)
    assert "dog" in labels(rotated)
    # Orientation 6 shows the stored image turned 90 degrees clockwise: (x, y) -> (H - y, x).
    x1, y1, x2, y2 = _box(corpus_run.one("dog.jpg"), "dog")
    expected = (576 - y2, x1, 576 - y1, x2)
    assert _iou(_box(rotated, "dog"), expected) > 0.6, (_box(rotated, "dog"), expected)


def test_odd_but_valid_formats_decode_with_their_size(corpus_run: CorpusRun) -> None:
    for key, (width, height) in ODD.items():
        row = corpus_run.one(key)
        assert (row[B.STATUS], row[B.WIDTH], row[B.HEIGHT]) == ("ok", width, height), (key, row[B.ERROR])
        assert row[B.IMAGE_EMBEDDING] is not None and len(row[B.IMAGE_EMBEDDING]) == 1280, key


def test_colour_conversions_keep_the_dog_recognisable(corpus_run: CorpusRun) -> None:
    """A channel swap or an inverted CMYK would still decode; the detector is what notices."""
    for key in ("cmyk.jpg", "rgb16.png", "rgba.png", "lossy.webp", "pages.tif"):
        assert "dog" in labels(corpus_run.one(key)), key


def test_a_tight_error_rate_fails_the_run(spark: SparkSession, corpus_run: CorpusRun, tmp_path: Path) -> None:
    """Exit-3 semantics on the same corpus; decode only, since the decode failures alone are over the limit."""
    src = corpus_run.out.parent / "src"
    strict = run_config(spark, parquet_config(src, tmp_path / "out", "run: {max_error_rate: 0.1}\n"))
    assert strict.error_rate_exceeded and strict.images_read == corpus_run.rows
    assert strict.images_failed >= len(BAD) and strict.error_rate > 0.1
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["status"] == "too_many_errors"


def test_duplicate_keys_are_reported_and_both_rows_kept(corpus_run: CorpusRun) -> None:
    dups = [r for r in corpus_run.results if r[B.KEY] == DUPLICATE]
    assert len(dups) == 2 and all(r[B.STATUS] == "ok" for r in dups)
    assert {"dog", "person"} <= set().union(*(labels(r) for r in dups))
    assert corpus_run.summary.get("duplicate_keys") == 1
    flagged = [e for e in corpus_run.errors if e[B.ERROR_REASON] == "duplicate_key"]
    assert [(e[B.KEY], e[B.ERROR_STAGE]) for e in flagged] == [(DUPLICATE, "source")]


# --- keys that are not UTF-8 ------------------------------------------------------------------------------


def test_binary_keys_survive_the_round_trip(spark: SparkSession, tmp_path: Path) -> None:
    good, bad = b"\xff\xfe\x00key\x80", b"\x00\x01\xc3(bad"
    photo = (SHARED_IMAGES / "table.jpg").read_bytes()
    table = pa.table({"k": pa.array([good, bad], pa.binary()), "img": pa.array([photo, b"junk"], pa.binary())})
    pq.write_table(table, tmp_path / "keys.parquet")
    config = (
        f"source: {{type: parquet, path: '{tmp_path / 'keys.parquet'}', key_column: k, image_column: img}}\n"
        f"sink: {{type: parquet, path: '{tmp_path / 'out'}'}}\nrun: {{max_error_rate: 1.0}}\n"
    )
    report = run_config(spark, config)
    assert (report.images_ok, report.images_failed) == (1, 1)
    results = {r[B.KEY]: r[B.STATUS] for r in read_rows(tmp_path / "out" / "results")}
    assert results == {good: "ok", bad: "error"}
    errors = read_rows(tmp_path / "out" / "errors")
    assert [e[B.KEY] for e in errors] == [bad] and isinstance(errors[0][B.KEY], bytes)
