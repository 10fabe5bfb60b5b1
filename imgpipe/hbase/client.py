"""HBase Thrift1 client plumbing shared by scans, puts and ingest: connect, classify errors, back off.

happybase opens one socket per ``Connection``; a connection is opened per task (or per retry), never
kept for a worker's lifetime, because the gateway drops idle sockets.
"""

from __future__ import annotations

import socket
from typing import Any

#: Server-side errors that a retry cannot fix.
_PERMANENT = ("TableNotFoundException", "NoSuchColumnFamilyException", "TableDisabledException")


def connect(host: str, port: int, timeout_s: float) -> Any:
    """A happybase connection with a socket timeout (happybase's default is none: a hung call hangs)."""
    import happybase  # here, not at module level: planning helpers and unit tests do not need Thrift

    return happybase.Connection(host, port, timeout=int(timeout_s * 1000))


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


#: What a Thrift call raises when the gateway restarts, a socket resets or a region moves.
TRANSIENT = _transient_types()


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
