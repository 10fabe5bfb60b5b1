"""Models the job ships to executors: found through the lookup the job injects, checked against their sha256
before the first session, and never fetched from the driver's path, a cache, a mirror or the network."""

from __future__ import annotations

import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from imgpipe import batch as B
from imgpipe.config import parse_config
from imgpipe.errors import ModelError
from imgpipe.pipeline import Pipeline
from imgpipe.preflight import build_pipeline
from imgpipe.runtime.model import ResolvedModel, Shipped
from imgpipe.runtime.sessions import SESSIONS
from imgpipe.spark import files
from tests.helpers import MODELS_YAML, SHARED_IMAGES, files_config


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(parse_config(files_config("/tmp", "/tmp/out", MODELS_YAML)), run_id="r")


@pytest.fixture
def executor_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executor's SparkFiles folder: ``shipped_path`` looks names up there, as SparkFiles.get does."""
    folder = tmp_path / "spark-files"
    folder.mkdir()
    monkeypatch.setattr(files.SparkFiles, "get", lambda name: str(folder / name))
    SESSIONS.clear()
    yield folder
    SESSIONS.clear()


def shipped(pipeline: Pipeline, folder: Path) -> Pipeline:
    """What ``files.ship_models`` makes of the pipeline, with the copies Spark would fetch put into ``folder``."""

    def ship(model: ResolvedModel) -> ResolvedModel:
        shutil.copyfile(model.path, folder / files.shipped_name(model))
        # The driver's path, the cache file name and the URL all lead nowhere: only the shipped copy may be used.
        gone = replace(model, path="/nonexistent/driver/model.onnx", url="http://192.0.2.1/never.onnx")
        return replace(gone, shipped=Shipped(files.shipped_name(model), files.shipped_path))

    return pipeline.with_models(ship)


def dog() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({B.KEY: ["dog"], B.IMAGE: [(SHARED_IMAGES / "dog.jpg").read_bytes()]})


def test_a_shipped_model_is_read_from_the_executors_copy_and_gives_the_same_results(
    pipeline: Pipeline, executor_files: Path
) -> None:
    want = pipeline.process(dog()).to_pylist()
    SESSIONS.clear()
    moved = shipped(pipeline, executor_files)
    assert moved.detector is not None and moved.embedder is not None
    assert moved.detector.model.local_path() == executor_files / files.shipped_name(pipeline.detector.model)  # type: ignore[union-attr]
    got = moved.process(dog()).to_pylist()
    assert got[0][B.STATUS] == "ok"
    assert [o["label_name"] for o in got[0][B.OBJECTS]] == [o["label_name"] for o in want[0][B.OBJECTS]]
    np.testing.assert_allclose(got[0][B.IMAGE_EMBEDDING], want[0][B.IMAGE_EMBEDDING], atol=1e-6)


def test_a_shipped_copy_with_other_bytes_is_refused_before_any_session(pipeline: Pipeline, executor_files: Path) -> None:
    moved = shipped(pipeline, executor_files)
    assert moved.embedder is not None
    assert moved.embedder.model.shipped is not None
    copy = executor_files / moved.embedder.model.shipped.name
    copy.write_bytes(copy.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError, match="sha256"):
        moved.embedder([np.zeros((32, 32, 3), np.uint8)])


def test_a_missing_shipped_copy_is_a_model_error_not_a_download(pipeline: Pipeline, executor_files: Path) -> None:
    moved = shipped(pipeline, executor_files)
    assert moved.detector is not None
    assert moved.detector.model.shipped is not None
    (executor_files / moved.detector.model.shipped.name).unlink()
    with pytest.raises(ModelError, match="cannot read"):
        moved.detector([np.zeros((32, 32, 3), np.uint8)])
    with pytest.raises(ModelError, match="cannot read"):  # the task fails; the image is not blamed
        moved.process(dog())


def test_shipped_names_carry_the_sha256_so_two_files_of_one_name_never_collide(pipeline: Pipeline) -> None:
    assert pipeline.detector is not None
    model = pipeline.detector.model
    other = replace(model, sha256="f" * 64)
    assert files.shipped_name(model).endswith("-" + Path(model.path).name)
    assert files.shipped_name(model) != files.shipped_name(other)


def test_a_shipped_pipeline_pickles_its_lookup_by_reference(pipeline: Pipeline, executor_files: Path) -> None:
    moved = shipped(pipeline, executor_files)
    data = pickle.dumps(moved)
    assert b"imgpipe.spark.files" in data and b"shipped_path" in data
    again = pickle.loads(data)
    assert again.embedder.model.shipped == moved.embedder.model.shipped  # type: ignore[union-attr]
