"""Which Thrift gateway serves which split or put, and where a call goes when its gateway fails.

    assign(servers, gateways)    driver: per split, the gateway on its region's server host (the usual
                                 deployment runs one per RegionServer host), else the least loaded one;
                                 then every other gateway, as the failover order
    Failover(order)              executor: the gateway in use; ``fail()`` moves to the next one
    per_gateway(counts, ...)     the run report's ``gateways`` section from the tasks' counts

A gateway that failed in this process is tried last for a minute: a host that does not answer would
otherwise cost every later split a connect timeout before it fails over.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from imgpipe.config.hbase import Gateway, parse_gateway

#: How long a gateway that failed in this process is tried after the others.
DEMOTED_S = 60.0
#: Keys of the per-gateway counts: ``"<what>:<host:port>"``.
SPLITS, ROWS, FAILOVERS = "splits", "rows", "failovers"

_failed_at: dict[Gateway, float] = {}

Resolve = Callable[[str], frozenset[str]]


def assign(
    servers: Sequence[str], gateways: Sequence[Gateway], *, resolve: Resolve | None = None
) -> list[tuple[Gateway, ...]]:
    """Per split (``servers[i]``: its region's server host, ``""`` if unknown), the gateways to read through.

    The first is the least loaded gateway on the split's server host, or the least loaded of all when
    that host runs none (ties: config order); local splits are placed first, so the others even out
    the load. The rest follow as the failover order, rotated by split so that a dead gateway's splits
    spread over the others. Hosts match by name (case, trailing dot and domain aside), else by address.
    """
    resolve = resolve or _addresses
    load = dict.fromkeys(gateways, 0)
    first: dict[int, Gateway] = {}
    local = {i: _on_host(server, gateways, resolve) for i, server in enumerate(servers)}
    for i in sorted(local, key=lambda i: not local[i]):  # local splits first, in split order
        chosen = min(local[i] or gateways, key=lambda g: load[g])
        load[chosen] += 1
        first[i] = chosen
    orders = []
    for i in range(len(servers)):
        rest = [g for g in gateways if g != first[i]]
        shift = i % len(rest) if rest else 0
        orders.append((first[i], *rest[shift:], *rest[:shift]))
    return orders


def _on_host(server: str, gateways: Sequence[Gateway], resolve: Resolve) -> list[Gateway]:
    if not server:
        return []
    by_name = [g for g in gateways if same_name(g.host, server)]
    if by_name:
        return by_name
    addresses = resolve(server)
    return [g for g in gateways if addresses & resolve(g.host)] if addresses else []


def same_name(a: str, b: str) -> bool:
    """``RS1.example.com.`` and ``rs1.example.com`` are one host; so are ``rs1`` and ``rs1.example.com``."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if a == b:
        return True
    short, full = (a, b) if len(a) < len(b) else (b, a)
    return "." not in short and not _is_address(full) and full.split(".", 1)[0] == short


def _is_address(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit()


_resolved: dict[str, frozenset[str]] = {}


def _addresses(host: str) -> frozenset[str]:
    """The host's IP addresses (empty if it does not resolve), looked up once per driver process."""
    if host not in _resolved:
        try:
            _resolved[host] = frozenset(str(info[4][0]) for info in socket.getaddrinfo(host, None))
        except (OSError, UnicodeError):
            _resolved[host] = frozenset()
    return _resolved[host]


def read_order(planned: Iterable[str], configured: Sequence[Gateway], port: int, index: int) -> tuple[Gateway, ...]:
    """The gateways one split tries, in order: as planned, less any no longer configured (a resumed run
    whose ``hosts`` changed), then the other configured ones; those that failed here lately go last."""
    ordered = [g for g in (parse_gateway(text, port) for text in planned) if g in configured]
    rest = [g for g in configured if g not in ordered]
    shift = index % len(rest) if rest else 0
    return demote_failed((*ordered, *rest[shift:], *rest[:shift]))


def rotated(gateways: Sequence[Gateway], start: int) -> tuple[Gateway, ...]:
    """The gateways starting at ``start`` (mod their number): tasks numbered 0, 1, 2... spread evenly."""
    shift = start % len(gateways)
    return demote_failed((*gateways[shift:], *gateways[:shift]))


def demote_failed(order: Sequence[Gateway], now: float | None = None) -> tuple[Gateway, ...]:
    """``order`` with the gateways that failed in this process within ``DEMOTED_S`` moved to the end."""
    now = time.monotonic() if now is None else now
    failed = {g for g in order if now - _failed_at.get(g, -DEMOTED_S) < DEMOTED_S}
    return (*(g for g in order if g not in failed), *(g for g in order if g in failed))


def forget_failures() -> None:
    """Clear this process's memory of failed gateways (tests)."""
    _failed_at.clear()


class Failover:
    """The gateway a scan or a writer uses; on a failure it moves to the next one of ``order``, cyclically."""

    def __init__(self, order: Sequence[Gateway]) -> None:
        if not order:
            raise ValueError("expected at least one gateway, but got none")
        self.order = tuple(order)
        self._at = 0

    @property
    def current(self) -> Gateway:
        return self.order[self._at % len(self.order)]

    def fail(self) -> Gateway | None:
        """Note that the current gateway failed; returns the gateway moved to, or None with only one."""
        _failed_at[self.current] = time.monotonic()
        if len(self.order) == 1:
            return None
        self._at += 1
        return self.current


def count(counts: dict[str, float], what: str, gateway: Gateway, n: float = 1) -> None:
    key = f"{what}:{gateway}"
    counts[key] = counts.get(key, 0) + n


def per_gateway(counts: Mapping[str, float], gateways: Sequence[Gateway]) -> dict[str, dict[str, int]]:
    """``{"h1:9090": {"splits": 2, "rows": 8, "failovers": 1}}`` for every configured gateway, used or not."""
    out = {str(g): {SPLITS: 0, ROWS: 0, FAILOVERS: 0} for g in gateways}
    for key, n in counts.items():
        what, gateway = key.split(":", 1)
        out.setdefault(gateway, {SPLITS: 0, ROWS: 0, FAILOVERS: 0})[what] = int(n)
    return out
