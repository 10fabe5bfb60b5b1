"""Model files: the registry, where a file comes from, and the checks made before Spark starts.

The driver calls ``resolve_models(job)`` in its preflight. Each model is found in this order: a local path
in the config, the cache (``~/.cache/imgpipe/models``, ``$IMGPIPE_MODEL_CACHE``), the mirror
(``$IMGPIPE_MODEL_MIRROR``, a folder or URL holding files under their upstream names; copied into the cache),
then the registry URL. Every file is checked against its sha256 and every graph against its spec. The result,
``ResolvedModel``, is small and picklable: executors load sessions from it lazily.

A model given by path (``model: ./x.onnx``, or ``path:`` for a registry model) is loaded only from an allowed
folder (``allowed_model_roots``): a config must not be able to point the job at any file the process can read.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import onnxruntime as ort
import yaml
from pydantic import Field, ValidationError

from imgpipe.config.base import Section
from imgpipe.config.inference import DetectConfig, EmbedConfig, ModelSpec
from imgpipe.config.job import JobConfig
from imgpipe.errors import ModelError
from imgpipe.runtime.onnx import CPU, ExposedTensor, input_shape, load_session

log = logging.getLogger("imgpipe.runtime")

REGISTRY_ENV = "IMGPIPE_REGISTRY"
CACHE_ENV = "IMGPIPE_MODEL_CACHE"
MIRROR_ENV = "IMGPIPE_MODEL_MIRROR"
#: Extra folders (os.pathsep-separated) models may be loaded from by path; set by the operator, not the config.
MODEL_DIRS_ENV = "IMGPIPE_MODEL_DIRS"
DEFAULT_REGISTRY = Path(__file__).resolve().parents[2] / "models" / "registry.yaml"
DEFAULT_CACHE = Path("~/.cache/imgpipe/models")
DOWNLOAD_TIMEOUT_S = 120


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


@dataclass(frozen=True)
class ResolvedModel:
    """A model file checked against its spec; what a stage ships to executors."""

    name: str
    path: str
    sha256: str
    spec: ModelSpec
    labels: tuple[str, ...] = ()
    #: Registry file name and URL, so an executor without ``path`` can fetch its own copy.
    file: str | None = None
    url: str | None = None
    #: The graph's fixed batch size (1 for most exports), or None when the batch is dynamic.
    batch: int | None = None
    #: Embedding length, for embedders.
    dim: int | None = None

    @property
    def exposed(self) -> tuple[ExposedTensor, ...]:
        emb = self.spec.embedding
        if emb is None or emb.tensor is None:
            return ()
        return (ExposedTensor(emb.tensor, emb.scale, emb.zero_point),)

    def session(self, providers: tuple[str, ...], threads: int | None) -> ort.InferenceSession:
        """This worker's cached ONNX Runtime session for the model (loaded and verified on first use)."""
        return load_session(
            self.name, self.local_path(), self.sha256, providers=providers, threads=threads, expose=self.exposed
        )

    def local_path(self) -> Path:
        """``path`` where it exists (the driver, local mode); otherwise this worker's cached copy."""
        if Path(self.path).exists() or self.file is None:
            return Path(self.path)
        entry = RegistryFile(file=self.file, url=self.url, sha256=self.sha256)
        return fetch(self.name, entry)


@dataclass(frozen=True)
class ResolvedModels:
    detect: ResolvedModel | None = None
    embed: ResolvedModel | None = None


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


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def cached_path(entry: RegistryFile) -> Path:
    return cache_dir() / entry.file


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- fetching -------------------------------------------------------------------------------------------


def fetch(name: str, entry: RegistryFile, local: str | None = None) -> Path:
    """The verified file for ``entry``: a local path, else the cache, else mirror or URL into the cache."""
    if local is not None:
        return _verified(name, Path(local).expanduser(), entry.sha256)
    target = cached_path(entry)
    if target.exists():
        if sha256_of(target) == entry.sha256:
            return target
        log.warning("cached %s has the wrong sha256; fetching it again", target)
    for source in _sources(entry):
        if _copy(name, source, target, entry.sha256):
            return target
    raise ModelError(_not_found(name, entry))


def _sources(entry: RegistryFile) -> list[str]:
    mirror = os.environ.get(MIRROR_ENV)
    sources = [f"{mirror.rstrip('/')}/{entry.file}"] if mirror else []
    return sources + ([entry.url] if entry.url else [])


