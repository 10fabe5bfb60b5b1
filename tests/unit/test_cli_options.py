"""Options every command takes, before or after the command name: ``imgpipe -v run x`` = ``imgpipe run x -v``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from imgpipe.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("imgpipe")
    level, our_level, handlers = root.level, ours.level, list(root.handlers)
    yield
    root.setLevel(level)
    ours.setLevel(our_level)
    root.handlers[:] = handlers


@pytest.mark.parametrize("command", list(_commands(cli)), ids=" ".join)
@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_every_command_accepts_verbose_after_its_name(command: tuple[str, ...], flag: str) -> None:
    result = CliRunner().invoke(cli, [*command, flag, "--help"])
    assert result.exit_code == 0, result.output


def _failing_ingest(tmp_path: Path) -> list[str]:
    """A real exit-1 failure without Spark: ingest into a Thrift gateway nobody listens on."""
    (tmp_path / "a.jpg").write_bytes(b"not really a jpeg")
    return ["ingest", str(tmp_path), "--hbase", "127.0.0.1:1", "--table", "t", "--column", "f:img"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_shows_the_traceback_wherever_it_is_given(tmp_path: Path, where: str) -> None:
    args = _failing_ingest(tmp_path)
    result = CliRunner().invoke(cli, ["--verbose", *args] if where == "before" else [*args, "--verbose"])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "Run with --verbose" not in result.output
    assert logging.getLogger().level == logging.DEBUG


def test_without_verbose_the_failure_says_how_to_see_more(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, _failing_ingest(tmp_path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "Run with --verbose" in result.output


def test_verbose_after_the_config_of_run(tmp_path: Path) -> None:
    config = tmp_path / "job.yaml"
    (tmp_path / "in").mkdir()
    config.write_text(f"source: {{type: files, path: {tmp_path / 'in'}}}\nsink: {{type: parquet, path: {tmp_path / 'o'}}}\n")
    result = CliRunner().invoke(cli, ["validate", str(config), "--verbose"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("flags", "ours", "theirs"),
    [([], logging.INFO, logging.WARNING), (["-q"], logging.WARNING, logging.WARNING), (["-v"], logging.DEBUG, logging.DEBUG)],
)
def test_other_libraries_speak_at_info_only_with_verbose(tmp_path: Path, flags: list[str], ours: int, theirs: int) -> None:
    # faiss logs "Could not load library with AVX2 support due to: ModuleNotFoundError(...)" at INFO on every
    # search on a machine without AVX2: alarming, and nothing to act on. imgpipe's own INFO lines stay.
    config = tmp_path / "job.yaml"
    (tmp_path / "in").mkdir()
    config.write_text(f"source: {{type: files, path: {tmp_path / 'in'}}}\nsink: {{type: parquet, path: {tmp_path / 'o'}}}\n")
    result = CliRunner().invoke(cli, ["validate", str(config), *flags])
    assert result.exit_code == 0, result.output
    assert logging.getLogger("imgpipe.vectors.index").getEffectiveLevel() == ours
    assert logging.getLogger("faiss.loader").getEffectiveLevel() == theirs
