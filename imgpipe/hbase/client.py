"""HBase Thrift1 client plumbing shared by scans, puts and ingest: connect, classify errors, back off.

happybase opens one socket per ``Connection``; a connection is opened per task (or per retry), never
kept for a worker's lifetime, because the gateway drops idle sockets.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from imgpipe.config.hbase import HBaseConnection
from imgpipe.errors import ImgpipeError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Gateways that time out before a driver-side call (planning, creating a table) gives up on the rest.
MAX_TIMEOUTS = 2

#: Server-side errors that a retry cannot fix.
_PERMANENT = ("TableNotFoundException", "NoSuchColumnFamilyException", "TableDisabledException")


def connect(host: str, port: int, timeout_s: float, transport: str = "buffered", protocol: str = "binary") -> Any:
    """A happybase connection with a socket timeout (happybase's default is none: a hung call hangs)."""
    import happybase  # here, not at module level: planning helpers and unit tests do not need Thrift

    return happybase.Connection(host, port, timeout=int(timeout_s * 1000), transport=transport, protocol=protocol)


def connect_to(cfg: HBaseConnection) -> Any:
    """A connection to the first gateway of ``cfg`` (``cfg.through(gateway)`` for another one)."""
    gateway = cfg.gateways[0]
    return connect(gateway.host, gateway.port, cfg.timeout_s, cfg.transport, cfg.protocol)


def through_any(
    cfg: HBaseConnection, connect: Callable[[Any], Any], use: Callable[[Any], T], what: str, where: str,
    error: type[ImgpipeError],
) -> T:  # fmt: skip
    """``use(connection)`` through the first gateway of ``cfg`` that answers (driver-side calls: planning,
    creating a table), so that one gateway down does not stop the job. ``ImgpipeError``s of ``use``
    propagate. Raises ``error`` naming each gateway's failure when all fail, or once ``MAX_TIMEOUTS`` of
    them timed out: each costs ``timeout_s``, and a whole list of framed gateways that a buffered client
    waits on (or the reverse) would otherwise keep the driver waiting for hours."""
    failures: list[str] = []
    hint, timeouts = "", 0
    for n, gateway in enumerate(cfg.gateways, 1):
        try:
            conn = connect(cfg.through(gateway))
            try:
                return use(conn)
            finally:
                close_quietly(conn)
        except ImgpipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - every client failure becomes one named error
            failures.append(f"{gateway}: {describe(exc)}")
            hint = hint or mismatch_hint(exc, cfg)
            timeouts += isinstance(exc, (socket.timeout, TimeoutError))
            log.warning("%s: cannot %s through %s: %s", where, what, gateway, describe(exc))
            if timeouts == MAX_TIMEOUTS and n < len(cfg.gateways):
                failures.append(f"{len(cfg.gateways) - n} more not tried after {timeouts} timeouts")
                break
    raise error(f"{where}: cannot {what}: {'; '.join(failures)}{hint}")


def mismatch_hint(exc: BaseException, cfg: HBaseConnection) -> str:
    """A hint for the two ways a gateway answers a client of another transport or protocol: it closes the
    socket at the first call ("read 0 bytes"), or waits for bytes that never come (a framed client talking
    to a buffered gateway) until the socket times out. Empty for every other error."""
    text = describe(exc)
    if "read 0 bytes" not in text and not isinstance(exc, (socket.timeout, TimeoutError)):
        return ""
    return (
        f" (if the gateways are up, they may use another Thrift transport or protocol than transport: "
        f"{cfg.transport}, protocol: {cfg.protocol} here: one started with hbase.regionserver.thrift.framed / "
        ".compact true, or ThriftServer -f / -c, needs transport: framed / protocol: compact; one without them, "
        "buffered / binary)"
    )


def close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead transport may fail; nothing to do about it
        pass


def _transient_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OSError, socket.timeout, EOFError]
    try:
        import happybase  # noqa: F401 - registers the generated Hbase_thrift module
        import Hbase_thrift
        from thriftpy2.thrift import TApplicationException
        from thriftpy2.transport import TTransportException

        types += [TTransportException, TApplicationException, Hbase_thrift.IOError, Hbase_thrift.IllegalArgument]
    except ImportError:  # pragma: no cover - happybase is a dependency
        pass
    return tuple(types)


#: What a Thrift call raises when the gateway restarts, a socket resets or a region moves. Made on first use
#: (module ``__getattr__``): its Thrift types import happybase, 40 ms that a run without HBase does not pay.
TRANSIENT: tuple[type[BaseException], ...]


def __getattr__(name: str) -> Any:
    if name != "TRANSIENT":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()["TRANSIENT"] = _transient_types()
    return value


def is_transient(exc: BaseException) -> bool:
    """Worth a retry on a new connection? (Call only for exceptions caught as ``TRANSIENT``.)"""
    text = describe(exc)
    if any(marker in text for marker in _PERMANENT):
        return False
    # IllegalArgument is retried only for an expired or unknown scanner: a fresh scan fixes that.
    return type(exc).__name__ != "IllegalArgument" or "scanner" in text.lower()


def backoff(failures: int, base_s: float, max_s: float) -> float:
    """Exponential backoff: base, 2 x base, 4 x base ... capped at ``max_s``."""
    return float(min(base_s * 2 ** (failures - 1), max_s))


def describe(exc: BaseException) -> str:
    """``TypeName: first line of the message`` (Thrift exceptions keep theirs in ``.message``)."""
    message = str(getattr(exc, "message", None) or exc or "").strip()
    first = message.splitlines()[0][:300] if message else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def show_key(key: bytes) -> str:
    """A row key for messages: printable ASCII as is, other bytes as ``\\xNN`` (HBase shell style)."""
    text = "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in key[:64])
    return text + ("..." if len(key) > 64 else "")
