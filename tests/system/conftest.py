"""System tests run against real services started through the repo's own scripts.

``hbase``: a standalone HBase + Thrift1 gateway (scripts/hbase/start.sh) on free ports with a
throwaway data dir, for the whole session. With ``CI=true`` a service that cannot start fails the
run; elsewhere the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import happybase
import pytest

from imgpipe.ingest import ingest
from tests.helpers import encode, free_port, gradient, photo_count, service_unavailable

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "hbase"


@dataclass(frozen=True)
class HBaseService:
    """Unpacks as ``host, port = hbase``; also knows its ZooKeeper port and run dir."""

    host: str
    port: int
    zk_port: int
    run_dir: Path

    def __iter__(self) -> Iterator[object]:
        return iter((self.host, self.port))

    @property
    def zk(self) -> str:
        return f"{self.host}:{self.zk_port}"

    def script(self, name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "IMGPIPE_PYTHON": sys.executable}
        # --dir first: every script accepts its options before the positional arguments.
        cmd = [str(SCRIPTS / name), "--dir", str(self.run_dir), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)

    def stop_thrift(self) -> None:
        done = self.script("stop.sh", "thrift")
        assert done.returncode == 0, done.stderr

    def start_thrift(self) -> None:
        done = self.script("start.sh", "thrift")
        assert done.returncode == 0, done.stderr

    def start_gateway(self, name: str, *flags: str) -> int:
        """Another Thrift gateway on this HBase (``start.sh thrift --name NAME``): its port (a free one unless
        ``flags`` give ``--thrift-port``)."""
        if "--thrift-port" not in flags and not (self.run_dir / f"{name}.port").exists():
            flags = ("--thrift-port", "0", *flags)
        done = self.script("start.sh", "thrift", "--name", name, *flags)
        assert done.returncode == 0, done.stderr[-3000:]
        found = re.search(r"HBASE_THRIFT_PORT=(\d+)", done.stdout)
        assert found, done.stdout
        return int(found.group(1))

    def stop_gateway(self, name: str) -> None:
        done = self.script("stop.sh", "thrift", "--name", name)
        assert done.returncode == 0, done.stderr

    def create_table(self, table: str, families: str, *splits: bytes) -> None:
        done = self.script("create-table.sh", table, families, *(_binary(s) for s in splits))
        assert done.returncode == 0, done.stderr

    def two_region_table(self, prefix: str, rows: int) -> tuple[str, list[bytes]]:
        """A new table of ``rows`` small images (``f:img``) split in two regions at the middle key: its name and
        keys. With one row per Thrift call and per batch, scanning a region takes seconds."""
        keys = [b"k%05d" % i for i in range(rows)]
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.create_table(name, "f", keys[rows // 2])
        image = encode(gradient())
        conn = happybase.Connection(self.host, self.port)
        try:
            with conn.table(name).batch(batch_size=500) as batch:
                for key in keys:
                    batch.put(key, {b"f:img": image})
        finally:
            conn.close()
        return name, keys


def scanning_through(port: int) -> bool:
    """Whether a connection to 127.0.0.1:port is open (Linux /proc/net/tcp, state 01 = ESTABLISHED)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "01" for line in lines)


def _binary(key: bytes) -> str:
    """HBase's Bytes.toBytesBinary syntax: printable ASCII as is, every other byte as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in key)


@pytest.fixture(scope="session")
def hbase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HBaseService]:
    run_dir = tmp_path_factory.mktemp("hbase")
    service = None
    errors = []
    for _ in range(2):  # a port taken between choosing and binding: once more with new ports
        candidate = HBaseService("127.0.0.1", free_port(), free_port(), run_dir)
        started = time.monotonic()
        try:
            done = candidate.script(
                "start.sh", "--clean", "--thrift-port", str(candidate.port), "--zk-port", str(candidate.zk_port),
                "--timeout", "240", timeout=600,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
            continue
        if done.returncode == 0:
            service = candidate
            print(f"\nHBase ready in {time.monotonic() - started:.1f}s at {candidate.host}:{candidate.port}")
            break
        errors.append(done.stderr[-4000:])
    if service is None:
        service_unavailable("HBase", "\n".join(errors))
    assert service is not None
    try:
        yield service
    finally:
        service.script("stop.sh", timeout=120)


@pytest.fixture(scope="module")
def photos_table(hbase: HBaseService, shared_images: Path) -> str:
    """The shared photos ingested into a fresh table of 4 regions (``f:img``), once per test module."""
    table = f"photos_{uuid.uuid4().hex[:8]}"
    result = ingest(shared_images, hbase.host, hbase.port, table, "f:img", regions=4, zk=hbase.zk)
    assert result.regions == 4 and result.rows == photo_count()
    return table


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is none of our services: what a recycled PID in a stale PID file points at."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()
