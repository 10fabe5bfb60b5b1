"""The model registry: names -> pinned file, download URL, sha256 and spec (``registry.yaml``).

The file ships inside the package; ``$IMGPIPE_REGISTRY`` points at another one.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from imgpipe.config.base import Section
from imgpipe.config.inference import ModelSpec
from imgpipe.errors import ModelError

REGISTRY_ENV = "IMGPIPE_REGISTRY"
DEFAULT_REGISTRY = Path(__file__).resolve().parents[2] / "models" / "registry.yaml"


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
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Registry.model_validate(data)
    except OSError as exc:
        raise ModelError(f"cannot read the model registry {path}: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ModelError(f"the model registry {path} is invalid: {exc}") from exc
