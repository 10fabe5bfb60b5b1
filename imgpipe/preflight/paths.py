"""Path checks before Spark starts: the source is readable, every folder the run writes into is safe, and a local
``spark.pack`` archive is there.

Safe means: not empty, not a filesystem root, not overlapping the source in either direction, creatable, and
(``imgpipe.outputs``) holding nothing under imgpipe's names that imgpipe did not write. Remote paths (hdfs://,
s3a://) get the checks that need no filesystem here; the sinks repeat the ownership check through Hadoop before
they replace anything.
"""

from __future__ import annotations

import glob
import os

from imgpipe import batch as B
from imgpipe import outputs
from imgpipe.config import LoadedConfig, config_error
from imgpipe.config.safe_yaml import Loc, format_loc
from imgpipe.config.sections import ParquetSinkConfig, ParquetSourceConfig
from imgpipe.locations import Location, local_path, locate

#: Columns the pass adds; a passthrough column must not shadow one of them.
RESERVED = {
    B.KEY, B.IMAGE, B.WIDTH, B.HEIGHT, B.STATUS, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR, B.OBJECTS,
    B.IMAGE_EMBEDDING, B.DETECT_MODEL, B.EMBED_MODEL, B.RUN_ID,
}  # fmt: skip


def check_paths(loaded: LoadedConfig, *, resume: bool = False) -> None:
    """Raise one ``ConfigError`` listing every unreadable input and every unsafe output."""
    problems = _check_source(loaded) + _check_outputs(loaded, resume) + _check_pack(loaded)
    if problems:
        raise config_error(loaded.raw.source, problems)


def source_paths(loaded: LoadedConfig) -> list[tuple[Loc, str]]:
    """Each input path the config names, with its YAML location (none for HBase)."""
    src = loaded.job.source
    if src.type == "files":
        return [(("source", "path"), src.path)]
    if isinstance(src, ParquetSourceConfig):
        if isinstance(src.path, str):
            return [(("source", "path"), src.path)]
        return [(("source", "path", i), p) for i, p in enumerate(src.path)]
    return []


def output_roots(loaded: LoadedConfig) -> list[tuple[Loc, str]]:
    """Each folder the run writes into, with the YAML location that names it."""
    job = loaded.job
    roots: list[tuple[Loc, str]] = []
    if isinstance(job.sink, ParquetSinkConfig):
        roots.append((("sink", "path"), job.sink.path))
    if job.run.report_dir is not None:
        roots.append((("run", "report_dir"), job.run.report_dir))
    elif not isinstance(job.sink, ParquetSinkConfig):
        roots.append((("sink", "table"), job.report_dir))
    return roots


def _check_source(loaded: LoadedConfig) -> list[str]:
    problems = [p for loc, path in source_paths(loaded) for p in _readable(loaded, loc, path)]
    src = loaded.job.source
    if isinstance(src, ParquetSourceConfig):
        problems += [
            loaded.problem(("source", "passthrough"), f"column {name!r} would shadow a result column; rename it")
            for name in src.passthrough
            if name in RESERVED
        ]
    return problems


def _readable(loaded: LoadedConfig, loc: Loc, path: str) -> list[str]:
    where = locate(path)
    if not where.is_local:
        return []  # remote filesystems are checked by Spark when it lists them
    local = local_path(path)
    if glob.has_magic(local):
        return [] if glob.glob(local, recursive=True) else [loaded.problem(loc, f"no file matches {path!r}")]
    if not os.path.exists(local):
        return [loaded.problem(loc, f"{path!r} does not exist")]
    if not os.access(local, os.R_OK):
        return [loaded.problem(loc, f"{path!r} is not readable")]
    return []


def _check_pack(loaded: LoadedConfig) -> list[str]:
    """``spark.pack``, when local, is a readable file (a remote archive is fetched by Spark itself)."""
    pack = loaded.job.spark.pack
    if pack is None or not locate(pack).is_local:
        return []
    local = local_path(pack)
    if not os.path.isfile(local):
        what = "is a folder" if os.path.isdir(local) else "does not exist"
        return [loaded.problem(("spark", "pack"), f"expected an archive built by `imgpipe pack`, but {pack!r} {what}")]
    if not os.access(local, os.R_OK):
        return [loaded.problem(("spark", "pack"), f"{pack!r} is not readable")]
    return []


def _check_outputs(loaded: LoadedConfig, resume: bool) -> list[str]:
    problems: list[str] = []
    inputs = [(loc, path, locate(path)) for loc, path in source_paths(loaded)]
    for loc, path in output_roots(loaded):
        if not path.strip():
            problems.append(loaded.problem(loc, "is empty; give the folder imgpipe should write into"))
            continue
        where = locate(path)
        if where.is_root:
            problems.append(loaded.problem(loc, _ROOT.format(path=path)))
            continue
        problems += [_overlap(loaded, loc, path, *src) for src in inputs if src[2].overlaps(where)]
        if where.is_local:
            problems += [loaded.problem(at, p) for at, p in _local_output(where, loaded, loc, resume)]
    return problems


_ROOT = (
    "{path!r} is the root of a filesystem; imgpipe writes results/, errors/ and summary.json into this folder "
    "(and with mode: overwrite replaces them), so give it a folder of its own, e.g. /data/imgpipe-out"
)


def _overlap(loaded: LoadedConfig, loc: Loc, path: str, src_loc: Loc, src_path: str, src: Location) -> str:
    out = locate(path)
    how = "is" if out == src else "is inside" if src.contains(out) else "contains"
    return loaded.problem(
        loc,
        f"{path!r} {how} the input {format_loc(src_loc)} {src_path!r} ({loaded.where(src_loc)}): imgpipe would write "
        "where it reads (and mode: overwrite would replace input files); choose an output folder outside the input",
    )


def _local_output(where: Location, loaded: LoadedConfig, loc: Loc, resume: bool) -> list[tuple[Loc, str]]:
    folder = where.path
    blocker = _existing_ancestor(folder)
    if not os.path.isdir(blocker):
        return [(loc, f"cannot create {folder}: {blocker} is a file, not a folder")]
    if not os.access(blocker, os.W_OK):
        return [(loc, f"cannot create {folder}: {blocker} is not writable" if blocker != folder else f"{folder} is not writable")]
    sink = loaded.job.sink
    results = outputs.join(folder, outputs.RESULTS)
    if loc == ("sink", "path") and isinstance(sink, ParquetSinkConfig):
        if sink.mode == "error" and not resume and os.path.exists(results):
            message = f"{results} already exists; use mode: overwrite (replace imgpipe's earlier output) or append"
            return [(("sink", "mode"), message)]
    return [(loc, problem) for problem in outputs.foreign(folder, listdir)]


def _existing_ancestor(folder: str) -> str:
    current = folder
    while not os.path.lexists(current):
        current = os.path.dirname(current)
    return current


def listdir(path: str) -> list[tuple[str, bool]] | None:
    """``outputs.ListDir`` on the local filesystem."""
    try:
        with os.scandir(path) as entries:
            return [(e.name, e.is_dir()) for e in entries]
    except (FileNotFoundError, NotADirectoryError):
        return None
