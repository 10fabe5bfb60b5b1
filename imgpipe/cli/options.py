"""Options every ``imgpipe`` command takes, before or after its name: ``imgpipe -v run x.yaml`` is
``imgpipe run x.yaml -v``. Each sets the root context's flag and the logging level, so the group's error
handler sees it wherever it was given. ``-q`` keeps only warnings, errors and the final summary.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Literal, TypeVar

import click

from imgpipe.config import secrets

F = TypeVar("F", bound=Callable[..., object])

#: The parent of every imgpipe module's logger (``logging.getLogger(__name__)``, ``"imgpipe.job"``...).
IMGPIPE_LOGGER = "imgpipe"


def setup_logging(ctx: click.Context) -> None:
    """Logging for a command-line run, at the levels the options chose so far: imgpipe's own INFO lines unless -q,
    other libraries' warnings only unless -v (faiss, for one, logs its CPU-feature probing at INFO)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _set_levels(ctx)
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    secrets.redact_handlers(logging.getLogger())


def is_verbose(ctx: click.Context) -> bool:
    return bool(_flags(ctx).get("verbose"))


def is_quiet(ctx: click.Context) -> bool:
    return bool(_flags(ctx).get("quiet")) and not is_verbose(ctx)


def progress_mode(ctx: click.Context) -> Literal["bar", "lines", "off"]:
    """A live bar on a terminal, plain timestamped lines for cron and Airflow logs, nothing with -q."""
    if is_quiet(ctx):
        return "off"
    return "bar" if sys.stderr.isatty() else "lines"


def _flags(ctx: click.Context) -> dict[str, object]:
    root = ctx.find_root()
    root.ensure_object(dict)
    flags: dict[str, object] = root.obj
    return flags


def _set_levels(ctx: click.Context) -> None:
    """imgpipe's loggers at DEBUG (-v), WARNING (-q) or INFO; everyone else's at DEBUG (-v) or WARNING."""
    verbose = is_verbose(ctx)
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.WARNING)
    ours = logging.DEBUG if verbose else logging.WARNING if is_quiet(ctx) else logging.INFO
    logging.getLogger(IMGPIPE_LOGGER).setLevel(ours)


def _flag(name: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def set_flag(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        # Called for every command that declares the option, given or not: only a given flag changes anything,
        # so a subcommand without -v keeps the group's -v.
        if value:
            _flags(ctx)[name] = True
            _set_levels(ctx)

    return set_flag


def common_options(command: F) -> F:
    """Adds -v/--verbose and -q/--quiet to a command or group."""
    verbose = click.option(
        "-v", "--verbose", is_flag=True, expose_value=False, callback=_flag("verbose"),
        help="Show tracebacks, debug logs and Spark's INFO logs (before or after the command name).",
    )  # fmt: skip
    quiet = click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, callback=_flag("quiet"),
        help="Only warnings, errors and the final summary: no progress, no info logs.",
    )  # fmt: skip
    return verbose(quiet(command))
