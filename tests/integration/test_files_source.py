"""The files source on a real local Spark: every file is a row, whatever its name or state (imgpipe.sources.files)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import pytest
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.sources import files as files_module
from tests.helpers import SHARED_IMAGES, files_config
from tests.integration.conftest import read_rows, run_config

#: Glob, URI and shell characters, space, percent, hash, unicode and a newline: each must be a plain file name.
ODD_NAMES = (
    "shot[1].jpg", "a*b.jpg", "q?.jpg", "c{1,2}.jpg", "com,ma.jpg", "sp ace.jpg", "pc%20t.jpg", "ha#sh.jpg",
    "uni€ø.jpg", "new\nline.jpg", "back\\slash.jpg", "brace}.jpg",
)  # fmt: skip


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r[B.KEY]).rsplit("/", 1)[-1]: r for r in rows}


def test_file_names_with_glob_and_uri_characters_are_read_as_themselves(spark: SparkSession, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ODD_NAMES:
        shutil.copy(SHARED_IMAGES / "dog.jpg", src / name)
    report = run_config(spark, files_config(src, tmp_path / "out"))
    rows = read_rows(tmp_path / "out" / "results")
    assert report.images_ok == len(ODD_NAMES) == len(rows)
    assert {r[B.KEY] for r in rows} == {f"file:{src / name}" for name in ODD_NAMES}  # keys are the real paths


def test_unreadable_files_are_error_rows_and_other_extensions_are_counted(spark: SparkSession, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SHARED_IMAGES / "dog.jpg", src / "dog.jpg")
    os.symlink(src / "deleted-long-ago.jpg", src / "dangling.jpg")
    os.mkfifo(src / "pipe.jpg")
    ok, avif = cv2.imencode(".avif", cv2.imread(str(SHARED_IMAGES / "person.jpg")))
    assert ok
    (src / "person.avif").write_bytes(avif.tobytes())
    (src / "notes.txt").write_text("not an image")
    report = run_config(spark, files_config(src, tmp_path / "out", "run: {max_error_rate: 1.0}\n"))
    rows = by_name(read_rows(tmp_path / "out" / "results"))
    assert set(rows) == {"dog.jpg", "dangling.jpg", "pipe.jpg", "person.avif"}
    assert rows["person.avif"][B.STATUS] == "ok" and rows["person.avif"][B.WIDTH] > 0
    for name in ("dangling.jpg", "pipe.jpg"):
        assert (rows[name][B.ERROR_STAGE], rows[name][B.ERROR_REASON]) == ("read", "unreadable")
    assert "dangling symlink" in rows["dangling.jpg"][B.ERROR] and "FIFO" in rows["pipe.jpg"][B.ERROR]
    assert report.errors_by_reason == {"unreadable": 2} and report.images_read == 4 and report.files_skipped == 1
    errors = {r[B.KEY].rsplit("/", 1)[-1] for r in read_rows(tmp_path / "out" / "errors")}
    assert errors == {"dangling.jpg", "pipe.jpg"}


def test_a_file_removed_after_listing_is_an_error_row(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("dog.jpg", "person.jpg", "horses.jpg"):
        shutil.copy(SHARED_IMAGES / name, src / name)
    real_read = files_module.FilesSource.read

    def read_after_a_deletion(self: files_module.FilesSource, spark: SparkSession, units: list[Any]) -> Any:
        (src / "person.jpg").unlink(missing_ok=True)  # between the plan (listing) and this chunk's read
        return real_read(self, spark, units)

    monkeypatch.setattr(files_module.FilesSource, "read", read_after_a_deletion)
    report = run_config(spark, files_config(src, tmp_path / "out", "run: {max_error_rate: 1.0}\n"))
    rows = by_name(read_rows(tmp_path / "out" / "results"))
    assert set(rows) == {"dog.jpg", "person.jpg", "horses.jpg"} and report.images_read == 3
    assert rows["person.jpg"][B.ERROR_REASON] == "unreadable" and "disappeared" in rows["person.jpg"][B.ERROR]
