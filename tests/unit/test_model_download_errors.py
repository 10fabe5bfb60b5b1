"""A model that cannot be fetched: the message names the model and the URL, and gives the three ways out.

Real failed downloads, no network needed: a refused connection on 127.0.0.1 and a host under ``.invalid``
(RFC 6761: never resolves), with an empty cache and no mirror.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from imgpipe.cli import cli
from imgpipe.runtime.fetch import CACHE_ENV, MIRROR_ENV
from imgpipe.runtime.registry import REGISTRY_ENV
from tests.helpers import SHARED_IMAGES

SPEC = {"adapter": "yolox", "input": {"size": [64, 64], "channels": "bgr"}}


@pytest.fixture
def unreachable(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url: str | None = request.param
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"models": {"far-det": {"file": "far.onnx", "url": url, "sha256": "a" * 64, "spec": SPEC}}}))
    monkeypatch.setenv(REGISTRY_ENV, str(registry))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    return str(url)


URLS = ["http://127.0.0.1:1/models/far.onnx", "http://models.invalid/far.onnx"]


def assert_ways_out(output: str, url: str) -> None:
    assert "'far-det'" in output and url in output
    assert f"set {MIRROR_ENV} to a folder or URL holding far.onnx" in output
    assert "run `imgpipe models pull far-det` on a machine with access" in output
    assert "`path: /local/far.onnx`" in output


@pytest.mark.parametrize("unreachable", URLS, indirect=True)
def test_pull_names_the_model_the_url_and_the_ways_out(unreachable: str) -> None:
    result = CliRunner().invoke(cli, ["models", "pull", "far-det"])
    assert result.exit_code == 2
    assert_ways_out(result.output, unreachable)


@pytest.mark.parametrize("unreachable", URLS[:1], indirect=True)
def test_validate_says_the_same_before_spark(unreachable: str, tmp_path: Path) -> None:
    config = tmp_path / "job.yaml"
    config.write_text(
        f"source: {{type: files, path: {SHARED_IMAGES}}}\ndetect: {{model: far-det}}\n"
        f"sink: {{type: parquet, path: {tmp_path / 'out'}}}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 2
    assert_ways_out(result.output, unreachable)


@pytest.mark.parametrize("unreachable", [None], indirect=True)
def test_no_url_and_no_mirror_says_the_same(unreachable: str) -> None:
    result = CliRunner().invoke(cli, ["models", "pull", "far-det"])
    assert result.exit_code == 2
    assert "far.onnx not found" in result.output and "no download URL" in result.output
    assert "run `imgpipe models pull far-det` on a machine with access" in result.output
