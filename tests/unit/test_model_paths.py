"""A model given by path loads only from an allowed folder: cache, mirror, config folder, cwd, $IMGPIPE_MODEL_DIRS.

``..`` and symlinks are resolved before the check, so neither can walk out of an allowed folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from onnx_models import canned_outputs, sha256

from imgpipe.cli import cli
from imgpipe.config import load_config
from imgpipe.config.job import JobConfig
from imgpipe.errors import ModelError
from imgpipe.runtime.fetch import CACHE_ENV, MIRROR_ENV
from imgpipe.runtime.registry import REGISTRY_ENV
from imgpipe.runtime.resolve import MODEL_DIRS_ENV, allowed_model_roots, resolve_models

SPEC = {"adapter": "yolox", "input": {"size": [64, 64]}, "labels": ["a", "b", "c"]}


class Tree:
    """tmp_path/{work (the cwd), cache, mirror, outside}, one tiny detector in ``outside``, env vars set."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.work, self.cache, self.mirror, self.outside = (root / d for d in ("work", "cache", "mirror", "outside"))
        for d in (self.work, self.cache, self.mirror, self.outside):
            d.mkdir()
        self.model = canned_outputs(self.outside / "det.onnx", {"output": np.zeros((1, 84, 8))}, size=(64, 64))
        monkeypatch.chdir(self.work)
        monkeypatch.setenv(CACHE_ENV, str(self.cache))
        monkeypatch.setenv(MIRROR_ENV, str(self.mirror))
        monkeypatch.delenv(MODEL_DIRS_ENV, raising=False)

    def copy_to(self, folder: Path, name: str = "det.onnx") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(self.model, folder / name))


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tree:
    return Tree(tmp_path, monkeypatch)


def job(model: str, **extra: Any) -> JobConfig:
    return JobConfig.model_validate(
        {
            "source": {"type": "files", "path": "in"},
            "sink": {"type": "parquet", "path": "out"},
            "detect": {"model": model, **extra},
        }
    )


def refused(model: str | Path, **kw: Any) -> str:
    with pytest.raises(ModelError) as info:
        resolve_models(job(str(model), spec=SPEC), **kw)
    return str(info.value)


# --- refused ------------------------------------------------------------------------------------------------


def test_a_path_outside_every_allowed_folder_is_refused(tree: Tree) -> None:
    message = refused(tree.model)
    assert message.startswith("model 'det': expected the model file inside an allowed folder")
    assert str(tree.model) in message
    for root in (tree.work, tree.cache, tree.mirror):
        assert str(root.resolve()) in message
    assert f"{MODEL_DIRS_ENV}={tree.outside.resolve()}" in message


def test_dot_dot_cannot_climb_out_of_the_working_directory(tree: Tree) -> None:
    message = refused("./../outside/det.onnx")
    assert f"resolving to {tree.model.resolve()}" in message


def test_a_symlinked_file_pointing_outside_is_refused(tree: Tree) -> None:
    (tree.work / "det.onnx").symlink_to(tree.model)
    assert "is outside all of them" in refused(tree.work / "det.onnx")


def test_a_symlinked_folder_pointing_outside_is_refused(tree: Tree) -> None:
    (tree.work / "models").symlink_to(tree.outside, target_is_directory=True)
    assert "is outside all of them" in refused("models/det.onnx")


def test_a_sibling_folder_sharing_a_name_prefix_is_not_inside(tree: Tree) -> None:
    """``/x/work-evil`` starts with the string ``/x/work`` but is not below it."""
    evil = tree.copy_to(tree.root / "work-evil")
    assert "is outside all of them" in refused(evil)


