"""A model problem points at the YAML line (or --set) that named the model, as every other config problem does."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe.config import parse_config
from imgpipe.errors import ModelError
from imgpipe.runtime.resolve import resolve_models

JOB = """\
source:
  type: files
  path: /data/photos
sink:
  type: parquet
  path: /data/out
decode:
  max_pixels: 100000000
detect:
  model: {detect}
embed:
  model: {embed}
"""


def test_an_unknown_name_gets_the_file_and_line_and_a_suggestion() -> None:
    loaded = parse_config(JOB.format(detect="yolox-nan", embed="mobilenetv2-int8"), "job.yaml")
    with pytest.raises(ModelError) as exc:
        resolve_models(loaded.job, config_path=loaded.raw.source, where=loaded.where)
    assert str(exc.value).startswith("job.yaml:10: detect.model: expected a registry name")
    assert str(exc.value).endswith("Did you mean 'yolox-nano'?")


def test_a_model_set_on_the_command_line_says_so() -> None:
    job = JOB.format(detect="yolox-nano", embed="mobilenetv2-int8")
    loaded = parse_config(job, "job.yaml", ("embed.model=mobilenet-int8",))
    with pytest.raises(ModelError, match=r"^--set: embed.model: expected a registry name.*'mobilenetv2-int8'"):
        resolve_models(loaded.job, where=loaded.where)


def test_other_model_problems_get_the_line_too(tmp_path: Path) -> None:
    model = tmp_path / "not-a-model.onnx"
    model.write_bytes(b"junk")
    loaded = parse_config(JOB.format(detect="yolox-nano", embed=model), str(tmp_path / "job.yaml"))
    with pytest.raises(ModelError, match=rf"^{tmp_path}/job.yaml:12: embed.model: model 'not-a-model': expected an inline spec"):
        resolve_models(loaded.job, config_path=loaded.raw.source, where=loaded.where)
