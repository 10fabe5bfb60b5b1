"""Decode: every kind of input becomes 3-channel uint8 BGR, or a failure with a reason class."""

from __future__ import annotations

import io
import os
import resource
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from imgpipe import batch as B
from imgpipe.config.sections import DEFAULT_EXTENSIONS, DecodeConfig
from imgpipe.stages.decode import DecodeFailure, decode_image, to_bgr8
from imgpipe.stages.header import sniff
from tests.helpers import SHARED_IMAGES, encode, gradient, photo_count

CFG = DecodeConfig()


def pil_bytes(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring a huge image, followed by a tiny IDAT: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(
        b"IEND", b""
    )


def failure(data: bytes | None, cfg: DecodeConfig = CFG) -> DecodeFailure:
    with pytest.raises(DecodeFailure) as info:
        decode_image(data, cfg)
    return info.value


def test_colour_jpeg_and_png_round_trip() -> None:
    img = gradient()
    for ext in (".png", ".bmp", ".webp", ".tiff"):
        out = decode_image(encode(img, ext, [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []), CFG)
        assert out.pixels.shape == (64, 96, 3) and out.pixels.dtype == np.uint8, ext
        assert np.abs(out.pixels.astype(int) - img).max() <= 2, ext
    jpg = decode_image(encode(img, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]), CFG)
    assert (jpg.width, jpg.height) == (96, 64)
    assert np.abs(jpg.pixels.astype(int) - img).mean() < 3


def test_grayscale_becomes_three_equal_channels() -> None:
    grey = gradient()[:, :, 0]
    for ext in (".png", ".jpg"):
        out = decode_image(encode(grey, ext), CFG).pixels
        assert out.shape == (64, 96, 3)
        assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 1], out[:, :, 2])


def test_alpha_is_composited_over_white() -> None:
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[:, :, 2] = 255  # red
    bgra[:, :4, 3] = 255  # left half opaque, right half fully transparent
    out = decode_image(encode(bgra, ".png"), CFG).pixels
    assert out.shape == (8, 8, 3)
    assert out[0, 0].tolist() == [0, 0, 255]
    assert out[0, 7].tolist() == [255, 255, 255]


def test_sixteen_bit_png_is_scaled_to_eight_bits() -> None:
    img16 = (gradient().astype(np.uint16) * 257)
    out = decode_image(encode(img16, ".png"), CFG).pixels
    assert out.dtype == np.uint8
    assert np.array_equal(out, gradient())


def test_palette_png_and_gif_first_frame() -> None:
    rgb = Image.fromarray(gradient()[:, :, ::-1].copy())
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    for fmt in ("PNG", "GIF"):
        out = decode_image(pil_bytes(pal, fmt), CFG).pixels
        expected = np.asarray(pal.convert("RGB"))[:, :, ::-1]
        assert out.shape == (64, 96, 3), fmt
        assert np.abs(out.astype(int) - expected).max() <= 1, fmt
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 255, 0))]
    gif = pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    first = decode_image(gif, CFG).pixels
    assert first.shape == (10, 20, 3) and first[5, 5].tolist() == [0, 0, 255]


def test_cmyk_jpeg_becomes_bgr() -> None:
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # pure red in CMYK
    out = decode_image(pil_bytes(cmyk, "JPEG", quality=95), CFG).pixels
    assert out.shape == (8, 16, 3)
    b, g, r = out[4, 8].tolist()
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied() -> None:
    img = Image.fromarray(gradient(40, 100)[:, :, ::-1].copy())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = decode_image(pil_bytes(img, "JPEG", exif=exif.tobytes(), quality=95), CFG)
    assert (out.width, out.height) == (40, 100)
    assert out.pixels.shape == (100, 40, 3)


def test_exif_orientation_with_reduced_decode_reports_original_size() -> None:
    img = Image.fromarray(cv2.resize(gradient(), (2400, 1000))[:, :, ::-1].copy())
    exif = Image.Exif()
    exif[0x0112] = 6
    data = pil_bytes(img, "JPEG", exif=exif.tobytes(), quality=90)
    out = decode_image(data, DecodeConfig(reduced_decode_min_side=600))
    assert (out.width, out.height) == (1000, 2400)
    assert out.pixels.shape == (600, 250, 3)  # 1/4: the long side stays at 600
    assert out.scale == pytest.approx(0.25)


def test_multipage_tiff_gives_first_page() -> None:
    ok, buf = cv2.imencodemulti(".tiff", [gradient(10, 30), np.zeros((50, 50, 3), np.uint8)])
    assert ok
    out = decode_image(buf.tobytes(), CFG)
    assert out.pixels.shape == (10, 30, 3)


@pytest.mark.parametrize("shape", [(1, 1, 3), (10, 20000, 3)])
def test_extreme_shapes_decode(shape: tuple[int, int, int]) -> None:
    out = decode_image(encode(np.full(shape, 200, np.uint8), ".png"), CFG)
    assert (out.height, out.width) == shape[:2]


def test_reduced_decode_only_when_large() -> None:
    big = encode(cv2.resize(gradient(), (3000, 2000)), ".jpg")
    out = decode_image(big, DecodeConfig(reduced_decode_min_side=1024))
    assert out.pixels.shape == (1000, 1500, 3)
    assert (out.width, out.height) == (3000, 2000)
    full = decode_image(big, DecodeConfig(reduced_decode_min_side=None))
    assert full.pixels.shape == (2000, 3000, 3) and full.scale == 1.0


