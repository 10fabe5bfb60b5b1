"""Output safety before Spark starts: no root or empty output, no overlap with the input, creatable, and nothing
under imgpipe's names that imgpipe did not write (imgpipe.preflight.paths, through `imgpipe validate`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgpipe.cli import cli
from tests.helpers import photo_paths


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photo_paths()[:2]:
        shutil.copy(photo, folder / photo.name)
    return folder


def validate(tmp_path: Path, text: str) -> tuple[int, str]:
    config = tmp_path / "job.yaml"
    config.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(config)])
    return result.exit_code, result.output


def files_job(source: Path | str, sink: str, extra: str = "") -> str:
    # One key per line, so every problem has a line of its own to point at.
    return f"source:\n  type: files\n  path: '{source}'\nsink:\n  type: parquet\n  path: '{sink}'\n  mode: overwrite\n" + extra


@pytest.mark.parametrize("sink", ["{src}", "{src}/", "{src}/out", "{src}/../photos", "{parent}"])
def test_output_overlapping_the_input_is_refused_naming_both_lines(photos: Path, tmp_path: Path, sink: str) -> None:
    code, out = validate(tmp_path, files_job(photos, sink.format(src=photos, parent=photos.parent)))
    assert code == 2, out
    assert "job.yaml:6: sink.path:" in out and "the input source.path" in out and "job.yaml:3)" in out


def test_parquet_source_and_report_dir_overlaps_are_refused(photos: Path, tmp_path: Path) -> None:
    text = (
        f"source:\n  type: parquet\n  path: ['{tmp_path / 'other'}', '{photos}']\n"
        f"sink:\n  type: parquet\n  path: '{tmp_path / 'out'}'\nrun:\n  report_dir: '{photos / 'reports'}'\n"
    )
    (tmp_path / "other").mkdir()
    code, out = validate(tmp_path, text)
    assert code == 2 and "job.yaml:8: run.report_dir:" in out and "source.path[1]" in out and "job.yaml:3)" in out


@pytest.mark.parametrize("sink", ["/", "", "//", "file:/", "file:///"])
def test_root_and_empty_outputs_are_refused(photos: Path, tmp_path: Path, sink: str) -> None:
    code, out = validate(tmp_path, files_job(photos, sink))
    assert code == 2, out
    assert "job.yaml:6: sink.path:" in out and ("root of a filesystem" in out or "is empty" in out)


def test_a_results_folder_imgpipe_did_not_write_is_refused_not_replaced(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "precious.csv").write_text("a,b\n")
    code, printed = validate(tmp_path, files_job(photos, str(out)))
    assert code == 2 and "job.yaml:6: sink.path:" in printed and "imgpipe did not write it" in printed
    assert (out / "results" / "precious.csv").exists()


def test_imgpipe_output_with_a_stranger_inside_is_refused(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "_imgpipe").mkdir(parents=True)
    (out / "_imgpipe" / "output.json").write_text("{}")
    (out / "errors").mkdir()
    (out / "errors" / "notes.txt").write_text("mine")
    code, printed = validate(tmp_path, files_job(photos, str(out)))
    assert code == 2 and "errors holds files imgpipe did not write (notes.txt)" in printed


def test_imgpipe_own_output_may_be_replaced(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "_imgpipe").mkdir(parents=True)
    (out / "_imgpipe" / "manifest.json").write_text("{}")
    (out / "results" / "chunk=r-00000").mkdir(parents=True)
    (out / "errors").mkdir()
    for name in ("part-00000-x.snappy.parquet", "_SUCCESS", ".part-00000-x.snappy.parquet.crc"):
        (out / "errors" / name).write_text("")
    (out / "summary.json").write_text("{}")
    code, printed = validate(tmp_path, files_job(photos, str(out)))
    assert code == 0, printed


def test_an_output_below_a_file_is_found_before_spark(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    code, out = validate(tmp_path, files_job(photos, str(tmp_path / "blocker" / "out")))
    assert code == 2 and "job.yaml:6: sink.path:" in out and "blocker is a file, not a folder" in out


def test_hbase_sink_report_dir_inside_the_input_is_refused(photos: Path, tmp_path: Path) -> None:
    text = (
        f"source:\n  type: files\n  path: '{photos}'\n"
        "sink:\n  type: hbase\n  host: localhost\n  table: results\n"
        f"run:\n  report_dir: '{photos}/runs'\n"
    )
    code, out = validate(tmp_path, text)
    assert code == 2 and "job.yaml:9: run.report_dir:" in out
