"""What an installed package needs lives inside it: the model registry and its label files; the help does not
send a user to a file of the source checkout as if it were there. (The wheel itself: tests/integration/test_wheel.py.)
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from click.testing import CliRunner

import imgpipe
from imgpipe.cli import cli
from imgpipe.runtime.checks import load_labels
from imgpipe.runtime.fetch import CACHE_ENV, MIRROR_ENV
from imgpipe.runtime.registry import DEFAULT_REGISTRY, PACKAGED_LABELS, REGISTRY_ENV, load_registry
from tests.helpers import REPO

PACKAGE = Path(imgpipe.__file__).parent


def _package_data() -> list[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return list(pyproject["tool"]["setuptools"]["package-data"]["imgpipe"])


def test_the_registry_and_its_label_files_are_package_data() -> None:
    shipped = [p.relative_to(PACKAGE).as_posix() for p in [DEFAULT_REGISTRY, *PACKAGED_LABELS.iterdir()]]
    assert DEFAULT_REGISTRY.is_file() and DEFAULT_REGISTRY.is_relative_to(PACKAGE)
    assert len(shipped) > 1
    for name in shipped:
        assert any(fnmatch(name, pattern) for pattern in _package_data()), f"{name} is not in package-data"


def test_every_package_data_pattern_names_a_file() -> None:
    for pattern in _package_data():
        assert list(PACKAGE.glob(pattern)), f"package-data {pattern!r} matches no file of imgpipe/"


def test_every_registry_label_file_ships_in_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(REGISTRY_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "empty-cache"))
    registry = load_registry()
    assert registry.files
    for name, entry in registry.files.items():
        assert (PACKAGED_LABELS / entry.file).is_file(), name
    spec = registry.models["yolox-nano"].spec.model_copy(update={"labels": "coco-classes"})
    labels = load_labels("yolox-nano", spec, registry)
    assert labels == tuple(registry.models["yolox-nano"].spec.labels or ())
    assert not (tmp_path / "empty-cache").exists()


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["validate", "--help"]])
def test_help_does_not_offer_a_checkout_file_as_if_it_were_installed(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert "configs/demo.yaml" not in result.output.replace("source repository's configs/demo.yaml", "")
