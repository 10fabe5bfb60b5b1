"""Text files a user hands imgpipe (a job config, a model registry, a label list): UTF-8, or an error naming the
line that is not, instead of a ``UnicodeDecodeError`` from deep inside a run."""

from __future__ import annotations

from pathlib import Path


class NotUtf8Error(ValueError):
    """The file holds bytes that are not UTF-8; the message names the file, the line and the byte."""


def read_utf8(path: Path) -> str:
    """The file's text, without the byte-order mark some Windows editors write first. ``OSError`` if it cannot be
    read; ``NotUtf8Error`` if it is not UTF-8."""
    data = path.read_bytes()
    try:
        # Not "utf-8-sig": its error positions do not count the mark, and the line named would be wrong.
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line, column = data.count(b"\n", 0, exc.start) + 1, exc.start - line_start + 1
        raise NotUtf8Error(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); save the file as "
            'UTF-8 (an editor\'s "Save with encoding", or iconv -t UTF-8)'
        ) from exc
