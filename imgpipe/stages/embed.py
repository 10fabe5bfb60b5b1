"""Embed stage: crops (or whole images) -> L2-normalised vectors, batched through the embedding model.

The vector is a graph output or an internal tensor exposed when the session loads (see
``imgpipe.runtime.graph``); pooled ``[N, C, 1, 1]`` features are flattened to ``[N, C]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imgpipe.config.inference import EmbedConfig
from imgpipe.errors import ModelError
from imgpipe.runtime.model import ResolvedModel
from imgpipe.runtime.sessions import run_chunks
from imgpipe.stages.model import ModelStage
from imgpipe.stages.resize import preprocess


@dataclass(frozen=True)
class Embedder(ModelStage):
    """Callable over a list of HxWx3 uint8 BGR crops; returns (n, dim) L2-normalised vectors."""

    batch_size: int = 32
    dtype: str = "float32"

    @classmethod
    def from_config(cls, cfg: EmbedConfig, model: ResolvedModel) -> Embedder:
        return cls(
            model,
            providers=tuple(cfg.providers),
            intra_op_threads=cfg.intra_op_threads,
            batch_size=cfg.batch_size,
            dtype=cfg.dtype,
        )

    @property
    def dim(self) -> int:
        if self.model.dim is None:
            raise ModelError(f"model {self.model.name!r}: expected a checked model (check_model sets dim)")
        return self.model.dim

    def __call__(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.floating]:
        if not crops:
            return np.zeros((0, self.dim), self.dtype)
        session = self._session()
        input_name = self.model.spec.input.name or session.get_inputs()[0].name
        output = self._output_name()
        chunk = self.model.batch or self.batch_size
        parts = []
        for start in range(0, len(crops), chunk):
            tensor, _ = preprocess(crops[start : start + chunk], self.model.spec.input)
            (result,) = run_chunks(session, input_name, [tensor], [output], pad_to=chunk)
            parts.append(np.asarray(result[output], np.float32).reshape(tensor.shape[0], -1))
        return l2_normalise(np.concatenate(parts)).astype(self.dtype)

    def _output_name(self) -> str:
        emb = self.model.spec.embedding
        if emb is not None and emb.output is not None:
            return emb.output
        return self.model.exposed[0].output_name


def l2_normalise(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # An all-zero vector (possible after ReLU) stays zero instead of becoming NaN.
    unit: NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit
