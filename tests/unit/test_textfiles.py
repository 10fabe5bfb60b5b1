"""User text files: UTF-8 with or without a byte-order mark, or an error naming the line, column and byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imgpipe.textfiles import NotUtf8Error, read_utf8


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes("\ufeffcat\ndog\n".encode())
    assert read_utf8(path).splitlines() == ["cat", "dog"]


@pytest.mark.parametrize("mark", [b"", b"\xef\xbb\xbf"])
def test_the_first_byte_that_is_not_utf8_is_named_by_line_and_column(tmp_path: Path, mark: bytes) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes(mark + b"a: 1\nb: caf\xe9\n")
    with pytest.raises(NotUtf8Error, match=rf"^{re.escape(str(path))}:2: not UTF-8 text \(byte 0xe9 at column 7\)"):
        read_utf8(path)
