"""What a job's ``detect.model``/``embed.model`` name, found and verified on the driver before Spark starts.

Each model is a registry name (fetched through ``imgpipe.runtime.fetch``) or a path to an ``.onnx`` file with an
inline spec. A model given by path (``model: ./x.onnx``, or ``path:`` for a registry model) is loaded only from
an allowed folder (``allowed_model_roots``): a config must not be able to point the job at any file the process
can read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from imgpipe.config.inference import DetectConfig, EmbedConfig
from imgpipe.config.job import InferenceConfig, JobConfig
from imgpipe.errors import ModelError, did_you_mean
from imgpipe.runtime.checks import check_model
from imgpipe.runtime.fetch import cache_dir, fetch, model_mirror, sha256_of, verified
from imgpipe.runtime.model import ResolvedModel, ResolvedModels
from imgpipe.runtime.registry import Registry, load_registry

#: Extra folders (os.pathsep-separated) models may be loaded from by path; set by the operator, not the config.
MODEL_DIRS_ENV = "IMGPIPE_MODEL_DIRS"

_SYSTEM = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr", "/var")
#: A job started from one of these must not be able to load any file below it: the working directory is then
#: not an allowed folder. Resolved too, since /bin or /lib are often links into /usr.
SYSTEM_FOLDERS = frozenset(Path(p) for p in _SYSTEM) | frozenset(Path(os.path.realpath(p)) for p in _SYSTEM)
#: ...nor from anywhere below these.
SYSTEM_TREES = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/etc"))


def allowed_model_roots(config_path: str | Path | None = None) -> list[Path]:
    """Folders a model given by path may be loaded from, symlinks resolved.

    The model cache, the mirror (when it is a folder), the folder holding the config file, the working
    directory unless it is a system folder (``/``, ``/etc``, ``/usr``, ...), and every folder in
    ``$IMGPIPE_MODEL_DIRS``. Each includes everything below it.
    """
    roots = [cache_dir(), *_working_directory()]
    folder = model_mirror()
    if folder and "://" not in folder:
        roots.append(Path(folder))
    if config_path is not None:
        roots.append(Path(config_path).expanduser().absolute().parent)
    roots += [Path(d) for d in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if d.strip()]
    unique: dict[str, Path] = {}
    for root in roots:
        real = os.path.realpath(root.expanduser())
        unique.setdefault(real, Path(real))
    return list(unique.values())


def _working_directory() -> list[Path]:
    cwd = Path(os.path.realpath(Path.cwd()))
    if cwd in SYSTEM_FOLDERS or any(cwd.is_relative_to(tree) for tree in SYSTEM_TREES):
        return []
    return [cwd]


def check_model_path(name: str, path: Path, roots: list[Path]) -> None:
    """Raise ``ModelError`` unless ``path``, with ``..`` and symlinks resolved, lies inside one of ``roots``."""
    real = Path(os.path.realpath(path))
    if any(real.is_relative_to(root) for root in roots):
        return
    shown = ", ".join(str(r) for r in roots)
    if not _working_directory():
        shown += f" (not the working directory {Path.cwd()}: a system folder)"
    raise ModelError(
        f"model {name!r}: expected the model file inside an allowed folder, but {path} "
        + (f"(resolving to {real}) " if str(real) != str(path) else "")
        + f"is outside all of them: {shown}. Move it under one of those, or let the operator allow its "
        f"folder with {MODEL_DIRS_ENV}={real.parent} (several folders separated by {os.pathsep!r})"
    )


def resolve_models(
    job: JobConfig | InferenceConfig,
    registry: Registry | None = None,
    *,
    config_path: str | Path | None = None,
    where: Callable[[tuple[str, ...]], str] | None = None,
) -> ResolvedModels:
    """Find, verify and check every model the job (or ``imgpipe.spark.infer``'s config) names. Raises ``ModelError``
    naming the model.

    ``config_path`` is the config file the job came from: models given by path may live in its folder.
    ``where`` renders a YAML location (``LoadedConfig.where``: ``job.yaml:9`` or ``--set``); when given, each
    error starts with the location of the ``model:`` key it concerns.
    """
    reg = registry or load_registry()
    roots = allowed_model_roots(config_path)
    models: dict[str, ResolvedModel | None] = {}
    for kind, cfg in (("detect", job.detect), ("embed", job.embed)):
        try:
            models[kind] = resolve_model(cfg, reg, kind=kind, roots=roots) if cfg else None
        except ModelError as exc:
            if where is None:
                raise
            key = f"{kind}.model: "
            raise ModelError(f"{where((kind, 'model'))}: {key}{str(exc).removeprefix(key)}") from exc
    return ResolvedModels(detect=models["detect"], embed=models["embed"])


def resolve_model(
    cfg: DetectConfig | EmbedConfig, registry: Registry, kind: str, *, roots: list[Path] | None = None
) -> ResolvedModel:
    roots = allowed_model_roots() if roots is None else roots
    if cfg.model in registry.models:
        model = _from_registry(cfg, registry, roots)
    elif looks_like_path(cfg.model):
        model = _from_path(cfg, roots)
    else:
        raise ModelError(
            f"{kind}.model: expected a registry name or a path to an .onnx file, but got {cfg.model!r}"
            + (did_you_mean(cfg.model, registry.models) or f". Known models: {', '.join(sorted(registry.models))}")
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
        verified(name, path, cfg.spec.sha256)
    elif not path.is_file():
        raise ModelError(f"model {name!r}: expected a file at {path}, but there is none")
    sha = cfg.spec.sha256 or sha256_of(path)
    return ResolvedModel(name, str(path), sha, cfg.spec)


def looks_like_path(model: str) -> bool:
    """A ``model:`` value naming a file rather than a registry entry (the rule resolution follows)."""
    return model.endswith(".onnx") or "/" in model or os.sep in model


def _check_kind(model: ResolvedModel, kind: str) -> None:
    is_embedder = model.spec.adapter == "embedding"
    if is_embedder != (kind == "embed"):
        want = "an embedding model" if kind == "embed" else "a detector"
        raise ModelError(
            f"{kind}.model: expected {want}, but {model.name!r} has adapter {model.spec.adapter!r}"
        )
