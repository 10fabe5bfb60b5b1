"""ONNX Runtime sessions for the model stages: loaded once per Python worker and reused.

Stages ship a model *path and sha256* to executors, never a session; ``load_session`` builds the session on
first use and keeps it in a small per-process LRU (the idea of pyspark's ``ModelCache``). This relies on
``spark.python.worker.reuse=true`` (Spark's default) so a worker keeps its sessions across tasks. A task that
Spark gave a GPU runs its CUDA sessions on that device (``on_device``, set by the Spark edge).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from imgpipe.errors import ModelError
from imgpipe.runtime.fetch import verify_sha256
from imgpipe.runtime.graph import ExposedTensor
from imgpipe.runtime.graph_cache import exposed_model

log = logging.getLogger("imgpipe.runtime")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: Options for the providers that need them. cuDNN's exhaustive search, ONNX Runtime's default, times every
#: convolution algorithm on the first call of each input shape and keeps the fastest: the choice can differ
#: between workers, and with it the results' last bits. Its heuristic choice depends only on the shape.
#: Measured on an H200 (docs/benchmarks.md, "GPU"), YOLOX-Nano's first call of a shape costs 1.3-3.8 s that
#: way against 3.4-5.7 s, and later calls 9-29 % more (18.8 against 16.2 ms at batch 32). Padding
#: (``run_chunks``) makes that first call once per session.
PROVIDER_OPTIONS: dict[str, dict[str, str]] = {CUDA: {"cudnn_conv_algo_search": "HEURISTIC"}}


class SessionCache:
    """A lock-guarded LRU of sessions. Two models per stage at most, so a handful of slots suffices."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, ort.InferenceSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], ort.InferenceSession]) -> ort.InferenceSession:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            # Loading under the lock: two threads asking for one model must not build it twice.
            session = load()
            self._items[key] = session
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return session

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[Hashable]:
        """The cached keys, least recently used first: (path, sha256, providers, threads, exposed tensors, GPU)."""
        with self._lock:
            return list(self._items)


SESSIONS = SessionCache()
_warned_providers: set[tuple[str, ...]] = set()
_warned_fallbacks: set[tuple[str, ...]] = set()
#: The GPU of the task this worker runs now (a worker runs one task at a time); None: the provider's default.
_device: int | None = None


@contextmanager
def on_device(device: int | None) -> Iterator[None]:
    """CUDA sessions loaded or used inside run on GPU ``device`` (its index on this machine).

    An executor with several GPUs gives each task one of them (``spark.task.resource.gpu.amount``); without
    this, every task's sessions would run on CUDA's default device 0 and the other GPUs would idle.
    """
    global _device
    before, _device = _device, device
    try:
        yield
    finally:
        _device = before


def load_session(
    name: str,
    path: str | Path,
    sha256: str,
    *,
    providers: Sequence[str] = (CPU,),
    threads: int | None = None,
    expose: Sequence[ExposedTensor] = (),
) -> ort.InferenceSession:
    """The session for ``path`` (checked against ``sha256``), cached by path, sha and options.

    Args:
        name: the model's name, used in error messages.
        threads: intra-op threads; ``None`` lets ONNX Runtime use every core.
        expose: internal tensors to add as graph outputs before the session is built.
    """
    device = _device if CUDA in providers else None
    key = (str(path), sha256, tuple(providers), threads, tuple(expose), device)
    return SESSIONS.get(key, lambda: _create(name, Path(path), sha256, providers, threads, expose, device))


def _create(
    name: str,
    path: Path,
    sha256: str,
    providers: Sequence[str],
    threads: int | None,
    expose: Sequence[ExposedTensor],
    device: int | None = None,
) -> ort.InferenceSession:
    data = read_verified(name, path, sha256)
    if expose:
        data = exposed_model(name, data, sha256, expose)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0
    # Stages run one model call at a time; parallelism comes from Spark tasks and intra-op threads.
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    usable = usable_providers(providers)
    try:
        session = ort.InferenceSession(data, sess_options=options, providers=provider_entries(usable, device))
    except Exception as exc:  # ORT raises its own untyped Fail/InvalidGraph errors
        raise ModelError(f"model {name!r} ({path}) cannot be loaded by ONNX Runtime: {exc}") from exc
    _warn_on_fallback(name, usable, session.get_providers())
    return session


