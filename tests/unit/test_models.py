"""Model registry and resolution: local path -> cache -> mirror -> URL, sha256 checks, spec checks, CLI."""

from __future__ import annotations

import pickle
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

from imgpipe.cli.models import models as models_cli
from imgpipe.config.job import JobConfig
from imgpipe.errors import ModelError
from imgpipe.runtime.fetch import CACHE_ENV, MIRROR_ENV
from imgpipe.runtime.model import ResolvedModel
from imgpipe.runtime.registry import DEFAULT_REGISTRY, REGISTRY_ENV, load_registry
from imgpipe.runtime.resolve import MODEL_DIRS_ENV, resolve_models

LABELS = "cat\ndog\ncar\n"


class Env:
    """A registry, a mirror folder and a cache folder, all under tmp_path and wired up by env vars."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.mirror, self.cache = root / "mirror", root / "cache"
        self.mirror.mkdir()
        model = canned_outputs(self.mirror / "tiny_det.onnx", {"output": np.zeros((1, 84, 8))}, size=(64, 64))
        (self.mirror / "tiny_labels.txt").write_text(LABELS)
        self.registry = root / "registry.yaml"
        self.entries: dict[str, Any] = {
            "models": {"tiny-det": self.entry("tiny_det.onnx", sha256(model))},
            "files": {"tiny-labels": {"file": "tiny_labels.txt", "sha256": sha256(self.mirror / "tiny_labels.txt")}},
        }
        self.write()
        monkeypatch.setenv(REGISTRY_ENV, str(self.registry))
        monkeypatch.setenv(MIRROR_ENV, str(self.mirror))
        monkeypatch.setenv(CACHE_ENV, str(self.cache))

    @staticmethod
    def entry(file: str, sha: str, size: int = 64) -> dict[str, Any]:
        spec = {"adapter": "yolox", "input": {"size": [size, size], "channels": "bgr"}, "labels": "tiny-labels"}
        return {"file": file, "url": None, "sha256": sha, "spec": spec}

    def write(self) -> None:
        self.registry.write_text(yaml.safe_dump(self.entries))

    def model(self, name: str = "tiny-det") -> dict[str, Any]:
        return self.entries["models"][name]  # type: ignore[no-any-return]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return Env(tmp_path, monkeypatch)


def job(**sections: Any) -> JobConfig:
    return JobConfig.model_validate(
        {"source": {"type": "files", "path": "in"}, "sink": {"type": "parquet", "path": "out"}, **sections}
    )


def test_mirror_copy_lands_in_the_cache(env: Env) -> None:
    resolved = resolve_models(job(detect={"model": "tiny-det"}))
    model = resolved.detect
    assert model is not None and resolved.embed is None
    assert Path(model.path) == env.cache / "tiny_det.onnx"
    assert model.labels == ("cat", "dog", "car") and model.batch == 1
    assert model.sha256 == env.model()["sha256"]
    assert pickle.loads(pickle.dumps(resolved)) == resolved


def test_cache_is_used_before_the_mirror(env: Env) -> None:
    resolve_models(job(detect={"model": "tiny-det"}))
    shutil.rmtree(env.mirror)
    assert resolve_models(job(detect={"model": "tiny-det"})).detect is not None


def test_corrupt_cache_copy_is_fetched_again(env: Env) -> None:
    resolve_models(job(detect={"model": "tiny-det"}))
    (env.cache / "tiny_det.onnx").write_bytes(b"junk")
    model = resolve_models(job(detect={"model": "tiny-det"})).detect
    assert model is not None and sha256(Path(model.path)) == model.sha256


def test_url_download(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV)
    env.model()["url"] = (env.mirror / "tiny_det.onnx").as_uri()
    env.entries["files"]["tiny-labels"]["url"] = (env.mirror / "tiny_labels.txt").as_uri()
    env.write()
    assert resolve_models(job(detect={"model": "tiny-det"})).detect is not None
    assert (env.cache / "tiny_det.onnx").exists()


def test_mirror_given_as_url(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, env.mirror.as_uri())
    assert resolve_models(job(detect={"model": "tiny-det"})).detect is not None


@pytest.mark.parametrize("form", ["file:/{}", "file:///{}", "file://localhost/{}"])
def test_mirror_given_as_any_file_uri(env: Env, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    # Hadoop writes file:/a, Spark file:///a, RFC 8089 allows file://localhost/a: all name the folder /a. A URI
    # escapes its spaces (Path.as_uri, Hadoop's Path.toUri): "my mirror" is written my%20mirror.
    spaced = env.mirror.rename(env.mirror.with_name("my mirror"))
    monkeypatch.setenv(MIRROR_ENV, form.format(quote(str(spaced).lstrip("/"))))
    model = resolve_models(job(detect={"model": "tiny-det"})).detect
    assert model is not None and Path(model.path) == env.cache / "tiny_det.onnx"


def test_wrong_sha256_names_the_model(env: Env) -> None:
    env.model()["sha256"] = "0" * 64
    env.write()
    with pytest.raises(ModelError, match=r"'tiny-det'.*expected sha256 0{64}, but .*tiny_det.onnx has [0-9a-f]{64}"):
        resolve_models(job(detect={"model": "tiny-det"}))
    assert not (env.cache / "tiny_det.onnx").exists()


def test_missing_model_names_the_model_and_where_it_looked(env: Env) -> None:
    (env.mirror / "tiny_det.onnx").unlink()
    message = r"'tiny-det': tiny_det.onnx not found: not in the cache .*not in the mirror"
    with pytest.raises(ModelError, match=message):
        resolve_models(job(detect={"model": "tiny-det"}))


def test_missing_label_file(env: Env) -> None:
    (env.mirror / "tiny_labels.txt").unlink()
    with pytest.raises(ModelError, match=r"tiny-det labels tiny-labels.*not found"):
        resolve_models(job(detect={"model": "tiny-det"}))


def test_a_label_file_saved_with_a_byte_order_mark_keeps_its_first_label(env: Env, tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_bytes(("\ufeff" + LABELS).encode())
    env.model()["spec"]["labels"] = str(labels)
    env.write()
    model = resolve_models(job(detect={"model": "tiny-det"})).detect
    assert model is not None and model.labels == ("cat", "dog", "car")


def test_a_label_file_that_is_not_utf8_names_its_line(env: Env, tmp_path: Path) -> None:
    labels = tmp_path / "my labels.txt"
    labels.write_bytes("cat\ndog\ncaf\u00e9\n".encode("latin-1"))
    env.model()["spec"]["labels"] = str(labels)
    env.write()
    with pytest.raises(ModelError, match=rf"^model 'tiny-det': labels {re.escape(str(labels))}:3: not UTF-8 text"):
        resolve_models(job(detect={"model": "tiny-det"}))


def test_a_registry_that_is_not_utf8_names_its_line(env: Env) -> None:
    env.registry.write_bytes(env.registry.read_bytes() + b"# r\xe9sum\xe9\n")
    lines = env.registry.read_bytes().count(b"\n")
    with pytest.raises(ModelError, match=rf"registry {re.escape(str(env.registry))}:{lines}: not UTF-8 text"):
        load_registry()


def test_spec_mismatch_names_the_model_and_both_shapes(env: Env) -> None:
    env.entries["models"]["tiny-det"] = env.entry("tiny_det.onnx", env.model()["sha256"], size=416)
    env.write()
    message = "'tiny-det': expected input NCHW [batch, 3, 416, 416] from its spec, but the graph input is [1, 3, 64, 64]"
    with pytest.raises(ModelError, match=re.escape(message)):
        resolve_models(job(detect={"model": "tiny-det"}))


def test_local_path_in_config_comes_first(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_DIRS_ENV, str(tmp_path))  # a model given by path must be in an allowed folder
    local = tmp_path / "elsewhere.onnx"
    shutil.copy(env.mirror / "tiny_det.onnx", local)
    model = resolve_models(job(detect={"model": "tiny-det", "path": str(local)})).detect
    assert model is not None and model.path == str(local)
    assert not (env.cache / "tiny_det.onnx").exists()


def test_local_path_with_wrong_content(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_DIRS_ENV, str(tmp_path))
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"'tiny-det': expected sha256"):
        resolve_models(job(detect={"model": "tiny-det", "path": str(tmp_path / "bad.onnx")}))


def test_unknown_name_suggests(env: Env) -> None:
    with pytest.raises(ModelError, match=r"detect.model.*'tiny-dt'.*Did you mean 'tiny-det'"):
        resolve_models(job(detect={"model": "tiny-dt"}))


def test_own_model_by_path_with_inline_spec(env: Env) -> None:
    path = env.mirror / "tiny_det.onnx"
    spec = {"adapter": "yolox", "input": {"size": [64, 64]}, "labels": ["a", "b", "c"]}
    model = resolve_models(job(detect={"model": str(path), "spec": spec})).detect
    assert model is not None and model.name == "tiny_det" and model.labels == ("a", "b", "c")
    with pytest.raises(ModelError, match=r"'tiny_det': expected an inline spec"):
        resolve_models(job(detect={"model": str(path)}))
    with pytest.raises(ModelError, match=r"'tiny_det': expected sha256 1{64}"):
        resolve_models(job(detect={"model": str(path), "spec": {**spec, "sha256": "1" * 64}}))


def test_a_detector_cannot_embed(env: Env) -> None:
    message = r"embed.model: expected an embedding model, but 'tiny-det' has adapter 'yolox'"
    with pytest.raises(ModelError, match=message):
        resolve_models(job(embed={"model": "tiny-det"}))


def test_executor_without_the_driver_path_fetches_its_own_copy(env: Env, tmp_path: Path) -> None:
    model = resolve_models(job(detect={"model": "tiny-det"})).detect
    assert model is not None
    moved = ResolvedModel(**{**model.__dict__, "path": str(tmp_path / "gone" / "tiny_det.onnx")})
    assert moved.local_path() == env.cache / "tiny_det.onnx"


def test_the_shipped_registry_pins_the_real_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REGISTRY_ENV, raising=False)
    registry = load_registry()
    assert DEFAULT_REGISTRY == Path(__file__).resolve().parents[2] / "imgpipe" / "runtime" / "registry.yaml"
    yolox, mobilenet = registry.models["yolox-nano"], registry.models["mobilenetv2-int8"]
    assert yolox.sha256.startswith("695e750a") and "/0f785c070ce8da070aeaeef46c0da7904ff7012e/" in str(yolox.url)
    assert mobilenet.sha256.startswith("cc028fe6")
    assert "/b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d/" in str(mobilenet.url)
    assert mobilenet.spec.embedding is not None and mobilenet.spec.embedding.tensor == "472_quantized"
    assert registry.files["coco-classes"].sha256.startswith("bd17f1ee")


def test_no_model_file_is_committed() -> None:
    repo = Path(__file__).resolve().parents[2]
    for folder in (repo / "models", repo / "imgpipe"):
        assert not list(folder.rglob("*.onnx")), folder


# --- CLI ----------------------------------------------------------------------------------------------


def test_cli_list_pull_verify(env: Env) -> None:
    runner = CliRunner()
    listed = runner.invoke(models_cli, ["list"])
    assert listed.exit_code == 0 and "tiny-det" in listed.output and "not cached" in listed.output
    pulled = runner.invoke(models_cli, ["pull"])
    assert pulled.exit_code == 0 and str(env.cache / "tiny_det.onnx") in pulled.output
    assert (env.cache / "tiny_labels.txt").exists()
    verified = runner.invoke(models_cli, ["verify", "tiny-det"])
    assert verified.exit_code == 0 and "tiny-det: ok" in verified.output


def test_cli_verify_reports_a_bad_cache_copy(env: Env) -> None:
    runner = CliRunner()
    runner.invoke(models_cli, ["pull"])
    (env.cache / "tiny_det.onnx").write_bytes(b"junk")
    result = runner.invoke(models_cli, ["verify"])
    assert isinstance(result.exception, ModelError) and "'tiny-det': expected sha256" in str(result.exception)


def test_cli_verify_resolves_through_the_mirror_as_run_does(env: Env) -> None:
    result = CliRunner().invoke(models_cli, ["verify", "tiny-det"])
    assert result.exit_code == 0 and "tiny-det: ok" in result.output
    assert (env.cache / "tiny_det.onnx").is_file()


def test_cli_verify_with_nothing_to_resolve_from_says_what_to_run(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV)
    result = CliRunner().invoke(models_cli, ["verify"])
    assert isinstance(result.exception, ModelError) and "imgpipe models pull tiny-det" in str(result.exception)
    assert "tiny_det.onnx not found" in str(result.exception)


def test_cli_pull_unknown(env: Env) -> None:
    result = CliRunner().invoke(models_cli, ["pull", "nope"])
    assert isinstance(result.exception, ModelError) and "nope" in str(result.exception)


@pytest.mark.parametrize("command", list(models_cli.commands.values()), ids=lambda c: c.name)
def test_commands_have_help(command: Any) -> None:
    assert command.help


def test_yaml_sections_with_inline_spec_and_providers() -> None:
    from imgpipe.config import parse_config

    text = """
source: {type: files, path: in}
sink: {type: parquet, path: out}
detect:
  model: ./my.onnx
  score_threshold: 0.25
  classes: [person]
  providers: [CUDAExecutionProvider, CPUExecutionProvider]
  spec:
    adapter: yolov8
    labels: [person, dog]
    input: {size: [640, 640], channels: rgb, scale: 0.0039215686, resize: letterbox_center}
crop: {top_k: 5, min_size: 32}
embed: {model: mobilenetv2-int8, dtype: float16}
"""
    cfg = parse_config(text).job
    assert cfg.detect is not None and cfg.detect.spec is not None
    assert cfg.detect.spec.input.size == (640, 640) and cfg.detect.providers[0] == "CUDAExecutionProvider"
    assert cfg.embed is not None and cfg.embed.model == "mobilenetv2-int8" and cfg.embed.dtype == "float16"
