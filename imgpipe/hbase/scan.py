"""HBase reading, on the executors: scan exactly one split's key range into Arrow batches.

    read_split(cfg, split)   yields batches of (key, image, passthrough columns...)

A Thrift failure mid-scan (gateway restart, connection reset, expired scanner) reconnects with exponential
backoff, through the split's next gateway when there are several, and resumes just after the last row key
read: no row is emitted twice or skipped.

Only the image and passthrough cells are scanned, so a row holding none of them is not returned; a
row with passthrough cells but no image comes out with a null ``image``.

With ``min_timestamp`` the scan runs in two phases: a key-only scan (``KeyOnlyFilter``, no image bytes cross
the wire) finds rows whose image cell is new enough, then ``getRows`` fetches only those. Thrift1 scans cannot
filter by a minimum timestamp on the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from imgpipe import batch as col
from imgpipe.config.hbase import Gateway, HBaseSourceConfig
from imgpipe.errors import SourceError
from imgpipe.hbase import client as hb
from imgpipe.hbase import gateways as gw
from imgpipe.hbase.splits import Connect, HBaseSplit, connect_source, where

log = logging.getLogger(__name__)

#: Default byte bound of one emitted Arrow batch (image cells dominate).
DEFAULT_MAX_BATCH_BYTES = 32 << 20
DEFAULT_MAX_BATCH_ROWS = 256


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
    counts: dict[str, float] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Scan one split; yield Arrow batches of at most ``max_batch_rows`` rows and about ``max_batch_bytes``.

    A batch is cut as soon as its cell data reaches ``max_batch_bytes`` (so it exceeds the bound by at
    most one row) or it holds ``max_batch_rows`` rows. The scan goes through ``split.gateways`` in order
    (``imgpipe.hbase.gateways.read_order``), moving on when one fails. ``counts`` (if given) receives
    ``rows:<gateway>``, ``splits:<gateway>`` (the gateway that finished the scan) and
    ``failovers:<gateway>`` (left after a failure). ``connect`` and ``sleep`` are seams for tests.

    Raises:
        SourceError: the scan still fails after ``cfg.retries`` consecutive retries.
    """
    connect = connect or connect_source
    counts = {} if counts is None else counts
    builder = _BatchBuilder(cfg, max_batch_bytes, max_batch_rows)
    gateways = gw.Failover(gw.read_order(split.gateways, cfg.gateways, cfg.port, split.index))
    last_key: bytes | None = None  # the resume point: every row <= last_key was read exactly once
    failures = 0
    while True:
        start = split.start if last_key is None else last_key + b"\x00"  # the next possible key
        gateway, conn = gateways.current, None
        try:
            conn = connect(cfg.through(gateway))
            for key, cells in _rows(conn.table(cfg.table), cfg, start, split.stop):
                full = builder.add(key, cells)
                last_key, failures = key, 0
                gw.count(counts, gw.ROWS, gateway)
                if full is not None:
                    yield full
            gw.count(counts, gw.SPLITS, gateway)
            break
        except hb.TRANSIENT as exc:
            failures += 1
            _give_up_unless_transient(cfg, split, gateway, exc, failures, last_key)
            moved_to = gateways.fail()
            if moved_to is not None:
                gw.count(counts, gw.FAILOVERS, gateway)
            delay = hb.backoff(failures, cfg.backoff_s, cfg.max_backoff_s)
            log.warning(
                "%s: %s: %s failed: %s; retry %d/%d in %.1fs through %s, resuming after %s",
                where(cfg), split.description, gateway, hb.describe(exc), failures, cfg.retries, delay,
                moved_to or gateway, hb.show_key(last_key) if last_key is not None else "the split start",
            )  # fmt: skip
            if on_retry is not None:
                on_retry(exc)
            sleep(delay)
        finally:
            if conn is not None:
                hb.close_quietly(conn)
    tail = builder.flush()
    if tail is not None:
        yield tail


def _give_up_unless_transient(
    cfg: HBaseSourceConfig, split: HBaseSplit, gateway: Gateway, exc: BaseException, failures: int,
    last_key: bytes | None,
) -> None:  # fmt: skip
    if not hb.is_transient(exc):
        raise SourceError(f"{where(cfg)}: {split.description} through {gateway}: {hb.describe(exc)}") from exc
    if failures > cfg.retries:
        raise SourceError(
            f"{where(cfg)}: {split.description}: gave up after {cfg.retries} retries "
            f"(resume point {hb.show_key(last_key) if last_key is not None else 'start'}; last through {gateway}): "
            f"{hb.describe(exc)}{hb.mismatch_hint(exc, cfg) if last_key is None else ''}"
        ) from exc


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
