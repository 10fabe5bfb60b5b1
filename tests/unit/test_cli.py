"""The command line: exit codes, messages naming the YAML path, help for every command; no Spark."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from imgpipe import __version__
from imgpipe.cli import cli
from tests.helpers import SHARED_IMAGES

BROKEN = """\
source:
  type: files
  pth: {images}
  recursive: maybe
sink:
  type: parquet
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, prefix + name + " ")
    return out


@pytest.mark.parametrize(("name", "command"), _commands(cli), ids=lambda x: x if isinstance(x, str) else "")
def test_every_command_has_help(runner: CliRunner, name: str, command: click.Command) -> None:
    assert command.help, f"{name} is missing its help"
    result = runner.invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_validate_reports_all_problems_with_line_and_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    config = write(tmp_path, BROKEN.format(images=SHARED_IMAGES))
    result = runner.invoke(cli, ["validate", config])
    assert result.exit_code == 2
    assert f"{config}:1: source.path: field required" in result.output  # the section that lacks it
    assert f"{config}:3: source.pth: unknown key. Did you mean 'path'?" in result.output
    assert f"{config}:4: source.recursive: Input should be a valid boolean" in result.output
    assert f"{config}:5: sink.path: field required" in result.output
    assert "Traceback" not in result.output


def test_validate_checks_paths_before_spark(runner: CliRunner, tmp_path: Path) -> None:
    text = f"source: {{type: files, path: {tmp_path / 'nope'}}}\nsink: {{type: parquet, path: {tmp_path / 'o'}}}\n"
    result = runner.invoke(cli, ["validate", write(tmp_path, text)])
    assert result.exit_code == 2
    assert "source.path: " in result.output and "does not exist" in result.output


def test_validate_ok(runner: CliRunner, tmp_path: Path) -> None:
    text = f"source: {{type: files, path: {SHARED_IMAGES}}}\nsink: {{type: parquet, path: {tmp_path / 'o'}}}\n"
    result = runner.invoke(cli, ["validate", write(tmp_path, text)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_existing_output_with_mode_error_is_refused_early(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "o" / "results").mkdir(parents=True)
    text = f"source: {{type: files, path: {SHARED_IMAGES}}}\nsink: {{type: parquet, path: {tmp_path / 'o'}}}\n"
    result = runner.invoke(cli, ["run", write(tmp_path, text)])
    assert result.exit_code == 2
    assert "sink.mode: " in result.output and "already exists" in result.output


def test_dry_run_prints_plan_with_secrets_redacted(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_SECRET", "hunter2-secret-key")
    text = (
        f"source: {{type: files, path: {SHARED_IMAGES}}}\n"
        "spark: {conf: {spark.hadoop.fs.s3a.secret.key: '${S3_SECRET}'}}\n"
        "detect: {model: yolox-nano}\nembed: {model: mobilenetv2-int8}\n"
        f"sink: {{type: parquet, path: {tmp_path / 'o'}}}\n"
    )
    result = runner.invoke(cli, ["run", write(tmp_path, text), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "spark.hadoop.fs.s3a.secret.key: ***" in result.output
    assert "stages: decode -> detect -> crop -> embed" in result.output
    assert "yolox-nano sha256=695e750a" in result.output


def test_wrong_model_checksum_fails_before_spark(runner: CliRunner, tmp_path: Path) -> None:
    fake = tmp_path / "det.onnx"
    fake.write_bytes(b"not really a model")
    text = (
        f"source: {{type: files, path: {SHARED_IMAGES}}}\n"
        f"detect: {{model: yolox-nano, path: {fake}}}\n"
        f"sink: {{type: parquet, path: {tmp_path / 'o'}}}\n"
    )
    config = write(tmp_path, text)
    result = runner.invoke(cli, ["validate", config])
    assert result.exit_code == 2
    assert "yolox-nano" in result.output and f"{config}:2: detect.model:" in result.output and "sha256" in result.output


def test_unknown_model_name_suggests(runner: CliRunner, tmp_path: Path) -> None:
    text = (
        f"source: {{type: files, path: {SHARED_IMAGES}}}\n"
        "detect: {model: yolox-nan}\n"
        f"sink: {{type: parquet, path: {tmp_path / 'o'}}}\n"
    )
    config = write(tmp_path, text)
    result = runner.invoke(cli, ["validate", config])
    assert result.exit_code == 2
    assert "yolox-nano" in result.output and f"{config}:2: detect.model:" in result.output
