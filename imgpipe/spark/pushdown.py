"""Spark filters on ``imgpipe-hbase``'s ``key`` column -> the row-key range a scan must cover, so planning (on the
driver) skips regions and rows no filter lets through. Pure functions over ``pyspark.sql.datasource`` filters,
which exist from Spark 4.1: import this module only where Spark pushes filters.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql.datasource import (
    EqualNullSafe,
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    LessThan,
    LessThanOrEqual,
    StringStartsWith,
)

from imgpipe import batch as B
from imgpipe.hbase.splits import clip, prefix_stop

#: ``[start, stop)`` of row keys; ``b""`` stop means unbounded (as in ``imgpipe.hbase.splits``).
KeyRange = tuple[bytes, bytes]


def narrow(within: KeyRange | None, filters: Iterable[Filter]) -> KeyRange | None:
    """``within`` cut down to the keys every filter on ``key`` may let through; None when none can pass."""
    for item in filters:
        bounds = key_bounds(item)
        if bounds is not None and within is not None:
            within = clip(*within, *bounds)
    return within


def key_bounds(item: Filter) -> KeyRange | None:
    """The keys outside which no row passes ``item``, or None when it says nothing usable about the key.

    Only filters on the ``key`` column itself count (not ``Not``, not a function of it); values may be bytes (a
    binary key) or text (a string key, compared by its UTF-8 bytes as Spark and HBase both do).
    """
    if getattr(item, "attribute", None) != (B.KEY,):
        return None
    if isinstance(item, In):
        keys = [_bytes(v) for v in item.value]
        found = [k for k in keys if k is not None]
        return (min(found), _after(max(found))) if found and len(found) == len(keys) else None
    value = _bytes(getattr(item, "value", None))
    if value is None:
        return None
    if isinstance(item, EqualTo | EqualNullSafe):
        return value, _after(value)
    if isinstance(item, GreaterThan):
        return _after(value), b""
    if isinstance(item, GreaterThanOrEqual):
        return value, b""
    if isinstance(item, LessThan):
        return (b"", value) if value else None  # b"" would read as "unbounded"; Spark's own check drops every row
    if isinstance(item, LessThanOrEqual):
        return b"", _after(value)
    if isinstance(item, StringStartsWith):
        return value, prefix_stop(value)
    return None


def _after(key: bytes) -> bytes:
    """The smallest key sorting after ``key``."""
    return key + b"\x00"


def _bytes(value: object) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return None
