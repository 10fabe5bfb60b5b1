"""HBase source: key ranges planned on the driver from the table's regions, scanned with happybase on executors.

    plan_splits(cfg)                     driver: one HBaseSplit per region (x splits_per_region),
                                         clipped to row_start/row_stop/prefix
    read_split(cfg, split)               executor: scans exactly [split.start, split.stop) and yields
                                         Arrow batches (key, image, passthrough columns...)

Both take only picklable values (a frozen config and a frozen dataclass), so the Spark job can ship
them in a ``mapInArrow`` closure. A Thrift failure mid-scan (gateway restart, connection reset,
expired scanner) reconnects with exponential backoff and resumes just after the last row key read:
no row is emitted twice or skipped.

Only the image and passthrough cells are scanned, so a row holding none of them is not returned; a
row with passthrough cells but no image comes out with a null ``image``.

With ``min_timestamp`` the scan runs in two phases per chunk: a key-only scan (``KeyOnlyFilter``,
no image bytes cross the wire) finds rows whose image cell is new enough, then ``getRows`` fetches
only those. Thrift1 scans cannot filter by a minimum timestamp on the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from imgpipe import batch as col
from imgpipe.config.hbase import HBaseSourceConfig, key_bytes
from imgpipe.errors import SourceError
from imgpipe.runtime import hbase as hb

log = logging.getLogger(__name__)

#: Default byte bound of one emitted Arrow batch (image cells dominate).
DEFAULT_MAX_BATCH_BYTES = 32 << 20
DEFAULT_MAX_BATCH_ROWS = 256

Connect = Callable[[HBaseSourceConfig], Any]


@dataclass(frozen=True)
class HBaseSplit:
    """One scan task: rows ``[start, stop)``; ``stop == b""`` means "to the end of the table"."""

    index: int
    start: bytes
    stop: bytes
    region: str
    description: str

    def to_unit(self) -> list[Any]:
        """JSON-friendly form (keys as hex) for run manifests."""
        return [self.index, self.start.hex(), self.stop.hex(), self.region, self.description]

    @classmethod
    def from_unit(cls, unit: list[Any]) -> HBaseSplit:
        index, start, stop, region, description = unit
        return cls(int(index), bytes.fromhex(start), bytes.fromhex(stop), str(region), str(description))


# --------------------------------------------------------------------------------------- planning


def plan_splits(cfg: HBaseSourceConfig, *, connect: Connect | None = None) -> list[HBaseSplit]:
    """One split per region overlapping the configured key range, each cut ``splits_per_region`` ways.

    Raises:
        SourceError: the gateway is unreachable or the table does not exist.
    """
    connect = connect or _connect
    lo, hi = key_range(cfg)
    try:
        conn = connect(cfg)
        try:
            table = conn.table(cfg.table)
            regions = table.regions()
            if not regions:
                _require_table(conn, cfg)
                regions = [{"start_key": b"", "end_key": b"", "name": b""}]
            splits = _plan(table, cfg, regions, lo, hi)
        finally:
            conn.close()
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - every client failure becomes one named error
        raise SourceError(f"{_where(cfg)}: cannot plan the scan: {hb.describe(exc)}") from exc
    log.info("%s: %d splits over %d regions", _where(cfg), len(splits), len(regions))
    return splits


def _plan(table: Any, cfg: HBaseSourceConfig, regions: list[dict[str, Any]], lo: bytes, hi: bytes) -> list[HBaseSplit]:
    ranges: list[tuple[bytes, bytes, str]] = []
    for region in sorted(regions, key=lambda r: r["start_key"]):
        clipped = clip(region["start_key"], region["end_key"], lo, hi)
        if clipped is None:
            continue
        name = region["name"].decode("utf-8", "replace") if region["name"] else cfg.table
        start, stop = clipped
        if cfg.splits_per_region > 1:
            first, last = _data_bounds(table, start, stop)
            bounds = split_points(first or start, (last + b"\x00") if last else stop, cfg.splits_per_region)
            edges = [start, *(b for b in bounds if start < b and (not stop or b < stop)), stop]
            ranges.extend((a, b, name) for a, b in zip(edges, edges[1:]))
        else:
            ranges.append((start, stop, name))
    return [
        HBaseSplit(i, a, b, name, f"{cfg.table} rows [{hb.show_key(a)}, {hb.show_key(b) if b else 'end'})")
        for i, (a, b, name) in enumerate(ranges)
    ]


def _data_bounds(table: Any, start: bytes, stop: bytes) -> tuple[bytes | None, bytes | None]:
    """First and last row key in ``[start, stop)``: cutting between real keys keeps sub-splits even.

    Both are key-only scans of at most two rows, exhausted here so no scanner outlives the call.
    """
    keys_only = {"filter": "KeyOnlyFilter() AND FirstKeyOnlyFilter()", "batch_size": 2, "limit": 2}
    forward = [k for k, _ in table.scan(row_start=start, row_stop=stop or None, **keys_only)]
    if not forward:
        return None, None
    # A reverse scan includes its start row and treats b"" as "from the end of the table".
    backward = table.scan(row_start=stop or None, row_stop=start or None, reverse=True, **keys_only)
    last = next((k for k in [k for k, _ in backward] if not stop or k < stop), forward[0])
    return forward[0], last


def _require_table(conn: Any, cfg: HBaseSourceConfig) -> None:
    names = [n.decode() for n in conn.tables()]
    if cfg.table not in names:
        raise SourceError(
            f"{_where(cfg)}: table {cfg.table!r} does not exist (tables: {', '.join(names) or 'none'})"
        )


def key_range(cfg: HBaseSourceConfig) -> tuple[bytes, bytes]:
    """The configured ``[start, stop)`` as bytes; ``b""`` stop means unbounded."""
    if cfg.prefix is not None:
        prefix = key_bytes(cfg.prefix)
        return prefix, prefix_stop(prefix)
    start = key_bytes(cfg.row_start) if cfg.row_start else b""
    stop = key_bytes(cfg.row_stop) if cfg.row_stop else b""
    return start, stop


def prefix_stop(prefix: bytes) -> bytes:
    """Smallest key greater than every key starting with ``prefix`` (``b""`` if there is none)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b""
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def clip(start: bytes, stop: bytes, lo: bytes, hi: bytes) -> tuple[bytes, bytes] | None:
    """Intersection of two ``[start, stop)`` ranges (``b""`` stop = unbounded), or None if empty."""
    a = max(start, lo)
    if not stop:
        b = hi
    elif not hi:
        b = stop
    else:
        b = min(stop, hi)
    if b and a >= b:
        return None
    return a, b


