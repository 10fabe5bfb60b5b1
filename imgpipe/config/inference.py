"""Config sections for the model stages: detect, crop, embed (and the model specs they name)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imgpipe.config.base import Section


class DetectConfig(Section):
    model: str
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)


class CropConfig(Section):
    top_k: int = Field(default=5, ge=1)
    min_size: int = Field(default=32, ge=1)
    whole_image: bool = False
    on_no_objects: Literal["skip", "whole_image", "error"] = "skip"


class EmbedConfig(Section):
    model: str
    dtype: Literal["float32", "float16"] = "float32"
