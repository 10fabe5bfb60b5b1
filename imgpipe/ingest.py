"""Load images into HBase (plain Python: pyarrow + happybase, no Spark): a folder or a Parquet dataset.

Row keys spread evenly over a pre-split table (persisted: treat as API)::

    row key = hhhh "/" original key        e.g. b"3fa2/cats/001.jpg"
    hhhh    = first 4 hex digits (lower case) of sha1(original key bytes)

The original key is the file's path relative to the folder (``/`` separated) or the Parquet key
column's value. A table created here with N regions is split at equal steps of the 16-bit prefix
space: split i (1 <= i < N) is ``f"{i * 65536 // N:04x}"``, so 4 regions split at 4000, 8000, c000.
Reading the table back with the HBase source gives one task per region, each holding about 1/N of
the images.

Thrift1 cannot create a table with split keys; a pre-split table is created by the Java helper
``scripts/hbase/create-table.sh`` (found through ``$IMGPIPE_HBASE_CREATE_TABLE`` or the repo
checkout; a pip-installed package does not ship it). Without it, ingest fails saying why, where to get
the helper, and the HBase shell command that creates the table instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from imgpipe.config.sections import DEFAULT_EXTENSIONS
from imgpipe.errors import SinkError, SourceError
from imgpipe.hbase import client as hb

log = logging.getLogger(__name__)

#: Rows and bytes per ``mutateRows`` call: the Thrift gateway holds a whole call in its heap.
BATCH_ROWS = 64
BATCH_BYTES = 16 << 20

HELPER_ENV = "IMGPIPE_HBASE_CREATE_TABLE"
ZK_ENV = "IMGPIPE_HBASE_ZK"
#: The pre-split helper in a source checkout. The package does not ship it: it compiles and runs a Java program
#: against HBase's client jars, which Maven resolves from scripts/hbase/pom.xml (~150 MB) into scripts/hbase/target,
#: so it needs the scripts folder, Java 17 and Maven, none of which belongs in (or can write to) site-packages.
CHECKOUT_HELPER = Path(__file__).resolve().parents[1] / "scripts" / "hbase" / "create-table.sh"


@dataclass(frozen=True)
class IngestResult:
    table: str
    rows: int
    bytes: int
    skipped: int
    regions: int
    created: bool


def row_key(original: str | bytes) -> bytes:
    """``hhhh/original``: a 4-hex-digit sha1 prefix spreads keys evenly over the split points."""
    raw = original.encode("utf-8") if isinstance(original, str) else bytes(original)
    return hashlib.sha1(raw).hexdigest()[:4].encode() + b"/" + raw  # noqa: S324 - spreading, not security


def split_keys(regions: int) -> list[bytes]:
    """The ``regions - 1`` split keys at equal steps of the 4-hex-digit prefix space."""
    if not 1 <= regions <= 65536:
        raise ValueError(f"regions must be between 1 and 65536, but got {regions}")
    return [f"{i * 65536 // regions:04x}".encode() for i in range(1, regions)]


def ingest(
    source_path: str | Path,
    host: str,
    port: int,
    table: str,
    column: str,
    regions: int = 4,
    *,
    key_column: str = "key",
    image_column: str = "image",
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS,
    extra_families: tuple[str, ...] = (),
    zk: str | None = None,
    batch_rows: int = BATCH_ROWS,
    timeout_s: float = 120.0,
) -> IngestResult:
    """Put every image of ``source_path`` (a folder, or a Parquet file/dataset) into ``table``.

    The table is created with ``regions`` regions (family of ``column`` plus ``extra_families``) when
    it does not exist; an existing table is used as it is. ``zk`` (``host:port``, default
    ``$IMGPIPE_HBASE_ZK``) tells the pre-split helper where ZooKeeper is.

    Raises:
        SourceError: the source is missing, empty or lacks the key/image columns.
        SinkError: HBase is unreachable, or a pre-split table cannot be created.
    """
    family, sep, _ = column.partition(":")
    if not sep or not family:
        raise SinkError(f"ingest: expected the column as 'family:qualifier', but got {column!r}")
    items = _items(Path(source_path), key_column, image_column, extensions)
    try:
        conn = hb.connect(host, port, timeout_s)
    except hb.TRANSIENT as exc:
        raise SinkError(f"ingest: cannot reach the HBase Thrift gateway at {host}:{port}: {hb.describe(exc)}") from exc
    try:
        created = _ensure_table(conn, table, [family, *extra_families], regions, zk)
        n_regions = len(conn.table(table).regions())
        rows, size, skipped = _put_all(conn.table(table), column.encode(), items, batch_rows)
    except hb.TRANSIENT as exc:
        raise SinkError(f"ingest into {table!r} ({host}:{port}) failed: {hb.describe(exc)}") from exc
    finally:
        hb.close_quietly(conn)
    log.info("ingest: %d images (%d bytes) into %s, %d regions", rows, size, table, n_regions)
    return IngestResult(table, rows, size, skipped, n_regions, created)


# ------------------------------------------------------------------------------------ sources


def _items(path: Path, key_column: str, image_column: str, extensions: tuple[str, ...]) -> Iterator[tuple[bytes, bytes | None]]:
    if not path.exists():
        raise SourceError(f"ingest: {path} does not exist")
    if path.is_dir() and not any(path.rglob("*.parquet")):
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in extensions)
        if not files:
            raise SourceError(f"ingest: no images ({', '.join(extensions)}) under {path}")
        return ((row_key(p.relative_to(path).as_posix()), p.read_bytes()) for p in files)
    return _parquet_items(path, key_column, image_column)


def _parquet_items(path: Path, key_column: str, image_column: str) -> Iterator[tuple[bytes, bytes | None]]:
    try:
        dataset = ds.dataset(str(path), format="parquet")
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for unreadable data
        raise SourceError(f"ingest: cannot read {path} as Parquet: {exc}") from exc
    missing = [c for c in (key_column, image_column) if c not in dataset.schema.names]
    if missing:
        raise SourceError(
            f"ingest: {path} has no column {', '.join(map(repr, missing))}; columns: {', '.join(dataset.schema.names)}"
            " (choose them with --key-column / --image-column)"
        )

    def rows() -> Iterator[tuple[bytes, bytes | None]]:
        for batch in dataset.to_batches(columns=[key_column, image_column], batch_size=256):
            for key, image in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                if key is None:
                    raise SourceError(f"ingest: {path}: a row has a null {key_column!r}")
                yield row_key(key if isinstance(key, (str, bytes)) else str(key)), image

    return rows()


def _put_all(table: Any, column: bytes, items: Iterator[tuple[bytes, bytes | None]], batch_rows: int) -> tuple[int, int, int]:
    rows = size = skipped = pending = 0
    batch = table.batch()
    for key, image in items:
        if not image:
            skipped += 1
            log.warning("ingest: %s has no image bytes; skipped", hb.show_key(key))
            continue
        batch.put(key, {column: image})
        rows, size, pending = rows + 1, size + len(image), pending + len(image)
        if rows % batch_rows == 0 or pending >= BATCH_BYTES:
            batch.send()
            pending = 0
    batch.send()
    return rows, size, skipped


# --------------------------------------------------------------------------------- table setup


def _ensure_table(conn: Any, table: str, families: list[str], regions: int, zk: str | None) -> bool:
    if table.encode() in conn.tables():
        return False
    if regions <= 1:
        conn.create_table(table, {f: {"max_versions": 1} for f in families})
    else:
        create_presplit(table, families, split_keys(regions), zk)
    _wait_for_regions(conn, table, regions)
    return True


def create_table_helper() -> Path:
    """``$IMGPIPE_HBASE_CREATE_TABLE``, else ``scripts/hbase/create-table.sh`` of this source checkout.

    Raises:
        SinkError: there is no usable helper; the message (a clause: "the helper ...") says why and what to do.
    """
    configured = os.environ.get(HELPER_ENV)
    if configured:
        helper = Path(configured).expanduser()
        if not helper.is_file():
            raise SinkError(f"${HELPER_ENV} is {configured}, which is not a file")
    elif CHECKOUT_HELPER.is_file():
        helper = CHECKOUT_HELPER
    else:
        raise SinkError(
            "this imgpipe is installed without its source checkout, and the helper does not ship with the package "
            "(it needs Java 17, Maven and the HBase client jars): take scripts/hbase/create-table.sh from imgpipe's "
            f"source repository (with the rest of scripts/hbase/) and set {HELPER_ENV}=/path/to/create-table.sh"
        )
    if shutil.which("java") is None:
        raise SinkError(f"the helper {helper} needs java, which is not on PATH")
    return helper


def shell_command(table: str, families: list[str], splits: list[bytes]) -> str:
    """The HBase shell command that creates the same pre-split table."""
    fams = ", ".join(f"{{NAME => '{f}', VERSIONS => 1}}" for f in families)
    keys = ", ".join(f"'{s.decode()}'" for s in splits)
    return f"create '{table}', {fams}, SPLITS => [{keys}]"


def create_presplit(table: str, families: list[str], splits: list[bytes], zk: str | None) -> None:
    """Create ``table`` split at ``splits`` with the Java helper; ``zk`` (else ``$IMGPIPE_HBASE_ZK``) is ZooKeeper.

    Raises:
        SinkError: no helper, or the helper failed; says why, what to pass, and the HBase shell command instead.
    """
    need = f"ingest: table {table!r} must be created pre-split into {len(splits) + 1} regions"
    hint = f"Or create the table in the HBase shell, then rerun: {shell_command(table, families, splits)}"
    try:
        helper = create_table_helper()
    except SinkError as exc:
        raise SinkError(f"{need}, which the Thrift API cannot do, so ingest runs a helper, but {exc}. {hint}") from exc
    zk = zk or os.environ.get(ZK_ENV)
    cmd = [str(helper), *(["--zk", zk] if zk else []), table, ",".join(families), *(s.decode() for s in splits)]
    log.info("ingest: creating %s with %d regions: %s", table, len(splits) + 1, " ".join(cmd))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SinkError(f"{need}, but {helper} failed: {exc}. {hint}") from exc
    if done.returncode not in (0, 3):  # 3: created meanwhile by someone else
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise SinkError(f"{need}, but {helper} exited with {done.returncode}:\n{tail}\n{_without_zk(zk)}{hint}")


def _without_zk(zk: str | None) -> str:
    """What the helper did with no ZooKeeper address, in ingest's own terms: it has no --dir option."""
    if zk:
        return ""
    return (
        f"No ZooKeeper address was given (--zk HOST:PORT, or ${ZK_ENV}), so the helper looked for the HBase of "
        "scripts/hbase/start.sh in its run folder ($HBASE_RUN_DIR, default target/run beside the helper). ingest has "
        "no --dir option: pass --zk HOST:PORT, or set HBASE_RUN_DIR to the --dir given to start.sh. "
    )


def _wait_for_regions(conn: Any, table: str, regions: int, timeout_s: float = 60.0) -> None:
    """Region assignment can trail table creation; planning needs every region listed."""
    deadline = time.monotonic() + timeout_s
    while len(conn.table(table).regions()) < regions:
        if time.monotonic() > deadline:
            raise SinkError(f"ingest: table {table!r} still has fewer than {regions} regions after {timeout_s:.0f}s")
        time.sleep(0.5)