def split_points(start: bytes, stop: bytes, n: int) -> list[bytes]:
    """Up to ``n - 1`` keys cutting ``[start, stop)`` into ``n`` nearly equal parts, by byte arithmetic.

    Keys are read as big-endian fractions (``b""`` stop = 1.0) padded to a common length plus two
    bytes of resolution (more if the range is narrower than ``n``). Trailing zero bytes are trimmed,
    which keeps order; the result is strictly increasing and strictly inside the range.
    """
    if n <= 1:
        return []
    width = max(len(start), len(stop)) + 2
    for width in range(width, width + 8):
        a = int.from_bytes(start.ljust(width, b"\x00"), "big")
        b = int.from_bytes(stop.ljust(width, b"\x00"), "big") if stop else 1 << (8 * width)
        if b - a >= n:
            break
    points: list[bytes] = []
    for i in range(1, n):
        value = a + (b - a) * i // n
        key = value.to_bytes(width, "big").rstrip(b"\x00")
        if start < key and (not stop or key < stop) and (not points or key > points[-1]):
            points.append(key)
    return points


# ---------------------------------------------------------------------------------------- reading


def schema(cfg: HBaseSourceConfig) -> pa.Schema:
    """Arrow schema of the batches ``read_split`` yields."""
    fields = [pa.field(col.KEY, pa.binary(), nullable=False), pa.field(col.IMAGE, pa.binary())]
    fields += [pa.field(name, pa.binary()) for name in cfg.passthrough.values()]
    return pa.schema(fields)


