"""Crop stage: top-k, padding, minimum size, whole-image entry, no-object policies, reduced-size decodes."""

from __future__ import annotations

import numpy as np
import pytest

from imgpipe.config.inference import CropConfig
from imgpipe.stages.crop import NoObjectsError, crop_objects
from imgpipe.stages.detect import Detections


def detections(boxes: list[list[float]], scores: list[float]) -> Detections:
    labels = np.arange(len(scores), dtype=np.int32)
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(scores, np.float32),
        labels,
        [f"c{i}" for i in labels],
    )


def gradient(h: int = 200, w: int = 300) -> np.ndarray:
    """Pixel (y, x) holds (x % 256, y % 256, 0), so a crop shows where it was cut from."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs % 256, ys % 256, np.zeros_like(xs)], axis=2).astype(np.uint8)


DET = detections([[10, 20, 110, 120], [150, 50, 250, 190], [0, 0, 20, 20]], [0.5, 0.9, 0.8])


def test_top_k_by_score_and_min_size() -> None:
    crops = crop_objects(gradient(), DET, CropConfig(top_k=5, min_size=32))
    assert [c.label_name for c in crops] == ["c1", "c0"]  # c2 is 20 px: too small
    c = crops[1]
    assert c.pixels.shape == (100, 100, 3) and c.pixels[0, 0].tolist() == [10, 20, 0]
    assert c.box == (10, 20, 110, 120) and c.score == pytest.approx(0.5) and not c.whole_image
    assert len(crop_objects(gradient(), DET, CropConfig(top_k=1, min_size=1))) == 1


def test_padding_is_a_fraction_of_the_box_and_clipped() -> None:
    (c,) = crop_objects(gradient(), DET, CropConfig(top_k=1, padding=0.1))
    assert c.box == pytest.approx((140, 36, 260, 200))  # +10 px x, +14 px y; bottom clipped at 200
    assert c.pixels.shape == (164, 120, 3)


def test_reduced_decode_cuts_scaled_pixels_but_reports_original_boxes() -> None:
    half = gradient(100, 150)
    crops = crop_objects(half, DET, CropConfig(), scale=0.5)
    assert crops[1].box == (10, 20, 110, 120)
    assert crops[1].pixels.shape == (50, 50, 3) and crops[1].pixels[0, 0].tolist() == [5, 10, 0]


def test_whole_image_entry_comes_first() -> None:
    crops = crop_objects(gradient(), DET, CropConfig(whole_image=True), scale=0.5)
    assert crops[0].whole_image and crops[0].box == (0, 0, 600, 400) and crops[0].label == -1
    assert len(crops) == 3


NONE = detections([], [])


def test_no_objects_skip() -> None:
    assert crop_objects(gradient(), NONE, CropConfig(on_no_objects="skip")) == []


def test_no_objects_whole_image() -> None:
    (c,) = crop_objects(gradient(), NONE, CropConfig(on_no_objects="whole_image"))
    assert c.whole_image and c.pixels.shape == (200, 300, 3)


def test_no_objects_error() -> None:
    with pytest.raises(NoObjectsError) as info:
        crop_objects(gradient(), detections([[0, 0, 5, 5]], [0.9]), CropConfig(on_no_objects="error"))
    assert info.value.reason == "no_objects"
