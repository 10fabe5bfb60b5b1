"""``imgpipe report``: the HTML report of a finished run. Mounted by ``imgpipe.cli``."""

from __future__ import annotations

import click

from imgpipe.cli.options import common_options
from imgpipe.config import load_config

REPORT_EXAMPLES = """
\b
Examples:
  imgpipe report ./demo-output                       # writes ./report.html
  imgpipe report ./demo-output --out /tmp/demo.html --samples 48
  imgpipe report ./imgpipe-runs/photos --config nightly.yaml   # HBase run: read sample images from HBase
"""


@click.command("report", epilog=REPORT_EXAMPLES)
@common_options
@click.argument("output")
@click.option("--out", "target", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write; an earlier report there is replaced, any other file is not.")
@click.option("--samples", default=24, show_default=True, type=click.IntRange(0, 1000),
              help="Images in the sample grid (chosen by key hash, the same each time).")
@click.option("--config", "config", default=None, type=click.Path(dir_okay=False),
              help="The run's config: lets the report read sample images from a Parquet or HBase source.")
@click.option("--scan-limit", default=20_000, show_default=True, type=click.IntRange(1),
              help="HBase sink: rows of the run scanned for the histograms and the sample.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override a value of --config.")
def report(
    output: str, target: str, samples: int, config: str | None, scan_limit: int, overrides: tuple[str, ...]
) -> None:
    """Write a self-contained HTML report of the run whose output is OUTPUT.

    OUTPUT is the Parquet sink's path (results/, errors/, summary.json), or for an HBase sink the run's
    report_dir (then --config lets it scan the results table). The page embeds everything (images as
    data: URIs, charts as SVG): open it from disk.
    """
    from imgpipe.htmlreport import ReportOptions, write_report

    job = load_config(config, overrides).job if config else None
    written = write_report(output, target, ReportOptions(samples=samples, job=job, scan_limit=scan_limit))
    shown = f"{written.samples} sample images" + (
        f" ({written.samples_missing} not available, see the page)" if written.samples_missing else ""
    )
    click.echo(f"report: {written.path} ({shown}, {written.error_rows} error rows)")
