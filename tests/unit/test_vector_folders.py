"""The folders index and dedup write: claimed with their own marker, replaced only where they wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe.errors import ConfigError
from imgpipe.vectors.dedup import DEDUP_LAYOUT
from imgpipe.vectors.folders import check_folder, prepare_folder
from imgpipe.vectors.index import INDEX_LAYOUT


def test_the_marker_is_written_before_anything_else(tmp_path: Path) -> None:
    folder = prepare_folder(str(tmp_path / "idx"), False, INDEX_LAYOUT, "--out")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["_imgpipe", "_imgpipe/index.json"]


def test_an_interrupted_build_is_replaced_but_nothing_else(tmp_path: Path) -> None:
    """Killed after its shards: no imgpipe-index.json yet, but the marker says the folder is the index's."""
    folder = prepare_folder(str(tmp_path / "idx"), False, INDEX_LAYOUT, "--out")
    (folder / "shards").mkdir()
    (folder / "shards" / "shard-00003.faiss.4242.tmp").write_bytes(b"half")
    (folder / "README.txt").write_text("what this index is for")
    with pytest.raises(ConfigError, match="pass --overwrite"):
        check_folder(str(folder), False, INDEX_LAYOUT, "--out")
    prepare_folder(str(folder), True, INDEX_LAYOUT, "--out")
    assert not (folder / "shards").exists() and (folder / "README.txt").read_text() == "what this index is for"


def test_a_dedup_checks_the_index_inside_it(tmp_path: Path) -> None:
    folder = prepare_folder(str(tmp_path / "dups"), False, DEDUP_LAYOUT, "--out")
    (folder / "index").mkdir()
    (folder / "index" / "ids").mkdir()
    with pytest.raises(ConfigError, match=r"index/ is not its index"):
        check_folder(str(folder), True, DEDUP_LAYOUT, "--out")
    (folder / "index" / "ids").rmdir()
    prepare_folder(str(folder / "index"), False, INDEX_LAYOUT, "--out")
    (folder / "index" / "shards").mkdir()
    (folder / "index" / "shards" / "notes.md").write_text("mine")
    with pytest.raises(ConfigError, match=r"index/shards/notes.md"):
        check_folder(str(folder), True, DEDUP_LAYOUT, "--out")
    (folder / "index" / "shards" / "notes.md").unlink()
    (folder / "_imgpipe" / "checkpoints" / "0b1c").mkdir(parents=True)  # Spark's, left by a killed dedup
    prepare_folder(str(folder), True, DEDUP_LAYOUT, "--out")
    assert sorted(p.name for p in folder.rglob("*")) == ["_imgpipe", "dedup.json"]


def test_a_file_where_a_folder_belongs_is_named(tmp_path: Path) -> None:
    folder = prepare_folder(str(tmp_path / "dups"), False, DEDUP_LAYOUT, "--out")
    (folder / "groups").write_text("not a dataset")
    with pytest.raises(ConfigError, match="groups is a file"):
        check_folder(str(folder), True, DEDUP_LAYOUT, "--out")


def test_a_filesystem_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a local folder of its own"):
        check_folder("/", True, INDEX_LAYOUT, "--out")
