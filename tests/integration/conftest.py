"""Integration tests run on a real local Spark session shared across the run (``spark`` in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.spark_helpers import read_rows, run_config

__all__ = ["read_rows", "run_config"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.spark)
