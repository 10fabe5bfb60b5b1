"""Image format and pixel size from the first bytes of a file, without decoding any pixels.

This is what lets the decode stage refuse a decompression bomb (a 200-byte PNG declaring 50000x50000)
before OpenCV allocates anything.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Header:
    format: str
    width: int | None = None
    height: int | None = None


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x00\x00\x00\x0cjP  ", "jp2"),
    (b"\xff\x4f\xff\x51", "jp2"),
)
_TEXT_MARKERS = (b"<!doctype", b"<html", b"<?xml", b"<svg", b"{", b"[")


def sniff(data: bytes) -> Header | None:
    """The container format and, where the header states it, the pixel size; None if not an image."""
    fmt = _format(data)
    if fmt is None:
        return None
    size = _SIZE_READERS.get(fmt, _no_size)(data)
    return Header(fmt, *size) if size else Header(fmt)


def looks_like_text(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    if any(head.startswith(m) for m in _TEXT_MARKERS):
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(head) and all(c >= 0x20 or c in (9, 10, 13) for c in head)


def _format(data: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis", b"heic", b"heix", b"mif1"):
        return "avif" if data[8:12] in (b"avif", b"avis") else "heif"
    return None


def _no_size(data: bytes) -> tuple[int, int] | None:
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 10:
        return None
    w, h = struct.unpack("<HH", data[6:10])
    return int(w), int(h)


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    w, h = struct.unpack("<ii", data[18:26])
    return abs(int(w)), abs(int(h))


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF and i + 9 <= n:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return w, h
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    endian = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    (ifd,) = struct.unpack(endian + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(endian + "H", data[ifd : ifd + 2])
    found: dict[int, int] = {}
    for k in range(count):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(data):
            break
        tag, kind = struct.unpack(endian + "HH", data[entry : entry + 4])
        if tag in (256, 257):
            fmt = "H" if kind == 3 else "I"
            (value,) = struct.unpack(endian + fmt, data[entry + 8 : entry + 8 + struct.calcsize(fmt)])
            found[tag] = int(value)
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


_SIZE_READERS = {
    "png": _png_size,
    "gif": _gif_size,
    "bmp": _bmp_size,
    "jpeg": _jpeg_size,
    "webp": _webp_size,
    "tiff": _tiff_size,
}