def test_a_registry_model_with_a_path_override_outside_is_refused(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tree.root / "registry.yaml"
    entry = {"file": "det.onnx", "sha256": sha256(tree.model), "spec": SPEC}
    registry.write_text(yaml.safe_dump({"models": {"tiny-det": entry}}))
    monkeypatch.setenv(REGISTRY_ENV, str(registry))
    with pytest.raises(ModelError, match=r"model 'tiny-det': expected the model file inside an allowed folder"):
        resolve_models(job("tiny-det", path=str(tree.model)))
    monkeypatch.setenv(MODEL_DIRS_ENV, str(tree.outside))
    model = resolve_models(job("tiny-det", path=str(tree.model))).detect
    assert model is not None and model.path == str(tree.model)


def test_the_cli_reports_a_refused_path_as_a_config_problem(tree: Tree) -> None:
    (tree.work / "in").mkdir()
    config = tree.work / "job.yaml"
    config.write_text(
        "source: {type: files, path: in}\nsink: {type: parquet, path: out}\n"
        f"detect: {{model: '{tree.model}', spec: {{adapter: yolox, input: {{size: [64, 64]}}, labels: [a, b, c]}}}}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 2, result.output
    assert "expected the model file inside an allowed folder" in result.output and MODEL_DIRS_ENV in result.output


# --- allowed --------------------------------------------------------------------------------------------------


def test_a_model_below_the_working_directory_is_allowed(tree: Tree) -> None:
    tree.copy_to(tree.work / "models")
    model = resolve_models(job("./models/det.onnx", spec=SPEC)).detect
    assert model is not None and model.name == "det" and model.labels == ("a", "b", "c")


def test_a_symlink_inside_pointing_inside_is_allowed(tree: Tree) -> None:
    target = tree.copy_to(tree.mirror / "nested")
    (tree.work / "link.onnx").symlink_to(target)
    assert resolve_models(job("link.onnx", spec=SPEC)).detect is not None


def test_models_in_the_cache_and_the_mirror_are_allowed(tree: Tree) -> None:
    for folder in (tree.cache, tree.mirror):
        assert resolve_models(job(str(tree.copy_to(folder / "own")), spec=SPEC)).detect is not None


def test_the_config_files_folder_and_below_are_allowed(tree: Tree) -> None:
    config_dir = tree.root / "jobs"
    path = tree.copy_to(config_dir / "models")
    assert "is outside all of them" in refused(path)
    model = resolve_models(job(str(path), spec=SPEC), config_path=config_dir / "nightly.yaml").detect
    assert model is not None and model.path == str(path)


def test_folders_in_imgpipe_model_dirs_are_allowed(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tree.copy_to(tree.root / "shared-models")
    monkeypatch.setenv(MODEL_DIRS_ENV, os.pathsep.join([str(tree.root / "nowhere"), str(tree.outside), ""]))
    assert resolve_models(job(str(tree.model), spec=SPEC)).detect is not None
    assert "is outside all of them" in refused(other)


def test_allowed_roots_are_resolved_and_listed_once(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree.root / "cache-link").symlink_to(tree.cache, target_is_directory=True)
    monkeypatch.setenv(CACHE_ENV, str(tree.root / "cache-link"))
    monkeypatch.setenv(MODEL_DIRS_ENV, str(tree.work))
    monkeypatch.setenv(MIRROR_ENV, "https://models.example.com/imgpipe")  # a URL is no folder to allow
    roots = allowed_model_roots(tree.work / "job.yaml")
    assert roots == [tree.cache.resolve(), tree.work.resolve()]


@pytest.mark.parametrize("form", ["file:/{}", "file:///{}"])
def test_a_mirror_given_as_a_file_uri_is_an_allowed_folder(
    tree: Tree, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    spaced = tree.mirror.rename(tree.mirror.with_name("my mirror"))  # a URI writes it my%20mirror
    monkeypatch.setenv(MIRROR_ENV, form.format(quote(str(spaced).lstrip("/"))))
    assert spaced.resolve() in allowed_model_roots()
    assert resolve_models(job(str(tree.copy_to(spaced)), spec=SPEC)).detect is not None


def test_build_pipeline_allows_models_next_to_the_config(tree: Tree) -> None:
    from imgpipe.preflight import build_pipeline

    config_dir = tree.root / "jobs"
    path = tree.copy_to(config_dir)
    (config_dir / "nightly.yaml").write_text(
        "source: {type: files, path: in}\nsink: {type: parquet, path: out}\n"
        f"detect: {{model: '{path}', spec: {{adapter: yolox, input: {{size: [64, 64]}}, labels: [a, b, c]}}}}\n"
    )
    pipeline = build_pipeline(load_config(config_dir / "nightly.yaml"), run_id="r")
    assert pipeline.detector is not None and re.search("det", pipeline.detector.name)


# --- the working directory counts only when it is no system folder ---------------------------------------------


@pytest.mark.parametrize("cwd", ["/", "/etc", "/usr", "/var", "/dev", "/proc/self", "/sys/kernel"])
def test_a_system_folder_as_the_working_directory_allows_nothing(
    tree: Tree, monkeypatch: pytest.MonkeyPatch, cwd: str
) -> None:
    if not os.path.isdir(cwd):
        pytest.skip(f"{cwd} does not exist here")
    monkeypatch.chdir(cwd)
    assert Path(os.path.realpath(cwd)) not in allowed_model_roots()
    assert "is outside all of them" in refused(Path(cwd) / "det.onnx")
    assert f"(not the working directory {Path.cwd()}: a system folder)" in refused(Path(cwd) / "det.onnx")
    assert "is outside all of them" in refused(tree.model)


def test_a_working_directory_below_usr_still_counts(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/usr/share")
    assert Path(os.path.realpath("/usr/share")) in allowed_model_roots()
