"""``imgpipe index | search | dedup``: the last mile over a run's Parquet output, mounted by ``imgpipe.cli``.

``index`` and ``dedup`` run on Spark through ``imgpipe.job`` (local by default, ``--master`` for a cluster);
``search`` runs in-process. Problems are raised as ``ImgpipeError`` subclasses; ``imgpipe.cli`` prints them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from imgpipe.cli.options import common_options
from imgpipe.config import load_config
from imgpipe.config.sections import SparkConfig
from imgpipe.errors import ConfigError
from imgpipe.report import inference_config
from imgpipe.vectors.columns import LEVELS
from imgpipe.vectors.folders import check_folder, check_run_output
from imgpipe.vectors.plan import KINDS

F = TypeVar("F", bound=Callable[..., Any])

#: Vector rows are small next to images: bigger Arrow batches than the job's default of 32 rows.
VECTOR_BATCH_ROWS = 1024


def _spark_options(fn: F) -> F:
    fn = click.option(
        "--conf", "conf", multiple=True, metavar="spark.KEY=VALUE", help="A Spark property (repeatable)."
    )(fn)
    return click.option("--master", default="local[*]", show_default=True, help="Spark master URL.")(fn)


def _spark_config(master: str, conf: tuple[str, ...], app: str) -> SparkConfig:
    pairs: dict[str, str | int | float | bool] = {}
    for item in conf:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("spark."):
            raise ConfigError(f"--conf: expected spark.KEY=VALUE, but got {item!r}")
        pairs[key] = value
    return SparkConfig(master=master, app_name=app, conf=pairs, max_records_per_batch=VECTOR_BATCH_ROWS)


INDEX_EXAMPLES = """
\b
Examples:
  imgpipe index demo-output --out demo-index
  imgpipe index /data/nightly --out /data/nightly-index --level object --master spark://10.0.0.5:7077
"""


@click.command("index", epilog=INDEX_EXAMPLES)
@common_options
@click.argument("output")
@click.option("--out", "out", required=True, metavar="INDEX", help="Folder to create (local, or a shared mount).")
@click.option("--level", type=click.Choice(LEVELS), default=None, help="Vectors of whole images or of objects [default: image when the run embedded images].")
@click.option("--kind", type=click.Choice(("auto", *KINDS)), default="auto", show_default=True, help="flat: exact; ivf-*: approximate, for large corpora.")
@click.option("--config", "config", default=None, type=click.Path(dir_okay=False), help="The run's YAML, when OUTPUT/summary.json lacks the inference config.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier index in INDEX (only its own files).")
@_spark_options
def index(
    output: str, out: str, level: str | None, kind: str, config: str | None, overwrite: bool, master: str,
    conf: tuple[str, ...],
) -> None:  # fmt: skip
    """Build a vector index of OUTPUT, the folder of an `imgpipe run` with a Parquet sink."""
    from imgpipe.vectors.index import INDEX_LAYOUT  # faiss and pyarrow.dataset: only for this command

    inference = inference_config(load_config(config).job) if config else None
    check_run_output(output)
    check_folder(out, overwrite, INDEX_LAYOUT, "--out", {"OUTPUT": output})
    spark_cfg = _spark_config(master, conf, "imgpipe-index")
    from imgpipe.job import spark_job  # imports pyspark: only when an index is really built
    from imgpipe.job.index import build_index

    with spark_job(spark_cfg, "the index build") as spark:
        meta = build_index(spark, output, out, level=level, kind=kind, inference=inference, overwrite=overwrite)
    params = f", nlist={meta.nlist}, nprobe={meta.nprobe} (recall@10 ≈ {meta.estimated_recall:.3f})" if meta.nlist else ""
    click.echo(
        f"index {out}: {meta.ntotal} {meta.level} vectors of {meta.dim} dimensions, {meta.kind}{params}, "
        f"{meta.shards} shard(s) merged in {meta.build_seconds:.1f} s"
    )


SEARCH_EXAMPLES = """
\b
Examples:
  imgpipe search demo-index photo.jpg
  imgpipe search demo-index a.jpg b.png -k 5 --json
"""


@click.command("search", epilog=SEARCH_EXAMPLES)
@common_options
@click.argument("index_dir", metavar="INDEX")
@click.argument("images", nargs=-1, required=True)
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Neighbours per query.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
@click.option("--level", type=click.Choice(LEVELS), default=None, help="Check that the index holds this level.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override the query pass's config (e.g. detect.providers=[CUDAExecutionProvider]).")
def search(
    index_dir: str, images: tuple[str, ...], k: int, as_json: bool, level: str | None, overrides: tuple[str, ...]
) -> None:
    """Find the entries of INDEX nearest to each IMAGE (or to each object found in it)."""
    from imgpipe.vectors.index import VectorIndex
    from imgpipe.vectors.search import format_json, format_text, search_images

    opened = VectorIndex.open(index_dir)
    if level is not None and level != opened.meta.level:
        raise ConfigError(
            f"--level {level}: index {index_dir} holds {opened.meta.level} vectors; "
            f"build one with imgpipe index OUTPUT --level {level}"
        )
    results = search_images(opened, list(images), k, overrides)
    click.echo(format_json(opened, results) if as_json else format_text(opened, results))


DEDUP_EXAMPLES = """
\b
Examples:
  imgpipe dedup demo-output --threshold 0.85 --out demo-dedup
  imgpipe dedup /data/nightly --threshold 0.9 --level object --out /data/nightly-dups --index /data/nightly-index
"""


@click.command("dedup", epilog=DEDUP_EXAMPLES)
@common_options
@click.argument("output")
@click.option("--threshold", required=True, type=click.FloatRange(-1.0, 1.0), help="Cosine similarity at or above which two vectors are near-duplicates (0.85 measured for mobilenetv2-int8; see README).")
@click.option("--out", "out", required=True, metavar="DIR", help="Folder to create: groups/ (Parquet), index/, summary.json.")
@click.option("--level", type=click.Choice(LEVELS), default="image", show_default=True, help="De-duplicate whole images or objects.")
@click.option("-k", "k", default=20, show_default=True, type=click.IntRange(1, 1000), help="Neighbours looked up per vector.")
@click.option("--index", "index_dir", default=None, metavar="INDEX", help="Use this index of OUTPUT instead of building one.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier dedup in DIR (only its own files).")
@_spark_options
def dedup(
    output: str, threshold: float, out: str, level: str, k: int, index_dir: str | None, overwrite: bool,
    master: str, conf: tuple[str, ...],
) -> None:  # fmt: skip
    """Group the near-duplicate images (or objects) of OUTPUT, the folder of an `imgpipe run`."""
    from imgpipe.vectors.dedup import DEDUP_LAYOUT  # faiss and pyarrow.dataset: only for this command

    check_run_output(output)
    check_folder(out, overwrite, DEDUP_LAYOUT, "--out", {"OUTPUT": output, "--index": index_dir})
    spark_cfg = _spark_config(master, conf, "imgpipe-dedup")
    from imgpipe.job import spark_job  # imports pyspark: only when a dedup really runs
    from imgpipe.job.dedup import dedup

    with spark_job(spark_cfg, "the dedup") as spark:
        report = dedup(
            spark, output, out, threshold=threshold, level=level, k=k, index_dir=index_dir, overwrite=overwrite
        )
    click.echo(report.format_text())
