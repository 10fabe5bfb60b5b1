"""What the two model stages (detect, embed) share: the resolved model, its providers and threads.

Holds only small picklable values; the ONNX session is looked up in the worker's cache on each call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

import onnxruntime as ort

from imgpipe.runtime.model import ResolvedModel


@dataclass(frozen=True)
class ModelStage:
    model: ResolvedModel
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    #: ONNX Runtime intra-op threads; None lets ONNX Runtime choose.
    intra_op_threads: int | None = None

    def with_threads(self, n: int | None) -> Self:
        return replace(self, intra_op_threads=n)

    def with_model(self, model: ResolvedModel) -> Self:
        return replace(self, model=model)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def sha256(self) -> str:
        return self.model.sha256

    def _session(self) -> ort.InferenceSession:
        return self.model.session(self.providers, self.intra_op_threads)

    def warm(self) -> None:
        """Load this worker's session now, before any image needs it."""
        self._session()