@pytest.mark.parametrize(
    ("data", "reason", "message"),
    [
        (None, B.REASON_EMPTY, "no image bytes"),
        (b"", B.REASON_EMPTY, "no image bytes"),
        (b"hello, this is a text file\n", B.REASON_UNSUPPORTED, "text or HTML"),
        (b"<!DOCTYPE html><html><body>404</body></html>", B.REASON_UNSUPPORTED, "text or HTML"),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), B.REASON_UNSUPPORTED, "not a known"),
    ],
)
def test_non_images_fail_with_reason(data: bytes | None, reason: str, message: str) -> None:
    err = failure(data)
    assert err.reason == reason
    assert message in err.message


def test_truncated_jpeg_is_undecodable() -> None:
    data = (SHARED_IMAGES / "dog.jpg").read_bytes()
    for cut in (len(data) // 3, len(data) - 100):
        err = failure(data[:cut])
        assert err.reason == B.REASON_UNDECODABLE


def test_corrupt_png_is_undecodable() -> None:
    data = bytearray(encode(gradient(), ".png"))
    data[60:200] = b"\x00" * 140
    assert failure(bytes(data)).reason == B.REASON_UNDECODABLE


def test_too_small_and_too_large_from_configured_limits() -> None:
    data = encode(gradient(64, 96), ".png")
    assert failure(data, DecodeConfig(min_side=100)).reason == B.REASON_TOO_SMALL
    err = failure(data, DecodeConfig(max_pixels=1000))
    assert err.reason == B.REASON_TOO_LARGE and "96x64" in err.message


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_decompression_bomb_refused_from_header_without_allocating() -> None:
    bomb = png_header_only(50000, 50000)
    assert len(bomb) < 200
    before = _peak_rss_mb()
    err = failure(bomb)
    assert err.reason == B.REASON_TOO_LARGE
    assert "50000x50000" in err.message
    # Decoding would need 7.5 GB; the peak resident size must not have moved by more than noise.
    assert _peak_rss_mb() - before < 50


def test_bomb_over_opencv_limit_is_too_large_even_with_a_high_configured_limit() -> None:
    before = _peak_rss_mb()
    err = failure(png_header_only(60000, 60000), DecodeConfig(max_pixels=10**10))
    assert err.reason == B.REASON_TOO_LARGE
    assert _peak_rss_mb() - before < 50


@pytest.mark.parametrize("name", ["dog.jpg", "camera.png", "tfexamples_coffee.jpg", "missvickie_potato_chips.bmp"])
def test_header_size_matches_decoded_size(name: str) -> None:
    data = (SHARED_IMAGES / name).read_bytes()
    header = sniff(data)
    out = decode_image(data, CFG)
    assert header is not None and (header.width, header.height) == (out.width, out.height)


def test_real_rgba_png_named_jpg_is_sniffed_by_content() -> None:
    data = (SHARED_IMAGES / "tfexamples_coffee.jpg").read_bytes()
    assert sniff(data) is not None and sniff(data).format == "png"  # type: ignore[union-attr]
    assert decode_image(data, CFG).pixels.shape == (960, 960, 3)


def test_to_bgr8_handles_float_and_two_channel() -> None:
    assert to_bgr8(np.full((2, 2), 0.5, np.float32)).tolist()[0][0] == [128, 128, 128]
    with_nan = np.array([[np.nan, 0.5], [np.inf, 1.0]], np.float64)
    assert to_bgr8(with_nan)[:, :, 0].tolist() == [[0, 128], [0, 255]]
    assert to_bgr8(np.full((1, 1), 200.0, np.float32))[0, 0].tolist() == [200, 200, 200]
    grey_alpha = np.dstack([np.full((2, 2), 10, np.uint8), np.zeros((2, 2), np.uint8)])
    assert to_bgr8(grey_alpha)[0, 0].tolist() == [255, 255, 255]


def test_every_shared_photo_decodes() -> None:
    names = [p for p in os.listdir(SHARED_IMAGES) if not p.endswith(".md")]
    assert len(names) == photo_count() > 0
    for name in names:
        out = decode_image((SHARED_IMAGES / name).read_bytes(), CFG)
        assert out.pixels.ndim == 3 and out.pixels.shape[2] == 3, name


def test_demo_corpus_decodes_cleanly(tmp_path: Path) -> None:
    """The photos scikit-image ships (the demo corpus) include a float64 TIFF with NaN pixels."""
    from imgpipe.demo import build

    files = build(tmp_path)
    assert len(files) >= 10
    for path in files:
        out = decode_image(path.read_bytes(), CFG)  # warnings are errors in this suite
        assert out.pixels.dtype == np.uint8 and out.pixels.shape[2] == 3, path.name


@pytest.mark.parametrize(("encoder", "extensions"), [
    (".jpg", ("jpg", "jpeg", "jpe", "jfif")), (".png", ("png",)), (".bmp", ("bmp", "dib")), (".tiff", ("tif", "tiff")),
    (".webp", ("webp",)), (".gif", ("gif",)), (".avif", ("avif",)), (".jp2", ("jp2", "j2k", "jpf", "jpx")),
])  # fmt: skip
def test_every_format_the_decoder_reads_is_in_the_default_extensions(encoder: str, extensions: tuple[str, ...]) -> None:
    """A files source skips other extensions by default, so a readable format missing here would vanish."""
    size = 64 if encoder == ".jp2" else 16  # OpenJPEG refuses to encode tiles smaller than its resolutions
    data = encode(gradient(size, size), encoder)
    assert decode_image(data, CFG).pixels.shape[:2] == (size, size)
    assert set(extensions) <= set(DEFAULT_EXTENSIONS)
