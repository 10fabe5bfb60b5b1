"""The whole job: one YAML file, one ``JobConfig``; and ``InferenceConfig``, the part of it that says what runs on
each image, which ``imgpipe.spark.infer`` takes alone."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import Field, model_validator

from imgpipe.config.base import Section
from imgpipe.config.hbase import HBaseSinkConfig, HBaseSourceConfig
from imgpipe.config.inference import CropConfig, DetectConfig, EmbedConfig
from imgpipe.config.sections import (
    DecodeConfig,
    FilesSourceConfig,
    ParquetSinkConfig,
    ParquetSourceConfig,
    RunConfig,
    SparkConfig,
)

SourceConfig = Annotated[
    FilesSourceConfig | ParquetSourceConfig | HBaseSourceConfig, Field(discriminator="type")
]
SinkConfig = Annotated[ParquetSinkConfig | HBaseSinkConfig, Field(discriminator="type")]


class InferenceConfig(Section):
    """The decode, detect, crop and embed sections: the fused pass without a source, a sink or a run."""

    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    detect: DetectConfig | None = None
    crop: CropConfig | None = None
    embed: EmbedConfig | None = None

    @model_validator(mode="after")
    def _crop_needs_detect(self) -> InferenceConfig:
        return _crop_needs_detect(self)


class JobConfig(Section):
    spark: SparkConfig = Field(default_factory=SparkConfig)
    source: SourceConfig
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    detect: DetectConfig | None = None
    crop: CropConfig | None = None
    embed: EmbedConfig | None = None
    sink: SinkConfig
    run: RunConfig = Field(default_factory=RunConfig)

    @property
    def report_dir(self) -> str:
        """The run's own files (summary.json, errors/, the manifest): ``run.report_dir`` or the sink's default."""
        return self.run.report_dir or self.sink.default_report_dir

    @model_validator(mode="after")
    def _crop_needs_detect(self) -> JobConfig:
        return _crop_needs_detect(self)


_Sections = TypeVar("_Sections", InferenceConfig, JobConfig)


def _crop_needs_detect(cfg: _Sections) -> _Sections:
    if cfg.crop is not None and cfg.detect is None:
        raise ValueError("a crop section needs a detect section to crop from")
    return cfg
