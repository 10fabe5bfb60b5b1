"""The pydantic base every config section derives from: closed (unknown keys are errors) and frozen."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_size(value: object) -> int:
    """``64m``/``2 GiB``/``1048576`` -> bytes; used by every ``*_bytes`` option."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 64m or 1g")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("must be positive")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"expected a size such as 64m or 1g, but got {value!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
