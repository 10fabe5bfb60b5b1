"""Config sections for the model stages: detect, crop, embed, and the model specs they name.

A model is named either by registry name (``yolox-nano``, see ``imgpipe/runtime/registry.yaml``) or by a path to an
``.onnx`` file together with an inline ``spec`` saying how to feed it and read its outputs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from imgpipe.config.base import Section

Adapter = Literal["yolox", "yolov8", "yolov5", "boxes", "embedding"]
ResizePolicy = Literal["letterbox", "letterbox_center", "shortest_side_center_crop", "exact"]
Sha256 = str


class InputSpec(Section):
    """How an image becomes the model's input tensor."""

    #: Graph input to feed; the first input when unset.
    name: str | None = None
    #: Model input as [height, width].
    size: tuple[int, int]
    channels: Literal["bgr", "rgb"] = "rgb"
    layout: Literal["nchw", "nhwc"] = "nchw"
    #: x' = (x * scale - mean) / std, per channel in the model's channel order.
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: letterbox = top-left paste (YOLOX); letterbox_center = centred (YOLOv5/v8); exact = plain stretch.
    resize: ResizePolicy = "letterbox"
    pad_value: int = Field(default=114, ge=0, le=255)
    #: Shorter side before the centre crop, for ``shortest_side_center_crop`` (ImageNet: 256 then 224).
    shortest_side: int | None = Field(default=None, ge=1)
    #: Shrink with area averaging (what PIL's bilinear does when downscaling) instead of plain bilinear.
    antialias: bool = False

    @model_validator(mode="after")
    def _shortest_side_set(self) -> InputSpec:
        if self.resize == "shortest_side_center_crop" and self.shortest_side is None:
            raise ValueError("resize shortest_side_center_crop needs shortest_side (e.g. 256)")
        return self

    @property
    def height(self) -> int:
        return self.size[0]

    @property
    def width(self) -> int:
        return self.size[1]


class DetectOutputs(Section):
    """Which graph outputs hold what, for detectors."""

    #: The raw prediction tensor for yolox / yolov8 / yolov5; the first output when unset.
    raw: str | None = None
    #: For the ``boxes`` adapter (models with NMS inside): boxes [B,N,4], scores [B,N], classes [B,N].
    boxes: str = "boxes"
    scores: str = "scores"
    classes: str = "classes"
    #: Optional [B] count of valid rows per image.
    count: str | None = None
    box_format: Literal["xyxy", "yxyx", "cxcywh"] = "xyxy"
    #: Boxes in 0..1 of the model input instead of input pixels.
    normalized: bool = False


class EmbeddingOutput(Section):
    """Where the embedding lives: a graph output, or an internal tensor exposed when the model loads."""

    output: str | None = None
    tensor: str | None = None
    #: For an int8/uint8 internal tensor: initializer names of its scale and zero point (DequantizeLinear).
    scale: str | None = None
    zero_point: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EmbeddingOutput:
        if (self.output is None) == (self.tensor is None):
            raise ValueError("set exactly one of output or tensor")
        if (self.scale is None) != (self.zero_point is None):
            raise ValueError("scale and zero_point go together")
        return self


class ModelSpec(Section):
    """Everything needed to run a model file: adapter, input preprocessing, output names, labels."""

    adapter: Adapter
    input: InputSpec
    outputs: DetectOutputs = Field(default_factory=DetectOutputs)
    embedding: EmbeddingOutput | None = None
    #: Class names: a registry label-file name, a path to a text file (one per line), or an inline list.
    labels: str | list[str] | None = None
    #: Checked before the model is used when set (always set for registry models).
    sha256: Sha256 | None = None

    @model_validator(mode="after")
    def _embedding_for_embedders(self) -> ModelSpec:
        if self.adapter == "embedding" and self.embedding is None:
            raise ValueError("adapter embedding needs an embedding section (output or tensor)")
        return self


class _ModelStage(Section):
    #: A registry name (``imgpipe models list``) or a path to an .onnx file (which then needs ``spec``).
    model: str
    #: A local copy of a registry model; used before the cache, mirror and URL.
    path: str | None = None
    spec: ModelSpec | None = None
    batch_size: int = Field(default=8, ge=1)
    #: Execution providers in order of preference; unavailable ones are dropped (CPU is the fallback).
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    #: ONNX Runtime intra-op threads; None lets the job pick (cores per Spark task).
    intra_op_threads: int | None = Field(default=None, ge=1)


class DetectConfig(_ModelStage):
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    iou_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    #: Keep only these class names; all classes when unset.
    classes: list[str] | None = None
    class_agnostic: bool = False
    max_detections: int = Field(default=100, ge=1)


class CropConfig(Section):
    top_k: int = Field(default=5, ge=1)
    #: Boxes whose shorter side (in original pixels, before padding) is under this are dropped.
    min_size: int = Field(default=32, ge=1)
    #: Margin added on each side, as a fraction of the box's width / height.
    padding: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Also emit the whole image as an entry (for an image-level embedding).
    whole_image: bool = False
    on_no_objects: Literal["skip", "whole_image", "error"] = "skip"


class EmbedConfig(_ModelStage):
    batch_size: int = Field(default=32, ge=1)
    dtype: Literal["float32", "float16"] = "float32"
