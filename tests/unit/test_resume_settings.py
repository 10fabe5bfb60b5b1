"""Which settings a resumed run must keep (imgpipe.job.manifest.result_settings)."""

from __future__ import annotations

from imgpipe.config import parse_config
from imgpipe.job.manifest import result_settings
from tests.helpers import files_config


def settings(models: str) -> dict[str, object]:
    return result_settings(parse_config(files_config("in", "out", models), "job.yaml").job, {})


def test_providers_change_results() -> None:
    """CUDA and the CPU give slightly different objects and embeddings (measured on an H200)."""
    assert settings("detect: {model: yolox-nano}\n")["detect.providers"] == ["CPUExecutionProvider"]


def test_batch_size_is_a_speed_setting_on_the_cpu_only() -> None:
    cpu = settings("detect: {model: yolox-nano-dynbatch}\nembed: {model: mobilenetv2-int8}\n")
    assert "detect.batch_size" not in cpu and "embed.batch_size" not in cpu
    gpu = settings(
        "detect: {model: yolox-nano-dynbatch, providers: [CUDAExecutionProvider, CPUExecutionProvider]}\n"
        "embed: {model: mobilenetv2-int8}\n"
    )
    assert gpu["detect.batch_size"] == 8 and "embed.batch_size" not in gpu
