"""``imgpipe pack`` and ``imgpipe entrypoint``: what running on a cluster takes besides the config.

``pack`` builds the archive the executors unpack (``spark.pack`` ships it); ``entrypoint`` prints the Python file
``spark-submit`` runs. Mounted by ``imgpipe.cli``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from imgpipe.cli.options import common_options

ENTRYPOINT = "imgpipe.submit.imgpipe_submit"

PACK_EXAMPLES = """
\b
Examples:
  imgpipe pack imgpipe-env.tar.gz
  imgpipe run nightly.yaml --set spark.master=spark://10.0.0.5:7077 --set spark.pack=imgpipe-env.tar.gz
  imgpipe pack imgpipe-env.tar.gz --python-prefix /usr     # smaller: executors have this Python in /usr/bin
"""


@click.command("pack", epilog=PACK_EXAMPLES)
@common_options
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--python-prefix", default=None, metavar="PREFIX",
              help="Link to the executors' own Python at PREFIX (e.g. /usr) instead of carrying this one.")
def pack(out: Path, python_prefix: str | None) -> None:
    """Pack this install of imgpipe and its dependencies into OUT (.tar.gz) for the executors.

    The archive holds this Python's interpreter and standard library and every package but pyspark (the
    cluster's Spark provides it): executors need only Java, Spark's own files and a Linux of this architecture.
    With --python-prefix it links to a Python the executors have instead. An earlier archive written by
    imgpipe pack is replaced; any other file is left alone.
    """
    from imgpipe.pack import pack as build

    click.echo(f"packing imgpipe and its dependencies into {out} (a minute or more)...", err=True)
    packed = build(out, python_prefix=python_prefix)
    click.echo(
        f"{packed.path}: {packed.size / (1 << 20):.0f} MiB in {packed.seconds:.0f} s; executors run "
        f"{packed.interpreter} (set spark.pack: {packed.path} to ship it)"
    )


@click.command("entrypoint")
@common_options
def entrypoint() -> None:
    """Print the Python file for spark-submit: spark-submit [options] $(imgpipe entrypoint) CONFIG [--set ...]."""
    click.echo(entrypoint_path())


def entrypoint_path() -> Path:
    """Found, not imported: the file is spark-submit's to run."""
    spec = importlib.util.find_spec(ENTRYPOINT)
    assert spec is not None and spec.origin is not None, f"{ENTRYPOINT} is part of imgpipe"
    return Path(spec.origin).resolve()

