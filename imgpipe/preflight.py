"""Everything checked on the driver before any Spark session starts: paths, columns, models.

Each problem names the YAML path (and line) it comes from, and all are reported together.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from urllib.parse import urlparse

from imgpipe import batch as B
from imgpipe.config import LoadedConfig, config_error
from imgpipe.config.inference import CropConfig
from imgpipe.config.sections import FilesSourceConfig, ParquetSinkConfig, ParquetSourceConfig
from imgpipe.pipeline import ModelInfo, Pipeline
from imgpipe.runtime.resolve import resolve_models
from imgpipe.stages.detect import Detector
from imgpipe.stages.embed import Embedder

#: Columns the pass adds; a passthrough column must not shadow one of them.
RESERVED = {
    B.KEY, B.IMAGE, B.WIDTH, B.HEIGHT, B.STATUS, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR, B.OBJECTS,
    B.IMAGE_EMBEDDING, B.DETECT_MODEL, B.EMBED_MODEL, B.RUN_ID,
}


def is_local_path(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def local_path(path: str) -> str:
    return urlparse(path).path if path.startswith("file:") else path


def check_paths(loaded: LoadedConfig, *, resume: bool = False) -> None:
    """Raise one ``ConfigError`` listing every unreadable input or unusable output path."""
    problems: list[str] = []
    for check in _CHECKS:
        problems.extend(check(loaded, resume))
    if problems:
        raise config_error(loaded.raw.source, problems)


def _check_source(loaded: LoadedConfig, resume: bool) -> list[str]:
    src = loaded.job.source
    if isinstance(src, FilesSourceConfig):
        return _readable(loaded, ("source", "path"), src.path)
    if isinstance(src, ParquetSourceConfig):
        loc = ("source", "path")
        out = [p for i, path in enumerate(src.paths) for p in _readable(loaded, _indexed(loc, src, i), path)]
        out += [
            loaded.problem(("source", "passthrough"), f"column {name!r} would shadow a result column; rename it")
            for name in src.passthrough
            if name in RESERVED
        ]
        return out
    return []


def _indexed(loc: tuple[str, ...], src: ParquetSourceConfig, i: int) -> tuple[str | int, ...]:
    return loc if isinstance(src.path, str) else (*loc, i)


def _readable(loaded: LoadedConfig, loc: tuple[str | int, ...], path: str) -> list[str]:
    if not is_local_path(path):
        return []  # remote filesystems are checked by Spark when it lists them
    local = local_path(path)
    if glob.has_magic(local):
        if not glob.glob(local, recursive=True):
            return [loaded.problem(loc, f"no file matches {path!r}")]
        return []
    if not os.path.exists(local):
        return [loaded.problem(loc, f"{path!r} does not exist")]
    if not os.access(local, os.R_OK):
        return [loaded.problem(loc, f"{path!r} is not readable")]
    return []


def _check_sink(loaded: LoadedConfig, resume: bool) -> list[str]:
    sink = loaded.job.sink
    if not isinstance(sink, ParquetSinkConfig) or not is_local_path(sink.path):
        return []
    results = os.path.join(local_path(sink.path), "results")
    if sink.mode == "error" and not resume and os.path.exists(results):
        return [loaded.problem(("sink", "mode"), f"{results} already exists; use mode: overwrite or append")]
    parent = os.path.dirname(os.path.abspath(local_path(sink.path)))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK):
        return [loaded.problem(("sink", "path"), f"cannot create {sink.path!r}: {parent} is not writable")]
    return []


_CHECKS: tuple[Callable[[LoadedConfig, bool], list[str]], ...] = (_check_source, _check_sink)


def build_pipeline(loaded: LoadedConfig, run_id: str | None = None) -> Pipeline:
    """Resolve and verify the models (``ModelError`` before any Spark starts) and assemble the fused pass.

    The run id is ``run_id``, else ``run.run_id`` from the config, else left empty for the job to assign.
    """
    job = loaded.job
    # Models given by path may live next to the config file (and below it), as well as in the other allowed folders.
    models = resolve_models(job, config_path=loaded.raw.source)
    detector = Detector.from_config(job.detect, models.detect) if job.detect and models.detect else None
    embedder = Embedder.from_config(job.embed, models.embed) if job.embed and models.embed else None
    whole = job.crop is not None and job.crop.whole_image
    return Pipeline(
        decode=job.decode,
        run_id=run_id or job.run.run_id or "",
        passthrough=job.source.passthrough_columns,
        detector=detector,
        crop=(job.crop or CropConfig()) if detector else None,
        embedder=embedder,
        image_embedding=embedder is not None and (detector is None or whole),
        embed_dtype=job.embed.dtype if job.embed else "float32",
        detect_model=ModelInfo(detector.name, detector.sha256) if detector else None,
        embed_model=ModelInfo(embedder.name, embedder.sha256) if embedder else None,
        max_batch_bytes=job.run.max_batch_bytes,
        secrets=tuple(sorted(loaded.raw.secrets)),
    )