def _copy(name: str, source: str, target: Path, sha256: str) -> bool:
    """Copy ``source`` (path or URL) to ``target`` atomically; False when the source has no such file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if not _stream(name, source, out):
                return False
        actual = sha256_of(tmp)
        if actual != sha256:
            raise ModelError(f"model {name!r}: expected sha256 {sha256}, but {source} has {actual}")
        os.replace(tmp, target)
        log.info("fetched %s from %s", target.name, source)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _stream(name: str, source: str, out: BinaryIO) -> bool:
    if "://" not in source:
        path = Path(source).expanduser()
        if not path.is_file():
            return False
        with path.open("rb") as src:
            shutil.copyfileobj(src, out)
        return True
    try:
        with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S) as resp:  # noqa: S310 - pinned URLs
            shutil.copyfileobj(resp, out)
        return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise ModelError(f"model {name!r}: download from {source} failed: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(f"model {name!r}: download from {source} failed: {exc}") from exc


def _verified(name: str, path: Path, sha256: str) -> Path:
    if not path.is_file():
        raise ModelError(f"model {name!r}: expected a file at {path}, but there is none")
    actual = sha256_of(path)
    if actual != sha256:
        raise ModelError(f"model {name!r}: expected sha256 {sha256}, but {path} has {actual}")
    return path


def _not_found(name: str, entry: RegistryFile) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    where = [f"not in the cache {cache_dir()}"]
    where.append(f"not in the mirror {mirror}" if mirror else f"no mirror (${MIRROR_ENV} is unset)")
    where.append("no download URL" if entry.url is None else f"not at {entry.url}")
    return f"model {name!r}: {entry.file} not found: " + ", ".join(where)


# --- where a model given by path may live ----------------------------------------------------------------


def allowed_model_roots(config_path: str | Path | None = None) -> list[Path]:
    """Folders a model given by path may be loaded from, symlinks resolved.

    The model cache, the mirror (when it is a folder), the folder holding the config file, the working
    directory, and every folder in ``$IMGPIPE_MODEL_DIRS``. Each includes everything below it.
    """
    roots = [cache_dir(), Path.cwd()]
    mirror = os.environ.get(MIRROR_ENV, "")
    if mirror.startswith("file://"):
        mirror = mirror[len("file://") :]
    if mirror and "://" not in mirror:
        roots.append(Path(mirror))
    if config_path is not None:
        roots.append(Path(config_path).expanduser().absolute().parent)
    roots += [Path(d) for d in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if d.strip()]
    unique: dict[str, Path] = {}
    for root in roots:
        real = os.path.realpath(root.expanduser())
        unique.setdefault(real, Path(real))
    return list(unique.values())


def check_model_path(name: str, path: Path, roots: list[Path]) -> None:
    """Raise ``ModelError`` unless ``path``, with ``..`` and symlinks resolved, lies inside one of ``roots``."""
    real = Path(os.path.realpath(path))
    if any(real.is_relative_to(root) for root in roots):
        return
    shown = ", ".join(str(r) for r in roots)
    raise ModelError(
        f"model {name!r}: expected the model file inside an allowed folder, but {path} "
        + (f"(resolving to {real}) " if str(real) != str(path) else "")
        + f"is outside all of them: {shown}. Move it under one of those, or let the operator allow its "
        f"folder with {MODEL_DIRS_ENV}={real.parent} (several folders separated by {os.pathsep!r})"
    )


# --- resolving a job's models -------------------------------------------------------------------------


def resolve_models(
    job: JobConfig, registry: Registry | None = None, *, config_path: str | Path | None = None
) -> ResolvedModels:
    """Find, verify and check every model the job names. Raises ``ModelError`` naming the model.

    ``config_path`` is the config file the job came from: models given by path may live in its folder.
    """
    reg = registry or load_registry()
    roots = allowed_model_roots(config_path)
    detect = resolve_model(job.detect, reg, kind="detect", roots=roots) if job.detect else None
    embed = resolve_model(job.embed, reg, kind="embed", roots=roots) if job.embed else None
    return ResolvedModels(detect=detect, embed=embed)


def resolve_model(
    cfg: DetectConfig | EmbedConfig, registry: Registry, kind: str, *, roots: list[Path] | None = None
) -> ResolvedModel:
    roots = allowed_model_roots() if roots is None else roots
    if cfg.model in registry.models:
        model = _from_registry(cfg, registry, roots)
    elif _looks_like_path(cfg.model):
        model = _from_path(cfg, roots)
    else:
        raise ModelError(
            f"{kind}.model: expected a registry name or a path to an .onnx file, but got {cfg.model!r}"
            + _did_you_mean(cfg.model, list(registry.models))
        )
    _check_kind(model, kind)
    return check_model(model, registry)


def _from_registry(cfg: DetectConfig | EmbedConfig, registry: Registry, roots: list[Path]) -> ResolvedModel:
    entry = registry.models[cfg.model]
    if cfg.path is not None:
        check_model_path(cfg.model, Path(cfg.path).expanduser(), roots)
    path = fetch(cfg.model, entry, cfg.path)
    spec = cfg.spec or entry.spec
    return ResolvedModel(cfg.model, str(path), entry.sha256, spec, file=entry.file, url=entry.url)


def _from_path(cfg: DetectConfig | EmbedConfig, roots: list[Path]) -> ResolvedModel:
    path = Path(cfg.model).expanduser()
    name = path.stem
    check_model_path(name, path, roots)
    if cfg.spec is None:
        raise ModelError(f"model {name!r}: expected an inline spec for a model given as a path ({path})")
    if cfg.spec.sha256 is not None:
        _verified(name, path, cfg.spec.sha256)
    elif not path.is_file():
        raise ModelError(f"model {name!r}: expected a file at {path}, but there is none")
    sha = cfg.spec.sha256 or sha256_of(path)
    return ResolvedModel(name, str(path), sha, cfg.spec)


def _looks_like_path(model: str) -> bool:
    return model.endswith(".onnx") or "/" in model or os.sep in model


def _check_kind(model: ResolvedModel, kind: str) -> None:
    is_embedder = model.spec.adapter == "embedding"
    if is_embedder != (kind == "embed"):
        want = "an embedding model" if kind == "embed" else "a detector"
        raise ModelError(
            f"{kind}.model: expected {want}, but {model.name!r} has adapter {model.spec.adapter!r}"
        )


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f". Did you mean {close[0]!r}?" if close else f". Known models: {', '.join(sorted(choices))}"


# --- labels -----------------------------------------------------------------------------------------------


def load_labels(model: str, spec: ModelSpec, registry: Registry) -> tuple[str, ...]:
    labels = spec.labels
    if labels is None:
        return ()
    if isinstance(labels, list):
        return tuple(labels)
    if labels in registry.files:
        path = fetch(f"{model} labels {labels}", registry.files[labels])
    else:
        path = Path(labels).expanduser()
        if not path.is_file():
            raise ModelError(
                f"model {model!r}: expected labels as a registry file ({', '.join(registry.files)}) "
                f"or a text file, but got {labels!r}"
            )
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


# --- checking a graph against its spec ----------------------------------------------------------------


def check_model(model: ResolvedModel, registry: Registry | None = None) -> ResolvedModel:
    """``model`` with labels, batch and embedding size filled in, after checking the graph matches its spec."""
    labels = load_labels(model.name, model.spec, registry or load_registry())
    session = load_session(
        model.name, model.path, model.sha256, providers=(CPU,), threads=1, expose=model.exposed
    )
    input_name = model.spec.input.name or session.get_inputs()[0].name
    batch = _check_input(model, input_shape(session, input_name))
    outputs: dict[str, list[int | str | None]] = {o.name: list(o.shape) for o in session.get_outputs()}
    dim = None
    if model.spec.adapter == "embedding":
        dim = _embedding_dim(model, session, input_name, outputs)
    else:
        _check_detector_outputs(model, outputs, labels)
    return replace(model, labels=labels, batch=batch, dim=dim)


def _check_input(model: ResolvedModel, shape: list[int | str | None]) -> int | None:
    spec = model.spec.input
    want: list[int | str | None] = (
        ["batch", 3, spec.height, spec.width] if spec.layout == "nchw" else ["batch", spec.height, spec.width, 3]
    )
    if len(shape) != 4 or any(isinstance(g, int) and g != w for g, w in zip(shape[1:], want[1:], strict=True)):
        raise ModelError(
            f"model {model.name!r}: expected input {spec.layout.upper()} {_dims(want)} from its spec, "
            f"but the graph input is {_dims(shape)}"
        )
    return shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None


def _dims(shape: list[int | str | None]) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in shape) + "]"


def _check_detector_outputs(
    model: ResolvedModel, outputs: dict[str, list[int | str | None]], labels: tuple[str, ...]
) -> None:
    out = model.spec.outputs
    needed = [out.boxes, out.scores, out.classes] if model.spec.adapter == "boxes" else [out.raw]
    for name in needed:
        if name is not None and name not in outputs:
            raise ModelError(
                f"model {model.name!r}: expected a graph output named {name!r}, but the outputs are {list(outputs)}"
            )
    classes = _class_count(model.spec.adapter, outputs[out.raw or next(iter(outputs))])
    if labels and classes is not None and classes != len(labels):
        raise ModelError(
            f"model {model.name!r}: expected {len(labels)} classes from its labels, but the graph predicts {classes}"
        )


def _class_count(adapter: str, shape: list[int | str | None]) -> int | None:
    if len(shape) != 3:
        return None
    if adapter in ("yolox", "yolov5") and isinstance(shape[2], int):
        return shape[2] - 5
    if adapter == "yolov8" and isinstance(shape[1], int):
        return shape[1] - 4
    return None


def _embedding_dim(
    model: ResolvedModel, session: object, input_name: str, outputs: dict[str, list[int | str | None]]
) -> int:
    """Run one blank image through the graph: internal tensors have no declared shape to read."""
    emb = model.spec.embedding
    assert emb is not None  # ModelSpec guarantees it for the embedding adapter
    name = emb.output or model.exposed[0].output_name
    if name not in outputs:
        raise ModelError(
            f"model {model.name!r}: expected a graph output named {name!r}, but the outputs are {list(outputs)}"
        )
    spec = model.spec.input
    shape = (1, 3, spec.height, spec.width) if spec.layout == "nchw" else (1, spec.height, spec.width, 3)
    (value,) = session.run([name], {input_name: np.zeros(shape, np.float32)})  # type: ignore[attr-defined]
    return int(np.asarray(value).reshape(1, -1).shape[1])
