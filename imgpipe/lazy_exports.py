"""A package's public names imported on first use (PEP 562), for packages whose ``__init__`` must stay cheap.

Spark's Python workers import ``imgpipe.spark`` and ``imgpipe.job`` (the daemon module and the pass's counting
wrapper live there) and need none of the names those packages export for the driver and for library callers.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name in ``modules`` is imported from its module when first
    asked for, then kept in the package (later lookups do not come here)."""

    def __getattr__(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(modules[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
