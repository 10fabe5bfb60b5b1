"""``imgpipe.spark.infer``'s config: the decode/detect/crop/embed sections alone, as a YAML file, a mapping or an
``InferenceConfig``, validated and its models resolved as ``imgpipe run`` does (imgpipe.config.load_inference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe.config import load_inference, parse_config
from imgpipe.config.job import InferenceConfig
from imgpipe.errors import ConfigError, ModelError
from imgpipe.preflight import build_pipeline
from tests.helpers import MODELS_YAML


def test_a_file_dict_and_object_give_the_same_pipeline_as_a_job(tmp_path: Path) -> None:
    path = tmp_path / "infer.yaml"
    path.write_text(MODELS_YAML)
    job = build_pipeline(parse_config(f"source: {{type: files, path: {tmp_path}}}\nsink: {{type: parquet, path: /o}}\n{MODELS_YAML}"), "r")
    as_dict = {"detect": {"model": "yolox-nano", "score_threshold": 0.3}, "crop": {"top_k": 5, "min_size": 16, "whole_image": True},
               "embed": {"model": "mobilenetv2-int8"}}  # fmt: skip
    for config in (path, str(path), as_dict, InferenceConfig.model_validate(as_dict)):
        assert build_pipeline(load_inference(config), "r") == job, config


def test_file_problems_name_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "infer.yaml"
    path.write_text("detect:\n  model: yolox-nano\n  score_threshold: 3\nembd: {model: mobilenetv2-int8}\n")
    with pytest.raises(ConfigError) as exc:
        load_inference(path)
    assert exc.value.problems == [
        f"{path}:3: detect.score_threshold: Input should be less than or equal to 1",
        f"{path}:4: embd: unknown key. Did you mean 'embed'?",
    ]


def test_a_job_section_is_not_an_inference_section() -> None:
    with pytest.raises(ConfigError, match="the inference config: source: unknown key"):
        load_inference({"source": {"type": "files", "path": "/x"}, "detect": {"model": "yolox-nano"}})
    with pytest.raises(ConfigError, match="a crop section needs a detect section"):
        load_inference({"crop": {"top_k": 2}})


def test_models_are_resolved_and_verified_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "infer.yaml"
    path.write_text("decode: {min_side: 2}\nembed:\n  model: mobilenet-int8\n")
    with pytest.raises(ModelError, match=rf"^{path}:3: embed.model: expected a registry name.*'mobilenetv2-int8'"):
        build_pipeline(load_inference(path))
    with pytest.raises(ModelError, match=r"^the inference config: detect.model: .*Did you mean 'yolox-nano'"):
        build_pipeline(load_inference({"detect": {"model": "yolox-nan"}}))
