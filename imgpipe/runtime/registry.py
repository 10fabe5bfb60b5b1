"""The model registry: names -> pinned file, download URL, sha256 and spec (``registry.yaml``).

The file ships inside the package, with the label files it names (``labels/``); ``$IMGPIPE_REGISTRY`` points
at another registry.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from pydantic import Field, ValidationError

from imgpipe.config.base import Section
from imgpipe.config.inference import ModelSpec
from imgpipe.config.safe_yaml import read_yaml
from imgpipe.errors import ConfigError, ModelError
from imgpipe.textfiles import NotUtf8Error, read_utf8

REGISTRY_ENV = "IMGPIPE_REGISTRY"


def packaged(name: str) -> Path:
    """A data file shipped in ``imgpipe.runtime``; wheels install unzipped, so it is a real file on disk."""
    return Path(str(resources.files("imgpipe.runtime").joinpath(name)))


DEFAULT_REGISTRY = packaged("registry.yaml")
#: Label files the registry's ``files:`` name, shipped so that no mirror or download is needed for them.
PACKAGED_LABELS = packaged("labels")


class RegistryFile(Section):
    description: str = ""
    #: The upstream file name; the cache and the mirror hold the file under this name.
    file: str
    url: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int | None = None


class RegistryModel(RegistryFile):
    spec: ModelSpec


class Registry(Section):
    models: dict[str, RegistryModel]
    files: dict[str, RegistryFile] = Field(default_factory=dict)


def registry_path() -> Path:
    return Path(os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


def load_registry(path: Path | None = None) -> Registry:
    path = path or registry_path()
    try:
        data, _ = read_yaml(read_utf8(path), str(path))
        return Registry.model_validate(data)
    except OSError as exc:
        raise ModelError(f"cannot read the model registry {path}: {exc.strerror or exc}") from exc
    except NotUtf8Error as exc:
        raise ModelError(f"the model registry {exc}") from exc
    except (ConfigError, ValidationError) as exc:
        raise ModelError(f"the model registry {path} is invalid: {exc}") from exc
