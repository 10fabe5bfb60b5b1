"""Models with exposed tensors (``graph.expose_tensors``), kept on disk so that a run after the first never
imports ``onnx``.

The import costs more than the edit: 0.55 s of CPU with ml_dtypes 0.7 (onnx imports it, and it registers its NumPy
loops one at a time, each after a linear search of the loops before), paid by the driver before Spark starts and
by every Spark worker before its first task: this cache took 0.75 s off a 100-image run (docs/benchmarks.md). The
edit of one verified file is always the same bytes, so it is made once per machine and read back afterwards:

    <model cache>/exposed/<model sha256>-<edit key>-<sha256 of the edited model>.onnx

The last part of the name is checked on every read, so a damaged file is edited anew, never loaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from imgpipe.runtime.fetch import cache_dir
from imgpipe.runtime.graph import ExposedTensor, expose_tensors

log = logging.getLogger("imgpipe.runtime")

#: Part of the edit key: raise it when ``expose_tensors`` changes what it writes, so no earlier edit is reused.
FORMAT = 1


def folder() -> Path:
    return cache_dir() / "exposed"


def exposed_model(name: str, data: bytes, sha256: str, exposed: Sequence[ExposedTensor]) -> bytes:
    """``expose_tensors(name, data, exposed)``, where ``data`` are the verified bytes of ``sha256``: read from the
    cache when an earlier call kept it, else made and kept (where the cache cannot be written, only made)."""
    prefix = f"{sha256}-{_edit_key(exposed)}-"
    for path in sorted(folder().glob(f"{prefix}*.onnx")):
        kept = _read_checked(path, prefix)
        if kept is not None:
            return kept
    edited = expose_tensors(name, data, exposed)
    _keep(prefix, edited)
    return edited


def _edit_key(exposed: Sequence[ExposedTensor]) -> str:
    spec = repr((FORMAT, [(e.tensor, e.scale, e.zero_point) for e in exposed]))
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _read_checked(path: Path, prefix: str) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if path.name != f"{prefix}{hashlib.sha256(data).hexdigest()}.onnx":
        log.warning("%s does not hold what its name says (a damaged cache file); editing the model again", path)
        return None
    return data


def _keep(prefix: str, edited: bytes) -> None:
    where = folder()
    target = where / f"{prefix}{hashlib.sha256(edited).hexdigest()}.onnx"
    tmp: str | None = None
    try:
        where.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a worker reading it concurrently sees the whole file or none.
        with tempfile.NamedTemporaryFile(dir=where, prefix=".", suffix=".tmp", delete=False) as out:
            tmp = out.name
            out.write(edited)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        log.debug("cannot keep the edited model in %s (%s); the next run edits it again", where, exc)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
