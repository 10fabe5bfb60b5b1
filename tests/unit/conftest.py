"""Unit tests are fast and isolated: they cannot start Spark (a JVM) or open network connections."""

from __future__ import annotations

import socket
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def no_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Unit tests must not start Spark; put this test under tests/integration")

    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover
        return
    monkeypatch.setattr(SparkSession.Builder, "getOrCreate", refuse)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def local_only(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and "/" not in host:
            raise RuntimeError(f"Unit tests must not reach the network (tried {address!r})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


@pytest.fixture(autouse=True)
def fresh_secrets() -> None:
    from imgpipe.config import secrets

    secrets.forget()
