"""``imgpipe ingest``: load a folder of images or a Parquet dataset into a pre-split HBase table.

Mounted by ``imgpipe.cli``; problems are raised as ``ConfigError``/``SourceError``/``SinkError``.
"""

from __future__ import annotations

import click

from imgpipe.cli.options import common_options
from imgpipe.errors import ConfigError


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--hbase: expected HOST:PORT of the Thrift gateway, e.g. localhost:9090, but got {value!r}")
    return host, int(port)


@click.command("ingest")
@common_options
@click.argument("source", type=click.Path(exists=True))
@click.option("--hbase", "hbase", required=True, metavar="HOST:PORT", help="HBase Thrift1 gateway.")
@click.option("--table", required=True, help="Table to fill; created pre-split when missing.")
@click.option("--column", required=True, metavar="FAMILY:QUALIFIER", help="Cell that receives the image bytes.")
@click.option("--regions", default=4, show_default=True, type=click.IntRange(1, 65536), help="Regions of a new table.")
@click.option("--key-column", default="key", show_default=True, help="Parquet source: the key column.")
@click.option("--image-column", default="image", show_default=True, help="Parquet source: the image bytes column.")
@click.option("--extra-family", "extra_families", multiple=True, help="More families for a new table (e.g. r for results).")
@click.option("--zk", default=None, metavar="HOST:PORT", help="ZooKeeper, for creating a pre-split table [$IMGPIPE_HBASE_ZK].")
def ingest(
    source: str,
    hbase: str,
    table: str,
    column: str,
    regions: int,
    key_column: str,
    image_column: str,
    extra_families: tuple[str, ...],
    zk: str | None,
) -> None:
    """Put the images of SOURCE (a folder, recursive, or a Parquet dataset) into an HBase table.

    Row keys are "hhhh/<key>" (4 hex digits of sha1(key), then the file's relative path or the key
    column), so keys spread evenly over the table's regions.
    """
    from imgpipe.ingest import ingest as ingest_images  # pyarrow.dataset (and pandas): only for this command

    host, port = _host_port(hbase)
    if ":" not in column or column.startswith(":"):
        raise ConfigError(f"--column: expected FAMILY:QUALIFIER, but got {column!r}")
    result = ingest_images(
        source, host, port, table, column, regions,
        key_column=key_column, image_column=image_column, extra_families=extra_families, zk=zk,
    )  # fmt: skip
    click.echo(
        f"{result.rows} images ({result.bytes / 1e6:.1f} MB) into {result.table} "
        f"({result.regions} regions{', created' if result.created else ''}); {result.skipped} skipped"
    )
