"""Ingest row keys and pre-split points (imgpipe.ingest)."""

from __future__ import annotations

from imgpipe.ingest import row_key, shell_command, split_keys


def test_ingest_keys_and_splits() -> None:
    assert split_keys(4) == [b"4000", b"8000", b"c000"]
    assert split_keys(1) == []
    key = row_key("cats/001.jpg")
    assert key.endswith(b"/cats/001.jpg") and len(key.split(b"/")[0]) == 4
    assert shell_command("t", ["f"], split_keys(2)) == "create 't', {NAME => 'f', VERSIONS => 1}, SPLITS => ['8000']"