def provider_entries(usable: Sequence[str], device: int | None) -> list[tuple[str, dict[str, str]]]:
    """Each provider with its options: ``PROVIDER_OPTIONS``, and CUDA's ``device_id`` when a GPU is given."""
    entries = []
    for provider in usable:
        options = dict(PROVIDER_OPTIONS.get(provider, {}))
        if provider == CUDA and device is not None:
            options["device_id"] = str(device)
        entries.append((provider, options))
    return entries


def _warn_on_fallback(name: str, usable: Sequence[str], active: Sequence[str]) -> None:
    """A provider this build has can still fail to start (no GPU, a CUDA or cuDNN library missing), and then
    ONNX Runtime runs the model on the next provider below its own log level: say so, once per model."""
    lost = [p for p in usable if p not in active]
    key = (name, *lost)
    if lost and key not in _warned_fallbacks:
        _warned_fallbacks.add(key)
        log.warning(
            "model %r: execution providers %s could not start here (ONNX Runtime logs why; scripts/gpu-check.sh "
            "checks a GPU machine); running on %s", name, ", ".join(lost), ", ".join(active),
        )


def read_verified(name: str, path: Path, sha256: str) -> bytes:
    """The file's bytes, after checking them against the pinned sha256."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model {name!r}: cannot read {path}: {exc.strerror or exc}") from exc
    verify_sha256(name, path, sha256, hashlib.sha256(data).hexdigest())
    return data


def usable_providers(requested: Sequence[str]) -> list[str]:
    """``requested`` minus the providers this onnxruntime build lacks; CPU when nothing is left."""
    available = ort.get_available_providers()
    usable = [p for p in requested if p in available] or [CPU]
    dropped = [p for p in requested if p not in available]
    key = tuple(requested)
    if dropped and key not in _warned_providers:
        _warned_providers.add(key)
        log.warning("execution providers %s are not available here; using %s", ", ".join(dropped), usable)
    return usable


def input_shape(session: ort.InferenceSession, input_name: str) -> list[int | str | None]:
    for node in session.get_inputs():
        if node.name == input_name:
            return list(node.shape)
    names = [n.name for n in session.get_inputs()]
    raise ModelError(f"Expected a graph input named {input_name!r}, but the inputs are {names}")


def run_chunks(
    session: ort.InferenceSession,
    input_name: str,
    tensors: Sequence[NDArray[np.float32]],
    outputs: Sequence[str],
    pad_to: int | None = None,
) -> list[dict[str, NDArray[np.generic]]]:
    """One ``session.run`` per prepared chunk; each result maps output name -> array.

    On a GPU, a chunk of fewer than ``pad_to`` rows runs padded with zero rows, and its outputs are cut back:
    the provider then sees one input shape, and picks its kernels once (see ``PROVIDER_OPTIONS``) and the same
    way for every chunk.
    """
    size = pad_to if pad_to is not None and pads(session, input_name, outputs) else None
    results = []
    for tensor in tensors:
        rows = tensor.shape[0]
        padding = size - rows if size is not None and rows < size else 0
        if padding:
            tensor = np.concatenate([tensor, np.zeros((padding, *tensor.shape[1:]), tensor.dtype)])
        values = session.run(list(outputs), {input_name: tensor})
        results.append({name: value[:rows] if padding else value for name, value in zip(outputs, values, strict=True)})
    return results


def pads(session: ort.InferenceSession, input_name: str, outputs: Sequence[str]) -> bool:
    """Whether ``session``'s chunks are padded to one size: only on a GPU provider (on the CPU a padded row
    costs as much as a real one), and only when the input's batch axis is symbolic and every output's first
    axis is that same axis, so the padded rows' outputs can be cut off."""
    if session.get_providers()[0] == CPU:
        return False
    batch = next((node.shape[0] for node in session.get_inputs() if node.name == input_name), None)
    firsts = {node.name: (node.shape or [None])[0] for node in session.get_outputs()}
    return isinstance(batch, str) and all(firsts.get(name) == batch for name in outputs)
