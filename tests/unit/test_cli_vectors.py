"""index/search/dedup refuse bad arguments before any Spark starts (unit tests cannot start Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from imgpipe.cli import cli


@pytest.fixture
def run_output(tmp_path: Path) -> Path:
    (tmp_path / "out" / "results").mkdir(parents=True)
    return tmp_path / "out"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_index_needs_a_run_output(tmp_path: Path) -> None:
    code, out = invoke("index", str(tmp_path), "--out", str(tmp_path / "idx"))
    assert code == 2 and "expected the output folder of an imgpipe run" in out


def test_index_never_writes_into_a_foreign_folder(run_output: Path, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    code, out = invoke("index", str(run_output), "--out", str(tmp_path / "notes"), "--overwrite")
    assert code == 2 and "already exists and is not empty; no earlier index wrote it; choose a new folder" in out
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


def earlier_index(folder: Path) -> Path:
    (folder / "_imgpipe").mkdir(parents=True)
    (folder / "_imgpipe" / "index.json").write_text("{}")
    (folder / "ids").mkdir()
    (folder / "ids" / "part-00000-x.snappy.parquet").write_bytes(b"")
    (folder / "index.faiss").write_bytes(b"")
    return folder


def test_an_earlier_index_needs_overwrite(run_output: Path, tmp_path: Path) -> None:
    code, out = invoke("index", str(run_output), "--out", str(earlier_index(tmp_path / "idx")))
    assert code == 2 and "pass --overwrite to replace it" in out


def test_overwrite_refuses_an_index_holding_files_imgpipe_did_not_write(run_output: Path, tmp_path: Path) -> None:
    folder = earlier_index(tmp_path / "idx")
    (folder / "ids" / "keys-i-need.csv").write_text("mine")
    code, out = invoke("index", str(run_output), "--out", str(folder), "--overwrite")
    assert code == 2 and "did not write (ids/keys-i-need.csv)" in out
    assert (folder / "ids" / "keys-i-need.csv").read_text() == "mine" and (folder / "index.faiss").exists()


def test_dedup_never_takes_a_runs_output_for_its_own(run_output: Path, tmp_path: Path) -> None:
    """A run's folder holds summary.json and an imgpipe marker too, but not dedup's: --overwrite must not touch it."""
    other_run = tmp_path / "other-run"
    (other_run / "_imgpipe").mkdir(parents=True)
    (other_run / "_imgpipe" / "output.json").write_text("{}")
    (other_run / "summary.json").write_text('{"status": "succeeded"}')
    args = ("dedup", str(run_output), "--threshold", "0.9", "--out", str(other_run), "--overwrite")
    code, out = invoke(*args)
    assert code == 2 and "no earlier dedup wrote it" in out
    assert (other_run / "summary.json").read_text() == '{"status": "succeeded"}'


@pytest.mark.parametrize("inside", ["index", "."])
def test_the_output_folder_stays_outside_what_is_read(run_output: Path, inside: str) -> None:
    code, out = invoke("index", str(run_output), "--out", str(run_output / inside))
    assert code == 2 and f"expected a folder outside OUTPUT {run_output}" in out


def test_dedup_does_not_write_where_its_index_is(run_output: Path, tmp_path: Path) -> None:
    args = ("--threshold", "0.9", "--out", str(tmp_path / "dups"), "--index", str(tmp_path / "dups" / "index"))
    code, out = invoke("dedup", str(run_output), *args)
    assert code == 2 and "expected a folder outside --index" in out


def test_index_needs_a_local_folder(run_output: Path) -> None:
    code, out = invoke("index", str(run_output), "--out", "hdfs://nn/idx")
    assert code == 2 and "expected a local folder" in out


def test_spark_properties_are_checked(run_output: Path, tmp_path: Path) -> None:
    code, out = invoke("index", str(run_output), "--out", str(tmp_path / "i"), "--conf", "executor.memory=2g")
    assert code == 2 and "--conf: expected spark.KEY=VALUE" in out
    code, out = invoke("index", str(run_output), "--out", str(tmp_path / "i"), "--conf", "executor.memory")
    assert code == 2 and "--conf: expected spark.KEY=VALUE" in out


def test_dedup_checks_its_folder_first(run_output: Path, tmp_path: Path) -> None:
    (tmp_path / "dups").mkdir()
    (tmp_path / "dups" / "x").write_text("")
    code, out = invoke("dedup", str(run_output), "--threshold", "0.9", "--out", str(tmp_path / "dups"))
    assert code == 2 and "choose a new folder" in out
    code, out = invoke("dedup", str(run_output), "--out", str(tmp_path / "d2"))
    assert code == 2 and "--threshold" in out


def test_search_names_a_folder_that_is_no_index(tmp_path: Path) -> None:
    code, out = invoke("search", str(tmp_path), "q.jpg")
    assert code == 2 and "expected an imgpipe index" in out
