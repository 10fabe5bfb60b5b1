"""--resume on a real local Spark: the same settings or a refusal, and honest counts (imgpipe.job)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from imgpipe.errors import ConfigError, ImgpipeError
from tests.helpers import MODELS_YAML, files_config, photo_paths
from tests.integration.conftest import read_rows, run_config
from tests.integration.faults import driver_dies_at_chunk

SIX = 6


@pytest.fixture
def interrupted(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A run of 3 chunks of 2 photos whose driver died after committing chunk 0."""
    src = tmp_path / "in"
    src.mkdir()
    for photo in photo_paths()[:SIX]:
        shutil.copy(photo, src / photo.name)
    config = files_config(src, tmp_path / "out", MODELS_YAML + "run: {chunk_files: 2}\n")
    with driver_dies_at_chunk(monkeypatch, 2), pytest.raises(ImgpipeError, match="driver lost"):
        run_config(spark, config)
    return config, tmp_path / "out"


def test_resume_with_a_changed_inference_setting_is_refused_naming_it(
    spark: SparkSession, interrupted: tuple[str, Path]
) -> None:
    config, out = interrupted
    before = sorted(p.name for p in (out / "results").iterdir())
    with pytest.raises(ConfigError, match=r"detect\.score_threshold \(now 0\.8\)") as refused:
        run_config(spark, config, ("detect.score_threshold=0.8",), resume=True)
    assert refused.value.exit_code == 2
    for changed in ("crop.top_k=2", "decode.max_pixels=1000000", "sink.explode=true",
                    "embed.providers=[CUDAExecutionProvider,CPUExecutionProvider]"):  # fmt: skip
        with pytest.raises(ConfigError, match=changed.split("=")[0].replace(".", r"\.")):
            run_config(spark, config, (changed,), resume=True)
    assert sorted(p.name for p in (out / "results").iterdir()) == before


def test_speed_settings_may_change_and_counts_separate_this_run_from_earlier_work(
    spark: SparkSession, interrupted: tuple[str, Path]
) -> None:
    config, out = interrupted
    resumed = run_config(spark, config, ("detect.batch_size=4", "embed.batch_size=8"), resume=True)
    assert (resumed.images_read, resumed.images_already_committed, resumed.images_processed) == (SIX, 2, 4)
    assert resumed.chunks_skipped == 1 and len(read_rows(out / "results")) == SIX
    again = run_config(spark, config, resume=True)  # everything is committed: nothing to do
    assert (again.images_read, again.images_already_committed, again.images_processed) == (SIX, SIX, 0)
    assert again.images_per_second == 0.0 and again.read_tasks == 0