def read_split(
    cfg: HBaseSourceConfig,
    split: HBaseSplit,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    *,
    connect: Connect | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Scan one split; yield Arrow batches of at most ``max_batch_rows`` rows and about ``max_batch_bytes``.

    A batch is cut as soon as its cell data reaches ``max_batch_bytes`` (so it exceeds the bound by at
    most one row) or it holds ``max_batch_rows`` rows. ``connect`` and ``sleep`` are seams for tests.

    Raises:
        SourceError: the scan still fails after ``cfg.retries`` consecutive retries.
    """
    connect = connect or _connect
    builder = _BatchBuilder(cfg, max_batch_bytes, max_batch_rows)
    last_key: bytes | None = None  # the resume point: every row <= last_key was read exactly once
    failures = 0
    while True:
        start = split.start if last_key is None else last_key + b"\x00"  # the next possible key
        conn = None
        try:
            conn = connect(cfg)
            for key, cells in _rows(conn.table(cfg.table), cfg, start, split.stop):
                full = builder.add(key, cells)
                last_key, failures = key, 0
                if full is not None:
                    yield full
            break
        except hb.TRANSIENT as exc:
            if not hb.is_transient(exc):
                raise SourceError(f"{_where(cfg)}: {split.description}: {hb.describe(exc)}") from exc
            failures += 1
            if failures > cfg.retries:
                raise SourceError(
                    f"{_where(cfg)}: {split.description}: gave up after {cfg.retries} retries "
                    f"(resume point {hb.show_key(last_key) if last_key is not None else 'start'}): {hb.describe(exc)}"
                ) from exc
            delay = hb.backoff(failures, cfg.backoff_s, cfg.max_backoff_s)
            log.warning(
                "%s: %s: %s; retry %d/%d in %.1fs, resuming after %s",
                _where(cfg), split.description, hb.describe(exc), failures, cfg.retries, delay,
                hb.show_key(last_key) if last_key is not None else "the split start",
            )
            if on_retry is not None:
                on_retry(exc)
            sleep(delay)
        finally:
            if conn is not None:
                hb.close_quietly(conn)
    tail = builder.flush()
    if tail is not None:
        yield tail


def _rows(table: Any, cfg: HBaseSourceConfig, start: bytes, stop: bytes) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    columns = [cfg.column.encode(), *(c.encode() for c in cfg.passthrough)]
    scan = dict(row_start=start, row_stop=stop or None, timestamp=cfg.max_timestamp, batch_size=cfg.scan_batch_size)
    if cfg.min_timestamp is None:
        yield from table.scan(columns=columns, **scan)
        return
    # Phase 1: keys (and timestamps) of the image cells only; phase 2: fetch the new rows.
    image = cfg.column.encode()
    keys = table.scan(columns=[image], filter="KeyOnlyFilter()", include_timestamp=True, **scan)
    chunk: list[bytes] = []
    for key, cells in keys:
        if cells.get(image, (b"", -1))[1] >= cfg.min_timestamp:
            chunk.append(key)
        if len(chunk) >= cfg.scan_batch_size:
            yield from _fetch(table, chunk, columns, cfg.max_timestamp)
            chunk = []
    yield from _fetch(table, chunk, columns, cfg.max_timestamp)


def _fetch(table: Any, keys: list[bytes], columns: list[bytes], timestamp: int | None) -> Iterable[tuple[bytes, dict[bytes, bytes]]]:
    if not keys:
        return []
    found = dict(table.rows(keys, columns=columns, timestamp=timestamp))
    return [(k, found[k]) for k in keys if k in found]  # a row deleted in between is skipped


class _BatchBuilder:
    """Accumulates rows; hands out a RecordBatch when the row or byte bound is reached."""

    def __init__(self, cfg: HBaseSourceConfig, max_bytes: int, max_rows: int) -> None:
        self._schema = schema(cfg)
        self._image = cfg.column.encode()
        self._passthrough = [(c.encode(), name) for c, name in cfg.passthrough.items()]
        self._max_rows = max(max_rows, 1)
        self._max_bytes = max_bytes
        self._reset()

    def _reset(self) -> None:
        self._keys: list[bytes] = []
        self._images: list[bytes | None] = []
        self._extra: list[list[bytes | None]] = [[] for _ in self._passthrough]
        self._bytes = 0

    def add(self, key: bytes, cells: dict[bytes, bytes]) -> pa.RecordBatch | None:
        image = cells.get(self._image)
        self._keys.append(key)
        self._images.append(image)
        self._bytes += len(key) + (len(image) if image else 0)
        for values, (column, _) in zip(self._extra, self._passthrough):
            value = cells.get(column)
            values.append(value)
            self._bytes += len(value) if value else 0
        if len(self._keys) >= self._max_rows or self._bytes >= self._max_bytes:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        if not self._keys:
            return None
        arrays = [pa.array(self._keys, pa.binary()), pa.array(self._images, pa.binary())]
        arrays += [pa.array(values, pa.binary()) for values in self._extra]
        out = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        self._reset()
        return out


# ------------------------------------------------------------------------------------ connection


def _connect(cfg: HBaseSourceConfig) -> Any:
    return hb.connect(cfg.host, cfg.port, cfg.timeout_s)


def _where(cfg: HBaseSourceConfig) -> str:
    return f"hbase source {cfg.table!r} ({cfg.host}:{cfg.port})"
