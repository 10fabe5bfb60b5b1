"""The ``imgpipe`` command. The only place exceptions become messages and exit codes.

Exit codes: 0 success; 1 the job failed; 2 the config (or a model it names) is invalid;
3 the job finished but more images failed than ``run.max_error_rate`` allows.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import click
import yaml

from imgpipe import __version__
from imgpipe.cli_ingest import ingest
from imgpipe.cli_models import models
from imgpipe.cli_report import report
from imgpipe.config import LoadedConfig, load_config, secrets
from imgpipe.errors import ErrorRateExceeded, ImgpipeError

RUN_EXAMPLES = """
\b
Examples:
  imgpipe run configs/demo.yaml
  imgpipe run configs/demo.yaml --set source.type=files --set source.path=/data/photos
  imgpipe run nightly.yaml --set spark.master=spark://10.0.0.5:7077 --set run.max_error_rate=0.05
  imgpipe run nightly.yaml --resume        # finish an interrupted run; done chunks are skipped
  imgpipe run nightly.yaml --dry-run       # validate, resolve models, print the plan; no Spark
"""


class _Group(click.Group):
    """Turns every ``ImgpipeError`` (and any crash) into one ``Error:`` line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImgpipeError as exc:
            _report(ctx, str(exc), exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a Spark or Python failure inside the job
            _report(ctx, f"the job failed: {_first_line(exc)}", 1)


def _report(ctx: click.Context, message: str, code: int) -> None:
    if ctx.obj and ctx.obj.get("verbose"):
        click.echo(secrets.redact(traceback.format_exc()), err=True)
    click.echo(f"Error: {secrets.redact(message)}", err=True)
    if code == 1 and not (ctx.obj and ctx.obj.get("verbose")):
        click.echo("Run with --verbose to see the full traceback.", err=True)
    ctx.exit(code)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:500]
    return type(exc).__name__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imgpipe")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """imgpipe: detect objects, crop them and embed them, over millions of images, as one Spark job.

    Read (HBase, Parquet, folders) -> decode -> detect -> crop -> embed -> write (Parquet, HBase),
    all configured by one YAML file. Start with `imgpipe run configs/demo.yaml`.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    _setup_logging(verbose)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    secrets.redact_handlers(logging.getLogger())


_set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a config value (repeatable). Setting a section's type starts that section afresh.",
)


@cli.command(epilog=RUN_EXAMPLES)
@click.argument("config", type=click.Path(dir_okay=False))
@_set_option
@click.option("--dry-run", is_flag=True, help="Validate, resolve models and print the plan; start no Spark.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run; chunks already committed are skipped.")
def run(config: str, overrides: tuple[str, ...], dry_run: bool, resume: bool) -> None:
    """Run the job described by CONFIG (a YAML file)."""
    from imgpipe.preflight import build_pipeline, check_paths

    loaded = load_config(config, overrides)
    check_paths(loaded, resume=resume)
    pipeline = build_pipeline(loaded)
    if dry_run:
        click.echo(_describe(loaded, pipeline))
        return
    from imgpipe.spark.job import run_job

    report = run_job(loaded, pipeline, resume=resume)
    click.echo(loaded.raw.redact(report.format_text()))
    if report.error_rate_exceeded:
        raise ErrorRateExceeded(
            f"{report.images_failed} of {report.images_read} images failed ({report.error_rate:.2%}), "
            f"over run.max_error_rate={report.max_error_rate}; see {report.outputs.get('errors', 'errors')}"
        )


@cli.command(epilog="\b\nExample:\n  imgpipe validate configs/demo.yaml --set detect.score_threshold=0.5")
@click.argument("config", type=click.Path(dir_okay=False))
@_set_option
def validate(config: str, overrides: tuple[str, ...]) -> None:
    """Check CONFIG without running it: schema, paths and models. Starts no Spark."""
    from imgpipe.preflight import build_pipeline, check_paths

    loaded = load_config(config, overrides)
    check_paths(loaded)
    build_pipeline(loaded)
    click.echo(f"{config}: valid")


def _describe(loaded: LoadedConfig, pipeline: Any) -> str:
    resolved = yaml.safe_dump(loaded.job.model_dump(mode="json", exclude_none=True), sort_keys=False)
    stages = ["decode"]
    if pipeline.detector is not None:
        stages += ["detect", "crop"]
    if pipeline.embedder is not None:
        stages.append("embed")
    lines = [
        f"# {loaded.raw.source}: valid; nothing was run (--dry-run)",
        f"# stages: {' -> '.join(stages)}",
    ]
    for role, info in (("detect", pipeline.detect_model), ("embed", pipeline.embed_model)):
        if info is not None:
            lines.append(f"# {role} model: {info.name} sha256={info.sha256}")
    return loaded.raw.redact("\n".join(lines) + "\n" + resolved)


cli.add_command(models)
cli.add_command(ingest)
cli.add_command(report)


def main() -> None:
    cli(prog_name="imgpipe")
