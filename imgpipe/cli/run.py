"""``imgpipe run`` and ``imgpipe validate``: one YAML file -> checked config -> (the Spark job).

Everything up to building the pipeline (schema, paths, models) runs before any Spark starts.
"""

from __future__ import annotations

import logging

import click
import yaml

from imgpipe.cli.options import common_options, is_verbose, progress_mode
from imgpipe.config import LoadedConfig, load_config
from imgpipe.errors import ErrorRateExceeded
from imgpipe.pipeline import Pipeline
from imgpipe.preflight import build_pipeline, check_paths

RUN_EXAMPLES = """
\b
Examples:
  imgpipe run job.yaml
  imgpipe run job.yaml --set source.type=files --set source.path=/data/photos
  imgpipe run nightly.yaml --set spark.master=spark://10.0.0.5:7077 --set run.max_error_rate=0.05
  imgpipe run nightly.yaml --resume        # finish an interrupted run; done chunks are skipped
  imgpipe run nightly.yaml --dry-run       # validate, resolve models, print the plan; no Spark
"""

#: Set in the root context's object by ``submit_main``: spark-submit started this process and owns the session.
SPARK_SUBMIT = "spark_submit"

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a config value (repeatable). Setting a section's type starts that section afresh.",
)


@click.command(epilog=RUN_EXAMPLES)
@common_options
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("--dry-run", is_flag=True, help="Validate, resolve models and print the plan; start no Spark.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run; chunks already committed are skipped.")
@click.pass_context
def run(ctx: click.Context, config: str, overrides: tuple[str, ...], dry_run: bool, resume: bool) -> None:
    """Run the job described by CONFIG (a YAML file).

    On a terminal a live progress bar shows images done, rate, errors and the chunk; otherwise (cron, Airflow)
    a timestamped line every 30 s and at each chunk's end. -q shows only the final summary.
    """
    loaded = load_config(config, overrides)
    check_paths(loaded, resume=resume)
    pipeline = build_pipeline(loaded)
    if dry_run:
        click.echo(_describe(loaded, pipeline))
        return
    from imgpipe.job import run_job  # imports pyspark: only when a job really runs

    mode = progress_mode(ctx)
    if mode == "bar":  # the bar says what the per-chunk log lines would, without tearing it
        logging.getLogger("imgpipe.job").setLevel(logging.WARNING)
    submitted = bool((ctx.find_root().obj or {}).get(SPARK_SUBMIT))
    report = run_job(loaded, pipeline, resume=resume, verbose=is_verbose(ctx), progress=mode, submitted=submitted)
    click.echo(loaded.raw.redact(report.format_text()))
    if report.error_rate_exceeded:
        raise ErrorRateExceeded(
            f"{report.images_failed} of {report.images_read} images failed ({report.error_rate:.2%}), "
            f"over run.max_error_rate={report.max_error_rate}; see {report.outputs.get('errors', 'errors')}"
        )


@click.command(epilog="\b\nExample:\n  imgpipe validate job.yaml --set detect.score_threshold=0.5")
@common_options
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
def validate(config: str, overrides: tuple[str, ...]) -> None:
    """Check CONFIG without running it: schema, paths and models. Starts no Spark."""
    loaded = load_config(config, overrides)
    check_paths(loaded)
    build_pipeline(loaded)
    click.echo(f"{config}: valid")


def _describe(loaded: LoadedConfig, pipeline: Pipeline) -> str:
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
