"""Paths as imgpipe compares them: spellings of one folder are equal, globs sit at their fixed folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgpipe.locations import file_uri_path, local_path, locate


def test_local_spellings_of_one_folder_are_equal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    os.symlink(tmp_path / "a", tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    same = {locate(p) for p in ("a", "./a/", f"{tmp_path}/a", f"file:{tmp_path}/a", f"file://{tmp_path}/a", "link")}
    assert len(same) == 1


@pytest.mark.parametrize("path", ["/", "//", "file:/", "file:///", "hdfs://nn:8020/", "s3a://bucket"])
def test_roots(path: str) -> None:
    assert locate(path).is_root


def test_containment_and_globs() -> None:
    assert locate("/data").contains(locate("/data/photos/*.jpg"))
    assert locate("/data/photos/*/x.jpg") == locate("/data/photos")
    assert not locate("/data/photos").overlaps(locate("/data/photos2"))
    assert locate("hdfs://nn/data").overlaps(locate("hdfs://nn/data/out"))
    assert not locate("hdfs://nn/data").overlaps(locate("hdfs://other/data"))
    assert not locate("hdfs://nn/data").overlaps(locate("/data"))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("file:///data/in/part-0.parquet", "/data/in/part-0.parquet"),  # Spark's inputFiles()
        ("file:/data/in", "/data/in"),  # Hadoop's Path
        ("/data/in", "/data/in"),
        ("relative/in", "relative/in"),
        ("hdfs://nn/data", "hdfs://nn/data"),
    ],
)
def test_a_local_uri_is_the_plain_path_it_names(given: str, expected: str) -> None:
    assert local_path(given) == expected


@pytest.mark.parametrize("given", ["file:/a/my%20b.jpg", "file:///a/my%20b.jpg", "file://localhost/a/my%20b.jpg"])
def test_a_file_uri_names_its_unescaped_path(given: str) -> None:
    assert file_uri_path(given) == "/a/my b.jpg"
