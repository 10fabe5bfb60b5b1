"""Detect stage: decoded images -> boxes in original-image pixels, as preprocess / run / postprocess.

A ``Detector`` is built on the driver from the job's ``detect`` section and the resolved model, pickled to
executors, and loads its ONNX session lazily from the per-process cache. It letterboxes the full decoded
image itself; boxes come back mapped to that image's pixels and clipped to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from imgpipe.config.inference import DetectConfig
from imgpipe.errors import ModelError, did_you_mean
from imgpipe.runtime.model import ResolvedModel
from imgpipe.runtime.sessions import run_chunks
from imgpipe.stages.adapters import Candidates, decoder
from imgpipe.stages.model import ModelStage
from imgpipe.stages.nms import batched_nms
from imgpipe.stages.resize import Transform, ensure_bgr, preprocess


@dataclass(frozen=True)
class Detections:
    """One image's detections, best score first."""

    boxes: NDArray[np.float32]  # (n, 4) x1,y1,x2,y2 in original-image pixels, clipped
    scores: NDArray[np.float32]  # (n,)
    labels: NDArray[np.int32]  # (n,)
    label_names: list[str]  # (n,) the name of each label

    def __len__(self) -> int:
        return int(self.scores.shape[0])


@dataclass(frozen=True)
class Detector(ModelStage):
    """Callable over a list of HxWx3 uint8 BGR images (grey and BGRA are accepted too)."""

    score_threshold: float = 0.3
    iou_threshold: float = 0.45
    #: Class ids to keep; all when None.
    class_ids: tuple[int, ...] | None = None
    class_agnostic: bool = False
    max_detections: int = 100
    batch_size: int = 8

    @classmethod
    def from_config(cls, cfg: DetectConfig, model: ResolvedModel) -> Detector:
        return cls(
            model=model,
            score_threshold=cfg.score_threshold,
            iou_threshold=cfg.iou_threshold,
            class_ids=class_ids(model, cfg.classes),
            class_agnostic=cfg.class_agnostic,
            max_detections=cfg.max_detections,
            batch_size=cfg.batch_size,
            providers=tuple(cfg.providers),
            intra_op_threads=cfg.intra_op_threads,
        )

    def __call__(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        images = [ensure_bgr(image) for image in images]
        session = self._session()
        input_name = self.model.spec.input.name or session.get_inputs()[0].name
        raw_name = self.model.spec.outputs.raw or session.get_outputs()[0].name
        decode = decoder(self.model.spec, self.score_threshold)
        results: list[Detections] = []
        for start in range(0, len(images), self._chunk()):
            chunk = images[start : start + self._chunk()]
            tensor, transforms = preprocess(chunk, self.model.spec.input)
            (out,) = run_chunks(session, input_name, [tensor], _output_names(session), pad_to=self._chunk())
            for image, cand, t in zip(chunk, decode(out, raw_name), transforms, strict=True):
                results.append(self.postprocess(cand, t, image.shape[:2]))
        return results

    def postprocess(self, cand: Candidates, transform: Transform, image_hw: tuple[int, int]) -> Detections:
        """Class filter, NMS, top ``max_detections``, then map to original pixels and clip."""
        cand = self._allowed(cand)
        keep = batched_nms(cand.boxes, cand.scores, cand.labels, self.iou_threshold, self.class_agnostic)
        keep = keep[: self.max_detections]
        boxes = clip(transform.to_original(cand.boxes[keep]), image_hw)
        labels = cand.labels[keep]
        return Detections(boxes, cand.scores[keep], labels, [self._label(int(i)) for i in labels])

    def _allowed(self, cand: Candidates) -> Candidates:
        if self.class_ids is None:
            return cand
        mask = np.isin(cand.labels, self.class_ids)
        return Candidates(cand.boxes[mask], cand.scores[mask], cand.labels[mask])

    def _label(self, index: int) -> str:
        labels = self.model.labels
        return labels[index] if 0 <= index < len(labels) else str(index)

    def _chunk(self) -> int:
        # Batch-1 exports (most YOLO ONNX files) refuse larger batches, so they run one image at a time.
        return self.model.batch or self.batch_size


def _output_names(session: ort.InferenceSession) -> list[str]:
    return [o.name for o in session.get_outputs()]


def clip(boxes: NDArray[np.float32], image_hw: tuple[int, int]) -> NDArray[np.float32]:
    """Clip to the image: raw boxes can extend past the border."""
    h, w = image_hw
    limits = np.array([w, h, w, h], np.float32)
    return np.clip(boxes, 0, limits).astype(np.float32).reshape(-1, 4)


def class_ids(model: ResolvedModel, names: Sequence[str] | None) -> tuple[int, ...] | None:
    """Label names -> ids, naming any unknown class with a suggestion."""
    if names is None:
        return None
    index = {name: i for i, name in enumerate(model.labels)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise ModelError(
            f"detect.classes: expected class names of model {model.name!r}, but got {unknown}"
            + did_you_mean(unknown[0], index)
        )
    return tuple(index[n] for n in names)
