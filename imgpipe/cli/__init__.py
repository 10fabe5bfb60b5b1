"""The ``imgpipe`` command. The only place exceptions become messages and exit codes.

Exit codes: 0 success; 1 the job failed; 2 the config (or a model it names) is invalid;
3 the job finished but more images failed than ``run.max_error_rate`` allows.
Each subcommand lives in its own module here (``run``, ``models``, ``ingest``, ``report``, ``vectors``: index,
search, dedup; ``cluster``: pack, entrypoint) and is mounted below; ``submit_main`` is ``imgpipe run`` as
spark-submit starts it.
"""

from __future__ import annotations

import atexit
import os
import select
import sys
import traceback
from typing import Any, NoReturn

import click

from imgpipe import __version__
from imgpipe.cli.cluster import entrypoint, pack
from imgpipe.cli.ingest import ingest
from imgpipe.cli.models import models
from imgpipe.cli.options import common_options, is_verbose, setup_logging
from imgpipe.cli.report import report
from imgpipe.cli.run import SPARK_SUBMIT, run, validate
from imgpipe.cli.vectors import dedup, index, search
from imgpipe.config import secrets
from imgpipe.errors import ImgpipeError, first_line


class _Group(click.Group):
    """Turns every ``ImgpipeError`` (and any crash) into one ``Error:`` line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImgpipeError as exc:
            _report(ctx, str(exc), exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError as exc:
            if not _stdout_gone():
                _report(ctx, f"the job failed: {first_line(exc)}", 1)
            # Whoever read our output stopped reading (`imgpipe models list | head`): nothing to tell them.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except Exception as exc:  # a Spark or Python failure inside the job
            _report(ctx, f"the job failed: {first_line(exc)}", 1)


def _stdout_gone() -> bool:
    """Whether standard output is a pipe nobody reads any more (and not some other connection that broke):
    the write end of a pipe whose read end is closed polls as an error."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor, or no poll on this platform
        return False


def _report(ctx: click.Context, message: str, code: int) -> None:
    if is_verbose(ctx):
        click.echo(secrets.redact(traceback.format_exc()), err=True)
    click.echo(f"Error: {secrets.redact(message)}", err=True)
    if code == 1 and not is_verbose(ctx):
        click.echo("Run with --verbose to see the full traceback.", err=True)
    ctx.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imgpipe")
@common_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """imgpipe: detect objects, crop them and embed them, over millions of images, as one Spark job.

    Read (HBase, Parquet, folders) -> decode -> detect -> crop -> embed -> write (Parquet, HBase),
    all configured by one YAML file: check it with `imgpipe validate job.yaml`, then `imgpipe run job.yaml`.
    Every key is described in the README; the source repository's configs/demo.yaml is a complete example.
    `imgpipe models list` shows the models known by name.
    """
    setup_logging(ctx)


for _command in (run, validate, models, ingest, report, index, search, dedup, pack, entrypoint):
    cli.add_command(_command)


def main() -> None:
    """The ``imgpipe`` command: the CLI, then an exit without the interpreter's teardown.

    Tearing down the modules of NumPy, OpenCV, ONNX Runtime, Arrow, faiss and PySpark takes 0.2-0.3 s after the
    work is done (measured: docs/benchmarks.md), a fixed cost on every run that nothing needs: the Spark session
    is stopped, the files are closed. The exit handlers still run and the output is flushed, then the process
    leaves with the CLI's exit code."""
    try:
        cli(prog_name="imgpipe")
    except SystemExit as done:
        _leave(done.code)
    _leave(0)


def _leave(code: object) -> NoReturn:
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what sys.exit does with a message
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code or 0)


def submit_main() -> None:
    """``imgpipe run`` with spark-submit's arguments (``imgpipe.submit.imgpipe_submit``)."""
    cli(["run", *sys.argv[1:]], prog_name="imgpipe (spark-submit)", obj={SPARK_SUBMIT: True})
