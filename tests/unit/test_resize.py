"""Resize policies, the map back to original pixels, and tensor layout / channel order / normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from imgpipe.config.inference import InputSpec
from imgpipe.stages.resize import Transform, ensure_bgr, fit, preprocess, to_tensor


def spec(**fields: object) -> InputSpec:
    return InputSpec.model_validate({"size": [416, 416], **fields})


def test_letterbox_top_left_pads_right_and_bottom() -> None:
    image = np.full((200, 400, 3), 7, np.uint8)
    out, t = fit(image, spec(resize="letterbox", pad_value=114))
    assert out.shape == (416, 416, 3)
    assert (out[:208] == 7).all() and (out[208:] == 114).all()
    assert t == Transform(1.04, 1.04, 0, 0)


def test_letterbox_centre_pads_both_sides() -> None:
    image = np.full((200, 400, 3), 7, np.uint8)
    out, t = fit(image, spec(resize="letterbox_center", pad_value=0))
    assert (out[:104] == 0).all() and (out[104:312] == 7).all() and (out[312:] == 0).all()
    box = np.array([[0, 104, 416, 312]], np.float32)
    np.testing.assert_allclose(t.to_original(box), [[0, 0, 400, 200]], atol=1e-3)


def test_shortest_side_center_crop() -> None:
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, 250:350] = 255  # a stripe in the middle survives the centre crop
    out, t = fit(image, spec(size=[224, 224], resize="shortest_side_center_crop", shortest_side=256))
    assert out.shape == (224, 224, 3)
    assert out[:, 112].min() == 255 and out[:, 0].max() == 0
    # model x=0 is original x = (512 - 224) / 2 / (512 / 600)
    np.testing.assert_allclose(t.to_original(np.zeros((1, 4), np.float32))[0, 0], 144 / (512 / 600), rtol=1e-5)


def test_shortest_side_needs_its_side() -> None:
    with pytest.raises(ValueError, match="shortest_side"):
        spec(resize="shortest_side_center_crop")


def test_exact_stretches() -> None:
    out, t = fit(np.zeros((100, 50, 3), np.uint8), spec(size=[20, 40], resize="exact"))
    assert out.shape == (20, 40, 3) and t == Transform(0.8, 0.2)


def test_to_tensor_rgb_nchw_normalised() -> None:
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0], bgr[..., 2] = 255, 51  # blue 255, red 51
    s = spec(size=[2, 2], channels="rgb", scale=1 / 255, mean=[0.2, 0.0, 0.5], std=[0.5, 1.0, 0.25])
    t = to_tensor([bgr], s)
    assert t.shape == (1, 3, 2, 2) and t.dtype == np.float32
    np.testing.assert_allclose(t[0, :, 0, 0], [(0.2 - 0.2) / 0.5, 0.0, (1.0 - 0.5) / 0.25], atol=1e-6)


def test_to_tensor_bgr_nhwc_raw() -> None:
    bgr = np.array([[[1, 2, 3]]], np.uint8)
    t = to_tensor([bgr], spec(size=[1, 1], channels="bgr", layout="nhwc"))
    assert t.shape == (1, 1, 1, 3)
    np.testing.assert_array_equal(t[0, 0, 0], [1, 2, 3])


@pytest.mark.parametrize("shape", [(5, 6), (5, 6, 1), (5, 6, 4)])
def test_grey_and_alpha_become_bgr(shape: tuple[int, ...]) -> None:
    assert ensure_bgr(np.zeros(shape, np.uint8)).shape == (5, 6, 3)


def test_preprocess_returns_one_transform_per_image() -> None:
    tensor, transforms = preprocess([np.zeros((10, 20, 3), np.uint8), np.zeros((30, 10), np.uint8)], spec())
    assert tensor.shape == (2, 3, 416, 416) and len(transforms) == 2
