"""HBase read planning, on the driver: the table's regions -> key-range splits, one Spark task each.

    plan_splits(cfg)    one HBaseSplit per region overlapping row_start/row_stop/prefix, each cut
                        ``splits_per_region`` ways between its first and last real key, each with the
                        gateways to read it through (``imgpipe.hbase.gateways.assign``)

Read parallelism is the number of splits, never the number of model sessions. A split is a frozen,
picklable value with a JSON form for the run manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imgpipe.config.hbase import HBaseSourceConfig, key_bytes
from imgpipe.errors import SourceError
from imgpipe.hbase import client as hb
from imgpipe.hbase import gateways as gw

log = logging.getLogger(__name__)

Connect = Callable[[HBaseSourceConfig], Any]


@dataclass(frozen=True)
class HBaseSplit:
    """One scan task: rows ``[start, stop)``; ``stop == b""`` means "to the end of the table".

    ``server`` is the host of the RegionServer holding the region (``""`` if unknown); ``gateways`` the
    ``host:port`` of the Thrift gateways to read it through, in order: the one chosen for it, then the
    failover order (empty: the configured order).
    """

    index: int
    start: bytes
    stop: bytes
    region: str
    description: str
    server: str = ""
    gateways: tuple[str, ...] = ()

    def to_unit(self) -> list[Any]:
        """JSON-friendly form (keys as hex) for run manifests."""
        return [self.index, self.start.hex(), self.stop.hex(), self.region, self.description, self.server,
                list(self.gateways)]  # fmt: skip

    @classmethod
    def from_unit(cls, unit: list[Any]) -> HBaseSplit:
        """The inverse of ``to_unit``; also reads the five-item units of manifests written before gateways."""
        index, start, stop, region, description, *more = unit
        server, gateways = (str(more[0]), tuple(str(g) for g in more[1])) if more else ("", ())
        return cls(
            int(index), bytes.fromhex(start), bytes.fromhex(stop), str(region), str(description), server, gateways
        )


def plan_splits(cfg: HBaseSourceConfig, *, connect: Connect | None = None) -> list[HBaseSplit]:
    """One split per region overlapping the configured key range, each cut ``splits_per_region`` ways.

    Raises:
        SourceError: no gateway answers, or the table does not exist.
    """
    lo, hi = key_range(cfg)

    def plan_through(conn: Any) -> list[HBaseSplit]:
        table = conn.table(cfg.table)
        regions = table.regions()
        if not regions:
            _require_table(conn, cfg)
            regions = [{"start_key": b"", "end_key": b"", "name": b""}]
        splits = _plan(table, cfg, regions, lo, hi)
        log.info("%s: %d splits over %d regions", where(cfg), len(splits), len(regions))
        return splits

    return hb.through_any(cfg, connect or connect_source, plan_through, "plan the scan", where(cfg), SourceError)


def _plan(table: Any, cfg: HBaseSourceConfig, regions: list[dict[str, Any]], lo: bytes, hi: bytes) -> list[HBaseSplit]:
    ranges: list[tuple[bytes, bytes, str, str]] = []
    for region in sorted(regions, key=lambda r: r["start_key"]):
        clipped = clip(region["start_key"], region["end_key"], lo, hi)
        if clipped is None:
            continue
        name = region["name"].decode("utf-8", "replace") if region["name"] else cfg.table
        server = (region.get("server_name") or b"").decode("utf-8", "replace")
        start, stop = clipped
        if cfg.splits_per_region > 1:
            first, last = _data_bounds(table, start, stop)
            bounds = split_points(first or start, (last + b"\x00") if last else stop, cfg.splits_per_region)
            edges = [start, *(b for b in bounds if start < b and (not stop or b < stop)), stop]
            ranges.extend((a, b, name, server) for a, b in zip(edges, edges[1:]))
        else:
            ranges.append((start, stop, name, server))
    orders = gw.assign([server for *_, server in ranges], cfg.gateways)
    return [
        HBaseSplit(
            i, a, b, name, f"{cfg.table} rows [{hb.show_key(a)}, {hb.show_key(b) if b else 'end'})", server,
            tuple(str(g) for g in order),
        )  # fmt: skip
        for i, ((a, b, name, server), order) in enumerate(zip(ranges, orders, strict=True))
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
            f"{where(cfg)}: table {cfg.table!r} does not exist (tables: {', '.join(names) or 'none'})"
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


def connect_source(cfg: HBaseSourceConfig) -> Any:
    """A connection to the first configured gateway (``cfg.through(gateway)`` picks another)."""
    return hb.connect_to(cfg)


def where(cfg: HBaseSourceConfig) -> str:
    """How messages name the source: ``hbase source 'photos' (h1:9090, h2:9090)``."""
    return f"hbase source {cfg.table!r} ({cfg.show_gateways()})"
