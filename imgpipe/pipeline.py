"""The fused per-partition pass: encoded bytes in, results out, nothing decoded ever leaves the worker.

    Arrow batch (key, image, passthrough...)
      -> decode (stages/decode.py)         one image at a time; failures become rows, not exceptions
      -> detect (stages/detect.py)         on a group of decoded images, bounded by pixel bytes
      -> crop   (stages/crop.py)           from the decoded (best available) resolution
      -> embed  (stages/embed.py)          every crop of the group in one batched call
    Arrow batch (key, passthrough..., width, height, status, error..., objects, image_embedding, run_id)

``Pipeline`` holds only configs and small picklable model handles; ONNX sessions load lazily once per
Python worker. Spark calls it through ``mapInArrow``; tests call it on plain Arrow batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from imgpipe import batch as B
from imgpipe.config import secrets
from imgpipe.config.inference import CropConfig
from imgpipe.config.sections import DecodeConfig
from imgpipe.errors import ModelError
from imgpipe.runtime.model import ResolvedModel
from imgpipe.stages.crop import Crop, NoObjectsError, crop_objects, uncut
from imgpipe.stages.decode import Decoded, DecodeFailure, decode_image
from imgpipe.stages.detect import Detections, Detector
from imgpipe.stages.embed import Embedder
from imgpipe.timings import StageTimes

log = logging.getLogger("imgpipe.pipeline")

MAX_ERROR_CHARS = 500
NO_KEY = "the key is null: each result is named by its key; give every input row one (the source's key_column)"


@dataclass
class _Row:
    """What the pass learns about one image; turned into Arrow columns at the end of a batch."""

    key: Any
    decoded: Decoded | None = None
    width: int | None = None
    height: int | None = None
    stage: str | None = None
    reason: str | None = None
    error: str | None = None
    crops: list[Crop] = field(default_factory=list)
    #: Pixels for the image-level embedding: the crop stage's whole-image entry, or the decoded image.
    whole: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    image_embedding: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, stage: str, reason: str, message: str) -> None:
        self.stage, self.reason, self.error = stage, reason, message[:MAX_ERROR_CHARS]
        self.decoded, self.crops, self.whole, self.embeddings, self.image_embedding = None, [], None, None, None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    sha256: str


@dataclass(frozen=True)
class Pipeline:
    decode: DecodeConfig
    #: Stamped on every row; the job assigns it (from the config, a new timestamp, or the resumed manifest).
    run_id: str = ""
    passthrough: tuple[str, ...] = ()
    detector: Detector | None = None
    crop: CropConfig | None = None
    embedder: Embedder | None = None
    image_embedding: bool = False
    embed_dtype: str = "float32"
    detect_model: ModelInfo | None = None
    embed_model: ModelInfo | None = None
    max_batch_bytes: int = 128 << 20
    #: Cores this pass may use (OpenCV and ONNX Runtime threads); 0 leaves the libraries' defaults.
    threads: int = 0
    #: Values from ``${ENV}`` in the config, hidden from what the workers log.
    secrets: tuple[str, ...] = ()

    def with_threads(self, n: int) -> Pipeline:
        """Threads per task: ONNX Runtime (unless the YAML set ``intra_op_threads``) and OpenCV."""
        detector = self.detector.with_threads(self.detector.intra_op_threads or n) if self.detector else None
        embedder = self.embedder.with_threads(self.embedder.intra_op_threads or n) if self.embedder else None
        return replace(self, detector=detector, embedder=embedder, threads=n)

    def warm(self) -> None:
        """Load this worker's model sessions ahead of the first batch (see ``imgpipe.spark.warmup``)."""
        for stage in (self.detector, self.embedder):
            if stage is not None:
                stage.warm()

    def with_models(self, change: Callable[[ResolvedModel], ResolvedModel]) -> Pipeline:
        """The same pass with each stage's model replaced by ``change(model)`` (the job ships models this way)."""
        detector = self.detector.with_model(change(self.detector.model)) if self.detector else None
        embedder = self.embedder.with_model(change(self.embedder.model)) if self.embedder else None
        return replace(self, detector=detector, embedder=embedder)

    def output_schema(self, input_schema: pa.Schema) -> pa.Schema:
        fields = [input_schema.field(B.KEY)]
        fields += [input_schema.field(name) for name in self.passthrough]
        fields += B.result_fields(
            detect=self.detector is not None,
            embed=self.embedder is not None and self.detector is not None,
            image_embedding=self.image_embedding,
            dtype=self.embed_dtype,
        )
        fields.append(pa.field(B.RUN_ID, pa.string()))
        return pa.schema(fields)

    def __call__(self, batches: Iterator[pa.RecordBatch], times: StageTimes | None = None) -> Iterator[pa.RecordBatch]:
        secrets.remember(self.secrets)
        secrets.executor_logging()
        if self.threads:
            # OpenCV otherwise starts a thread per machine core in every worker: tasks x cores threads.
            cv2.setNumThreads(self.threads)
        for batch in batches:
            if batch.num_rows:
                yield self.process(batch, times)

    def process(self, batch: pa.RecordBatch, times: StageTimes | None = None) -> pa.RecordBatch:
        """Run every stage over one Arrow batch; one output row per input row, always.

        ``times`` collects seconds per stage (decode, detect, crop, embed; ``write`` for building the output).
        """
        times = times if times is not None else StageTimes()
        keys = batch.column(B.KEY).to_pylist()
        images = batch.column(B.IMAGE)
        unread = batch.column(B.READ_ERROR).to_pylist() if B.READ_ERROR in batch.schema.names else [None] * len(keys)
        rows = [_Row(key) for key in keys]
        group: list[_Row] = []
        held = 0
        for i, row in enumerate(rows):
            if unread[i] is not None:
                row.fail("read", B.REASON_UNREADABLE, str(unread[i]))
                continue
            if row.key is None:  # a result nobody can name, resume, join or put in HBase: counted, not processed
                row.fail("read", B.REASON_NO_KEY, NO_KEY)
                continue
            with times.stage("decode"):
                self._decode(row, images[i].as_py())
            if row.decoded is not None:
                group.append(row)
                held += row.decoded.pixels.nbytes
            if held >= self.max_batch_bytes:
                self._infer(group, times)
                group, held = [], 0
        self._infer(group, times)
        with times.stage("write"):
            return self._to_arrow(batch, rows)

    def _decode(self, row: _Row, data: bytes | None) -> None:
        try:
            row.decoded = decode_image(data, self.decode)
            row.width, row.height = row.decoded.width, row.decoded.height
        except DecodeFailure as exc:
            row.fail("decode", exc.reason, exc.message)
        except Exception as exc:  # a decoder bug must cost one image, not the task
            row.fail("decode", B.REASON_INTERNAL, f"{type(exc).__name__}: {exc}")

    def _infer(self, group: list[_Row], times: StageTimes) -> None:
        """Models on a group of decoded images; pixels are released as soon as the group is done."""
        if not group:
            return
        if self.detector is not None:
            self._isolate(group, "detect", partial(self._detect_and_crop, times=times))
        if self.embedder is not None:
            with times.stage("embed"):
                self._isolate([r for r in group if r.ok], "embed", self._embed)
        for row in group:
            row.decoded = None

    def _isolate(self, group: list[_Row], stage: str, step: Callable[[Sequence[_Row]], None]) -> None:
        """Run ``step`` on the group; if it raises, rerun image by image so only the culprit fails. A model that
        cannot be loaded here is no image's fault: it fails the task, which Spark retries (elsewhere)."""
        try:
            step(group)
            return
        except ModelError:
            raise  # a model this worker cannot load (missing, wrong sha256) fails every image: fail the task
        except Exception as exc:
            if len(group) == 1:
                group[0].fail(stage, B.REASON_INTERNAL, f"{type(exc).__name__}: {exc}")
                log.warning("%s failed on key %r: %s", stage, group[0].key, exc)
                return
        for row in group:
            self._isolate([row], stage, step)

    def _detect_and_crop(self, group: Sequence[_Row], times: StageTimes) -> None:
        assert self.detector is not None
        decoded = [r.decoded for r in group if r.decoded is not None]
        with times.stage("detect"):
            found = self.detector([d.pixels for d in decoded])
        with times.stage("crop"):
            self._crop(group, decoded, found)

    def _crop(self, group: Sequence[_Row], decoded: list[Decoded], found: list[Detections]) -> None:
        for row, dec, det in zip(group, decoded, found, strict=True):
            if self.crop is None:  # detect only: every detection the detect section allows, nothing cut
                row.crops = uncut(_to_original(det, dec))
                continue
            try:
                crops = crop_objects(dec.pixels, _to_original(det, dec), self.crop, dec.scale)
            except NoObjectsError as exc:
                row.fail("crop", exc.reason, str(exc))
                continue
            if self.image_embedding and crops and crops[0].whole_image:
                row.whole, crops = crops[0].pixels, crops[1:]
            row.crops = crops

    def _embed(self, group: Sequence[_Row]) -> None:
        assert self.embedder is not None
        if self.image_embedding and self.detector is None:
            for row in group:
                row.whole = row.decoded.pixels if row.decoded is not None else None
        objects = [c.pixels for r in group for c in r.crops] if self.detector is not None else []
        wholes = [r.whole for r in group if r.whole is not None]
        if not objects and not wholes:
            return
        vectors = self.embedder(objects + wholes)
        start = 0
        for row in group:
            row.embeddings = vectors[start : start + len(row.crops)]
            start += len(row.crops)
        for row in group:
            if row.whole is not None:
                row.image_embedding, row.whole = vectors[start], None
                start += 1

    def _to_arrow(self, batch: pa.RecordBatch, rows: list[_Row]) -> pa.RecordBatch:
        schema = self.output_schema(batch.schema)
        columns: dict[str, pa.Array] = {B.KEY: batch.column(B.KEY)}
        for name in self.passthrough:
            columns[name] = batch.column(name)
        columns.update(_status_columns(rows))
        if B.OBJECTS in schema.names:
            columns[B.OBJECTS] = _objects_column(rows, schema.field(B.OBJECTS).type, self.embed_dtype)
        if self.image_embedding:
            vecs = [r.image_embedding if r.ok else None for r in rows]
            columns[B.IMAGE_EMBEDDING] = B.vector_array(vecs, self.embed_dtype)
        for col, info in ((B.DETECT_MODEL, self.detect_model), (B.EMBED_MODEL, self.embed_model)):
            if col in schema.names:
                value = {"name": info.name, "sha256": info.sha256} if info else None
                columns[col] = pa.array([value] * len(rows), schema.field(col).type)
        columns[B.RUN_ID] = pa.array([self.run_id] * len(rows), pa.string())
        return pa.RecordBatch.from_arrays([columns[f.name] for f in schema], schema=schema)


