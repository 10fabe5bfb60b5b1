"""``ResolvedModel``: a model file checked against its spec on the driver; what a stage ships to executors.

It is small and picklable (path, sha256, spec, labels); executors load their session from it lazily. On a
cluster the job ships the file with Spark and sets ``shipped``: the name it travels under and the function that
finds an executor's copy. That function comes from the job (``imgpipe.spark.files``), so runtime needs no Spark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from imgpipe.config.inference import ModelSpec
from imgpipe.runtime.fetch import fetch
from imgpipe.runtime.graph import ExposedTensor
from imgpipe.runtime.registry import RegistryFile
from imgpipe.runtime.sessions import load_session


@dataclass(frozen=True)
class Shipped:
    """A model file the job shipped with the job: ``locate(name)`` is an executor's local copy of it."""

    name: str
    #: Must pickle by reference (a module-level function), since it travels to every executor.
    locate: Callable[[str], str]


@dataclass(frozen=True)
class ResolvedModel:
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
    #: Set when the job ships the file itself: executors then read only their shipped copy.
    shipped: Shipped | None = None

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
        """The copy the job shipped; else ``path`` where it exists (the driver, local mode); else this worker's
        cached copy. A shipped model never falls back to the cache, a mirror or the network."""
        if self.shipped is not None:
            return Path(self.shipped.locate(self.shipped.name))
        if Path(self.path).exists() or self.file is None:
            return Path(self.path)
        entry = RegistryFile(file=self.file, url=self.url, sha256=self.sha256)
        return fetch(self.name, entry)


@dataclass(frozen=True)
class ResolvedModels:
    detect: ResolvedModel | None = None
    embed: ResolvedModel | None = None
