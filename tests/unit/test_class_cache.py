"""The local JVM's class archives: one per java + pyspark + options, marked when used, bounded in number and age."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imgpipe.spark import classcache
from imgpipe.spark.classcache import KEEP, KEEP_DAYS, class_cache, prune

DAY = 86400.0


def _archive(folder: Path, name: str, age_days: float) -> Path:
    path = folder / name
    path.write_bytes(b"jsa")
    when = time.time() - age_days * DAY
    os.utime(path, (when, when))
    return path


def test_prune_keeps_the_most_recently_used_and_drops_the_unused(tmp_path: Path) -> None:
    recent = [_archive(tmp_path, f"spark-4.3.0-{i:012x}.jsa", i) for i in range(KEEP + 2)]
    stale = _archive(tmp_path, "spark-4.3.0-aaaaaaaaaaaa.jsa", KEEP_DAYS + 1)
    dropped = prune(tmp_path, keep=KEEP)
    assert sorted(dropped) == sorted([*recent[KEEP:], stale])
    assert sorted(tmp_path.iterdir()) == sorted(recent[:KEEP])


def test_prune_touches_only_archives_named_as_imgpipe_names_them(tmp_path: Path) -> None:
    theirs = [_archive(tmp_path, name, KEEP_DAYS + 5) for name in ("notes.txt", "other.jsa", "spark.jsa")]
    half_written = _archive(tmp_path, "spark-4.3.0-bbbbbbbbbbbb.jsa.123.tmp", 0.0)
    assert prune(tmp_path, keep=0) == []
    assert sorted(tmp_path.iterdir()) == sorted([*theirs, half_written])


def test_a_run_marks_its_archive_used_and_a_new_archive_makes_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classcache, "DEFAULT_DIR", tmp_path)
    monkeypatch.delenv(classcache.CACHE_ENV, raising=False)
    first = class_cache("-Xfirst")
    if first is None:
        pytest.skip("no java on this machine")
    assert first.creating is not None and not first.archive.exists()
    first.archive.write_bytes(b"jsa")  # what finish() puts in place
    old = time.time() - 3 * DAY
    os.utime(first.archive, (old, old))

    again = class_cache("-Xfirst")
    assert again is not None and again.creating is None and again.archive == first.archive
    assert time.time() - first.archive.stat().st_mtime < 60, "mapping an archive marks it as used"

    others = [_archive(tmp_path, f"spark-4.3.0-{i:012x}.jsa", 1 + i) for i in range(KEEP)]
    made = class_cache("-Xsecond")
    assert made is not None and made.creating is not None
    kept = sorted(tmp_path.glob("spark-*.jsa"))
    assert len(kept) == KEEP - 1 and first.archive in kept and others[-1] not in kept


def test_a_command_that_may_not_write_an_archive_maps_one_or_runs_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classcache, "DEFAULT_DIR", tmp_path)
    monkeypatch.delenv(classcache.CACHE_ENV, raising=False)
    if class_cache("-Xfirst") is None:
        pytest.skip("no java on this machine")
    assert class_cache("-Xfirst", write=False) is None, "no archive yet: nothing to map, and none to write"
    assert list(tmp_path.iterdir()) == []
    made = class_cache("-Xfirst")
    assert made is not None
    made.archive.write_bytes(b"jsa")
    mapped = class_cache("-Xfirst", write=False)
    assert mapped is not None and mapped.archive == made.archive and mapped.creating is None


def test_archives_of_an_earlier_format_are_not_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Earlier versions wrote archives from any JVM, however little it had loaded: they are not used again."""
    monkeypatch.setattr(classcache, "DEFAULT_DIR", tmp_path)
    monkeypatch.delenv(classcache.CACHE_ENV, raising=False)
    monkeypatch.setattr(classcache, "FORMAT", classcache.FORMAT - 1)
    earlier = class_cache("-Xfirst")
    if earlier is None:
        pytest.skip("no java on this machine")
    earlier.archive.write_bytes(b"jsa")
    monkeypatch.undo()
    monkeypatch.setattr(classcache, "DEFAULT_DIR", tmp_path)
    monkeypatch.delenv(classcache.CACHE_ENV, raising=False)
    now = class_cache("-Xfirst")
    assert now is not None and now.archive != earlier.archive and now.creating is not None