def _to_original(det: Detections, dec: Decoded) -> Detections:
    """Detector boxes are in decoded pixels; results are reported in original-image pixels."""
    if dec.scale == 1.0 or len(det.boxes) == 0:
        return det
    boxes = det.boxes / np.float32(dec.scale)
    boxes = np.clip(boxes, 0, [dec.width, dec.height, dec.width, dec.height]).astype(np.float32)
    return Detections(boxes=boxes, scores=det.scores, labels=det.labels, label_names=det.label_names)


def _status_columns(rows: list[_Row]) -> dict[str, pa.Array]:
    ok = [r.ok for r in rows]
    return {
        B.WIDTH: pa.array([r.width for r in rows], pa.int32()),
        B.HEIGHT: pa.array([r.height for r in rows], pa.int32()),
        B.STATUS: pa.array([B.STATUS_OK if k else B.STATUS_ERROR for k in ok], pa.string()),
        B.ERROR_STAGE: pa.array([r.stage for r in rows], pa.string()),
        B.ERROR_REASON: pa.array([r.reason for r in rows], pa.string()),
        B.ERROR: pa.array([r.error for r in rows], pa.string()),
    }


def _objects_column(rows: list[_Row], list_type: pa.DataType, dtype: str) -> pa.Array:
    struct_type = list_type.value_type
    crops = [c for r in rows for c in r.crops]
    boxes = np.array([c.box for c in crops], np.float32).reshape(-1, 4)
    children = [
        pa.array([c.label for c in crops], pa.int32()),
        pa.array([c.label_name for c in crops], pa.string()),
        pa.array([c.score for c in crops], pa.float32()),
        pa.StructArray.from_arrays([pa.array(boxes[:, i]) for i in range(4)], fields=list(B.BOX_TYPE)),
    ]
    if struct_type.get_field_index("embedding") >= 0:
        vecs = [v for r in rows for v in (r.embeddings if r.embeddings is not None else [None] * len(r.crops))]
        children.append(B.vector_array(vecs, dtype))
    structs = pa.StructArray.from_arrays(children, fields=list(struct_type))
    offsets = np.concatenate([[0], np.cumsum([len(r.crops) for r in rows])]).astype(np.int32)
    mask = pa.array([not r.ok for r in rows], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets), structs, type=list_type, mask=mask)
