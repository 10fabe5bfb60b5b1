"""What a run may replace, and what summary.json says, on a real local Spark (imgpipe.sinks, imgpipe.job.run).

These call ``run_on`` without the preflight, as happens for hdfs:// or s3a:// paths that the driver cannot
look at before Spark starts: the sink's own check through the Hadoop filesystem must hold by itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from imgpipe.config import parse_config
from imgpipe.errors import ConfigError, ImgpipeError
from imgpipe.job import run as job_module
from imgpipe.job import run_on
from imgpipe.preflight import build_pipeline
from tests.helpers import files_config, photo_paths
from tests.integration.conftest import run_config


def photos(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True)
    for photo in photo_paths()[:count]:
        shutil.copy(photo, folder / photo.name)
    return folder


def unchecked_run(spark: SparkSession, text: str) -> Any:
    loaded = parse_config(text, "job.yaml")
    return run_on(spark, loaded, build_pipeline(loaded))


def test_overwrite_never_deletes_a_results_folder_imgpipe_did_not_write(spark: SparkSession, tmp_path: Path) -> None:
    src = photos(tmp_path / "in")
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "a.jpg").write_bytes(b"the user's own file")
    (out / "errors").mkdir()
    (out / "errors" / "b.jpg").write_bytes(b"another")
    with pytest.raises(ConfigError, match="imgpipe did not write it"):
        unchecked_run(spark, files_config(src, out))
    assert (out / "results" / "a.jpg").read_bytes() == b"the user's own file" and (out / "errors" / "b.jpg").exists()
    assert not (out / "summary.json").exists() and not (out / "_imgpipe").exists()


def test_an_output_below_a_file_fails_with_the_root_java_cause(spark: SparkSession, tmp_path: Path) -> None:
    src = photos(tmp_path / "in")
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(ImgpipeError) as caught:
        unchecked_run(spark, files_config(src, tmp_path / "blocker" / "out"))
    message = str(caught.value)
    assert "An error occurred while calling" not in message
    assert "Exception" in message and "blocker" in message, message


def test_summary_says_running_then_failed_and_never_shows_the_previous_run(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = photos(tmp_path / "in"), tmp_path / "out"
    first = run_config(spark, files_config(src, out))
    assert json.loads((out / "summary.json").read_text())["status"] == "succeeded" and first.images_ok == 2
    seen: list[str] = []

    def crash(*args: Any) -> int:
        seen.append(json.loads((out / "summary.json").read_text())["status"])
        raise RuntimeError("executor lost")

    monkeypatch.setattr(job_module, "_run_chunk", crash)
    with pytest.raises(ImgpipeError, match="executor lost"):
        run_config(spark, files_config(src, out))
    summary = json.loads((out / "summary.json").read_text())
    assert seen == ["running"]
    assert summary["status"] == "failed" and "RuntimeError: executor lost" in summary["error"]
    assert summary["run_id"] != first.run_id and summary["images_ok"] == 0


def test_overwrite_replaces_imgpipe_output_and_leaves_other_files_alone(spark: SparkSession, tmp_path: Path) -> None:
    src, out = photos(tmp_path / "in"), tmp_path / "out"
    run_config(spark, files_config(src, out))
    (out / "README.txt").write_text("notes beside the output")
    report = run_config(spark, files_config(src, out))
    assert report.status == "succeeded" and (out / "README.txt").read_text() == "notes beside the output"
    assert json.loads((out / "_imgpipe" / "output.json").read_text())["written_by"] == "imgpipe"
