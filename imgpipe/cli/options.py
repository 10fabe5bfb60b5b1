"""Options every ``imgpipe`` command takes, before or after its name: ``imgpipe -v run x.yaml`` is
``imgpipe run x.yaml -v``. Each sets the root context's flag and the logging level, so the group's error
handler sees it wherever it was given.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from imgpipe.config import secrets

F = TypeVar("F", bound=Callable[..., object])


def setup_logging(ctx: click.Context) -> None:
    """Logging for a command-line run, at the level the options chose so far (INFO unless -v)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(_level(ctx))
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    secrets.redact_handlers(logging.getLogger())


def is_verbose(ctx: click.Context) -> bool:
    return bool(_flags(ctx).get("verbose"))


def _flags(ctx: click.Context) -> dict[str, object]:
    root = ctx.find_root()
    root.ensure_object(dict)
    flags: dict[str, object] = root.obj
    return flags


def _level(ctx: click.Context) -> int:
    return logging.DEBUG if is_verbose(ctx) else logging.INFO


def _verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Called for every command that declares the option, given or not: only a given flag changes anything, so
    # a subcommand without -v keeps the group's -v.
    if value:
        _flags(ctx)["verbose"] = True
        logging.getLogger().setLevel(_level(ctx))


def common_options(command: F) -> F:
    """Adds -v/--verbose (and the options to come, such as --quiet) to a command or group."""
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_verbose,
        help="Show tracebacks and debug logs (before or after the command name).",
    )(command)
