"""scripts/hbase/start.sh and stop.sh themselves: no half-started instance, stale PID files, several gateways."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import happybase
import pytest
from thriftpy2.transport import TTransportException

from tests.helpers import process_args, service_unavailable
from tests.system.conftest import HBaseService

pytestmark = pytest.mark.system


def hbase_jvms(run_dir: Path) -> dict[str, int]:
    """The JVMs started from run_dir, by component name (start.sh passes -Dproc_NAME and the run dir)."""
    return {
        next((a.removeprefix("-Dproc_") for a in args if a.startswith("-Dproc_")), "?"): pid
        for pid, args in process_args().items()
        if f"-Dhbase.home.dir={run_dir}" in args
    }


def thrift_port(started: subprocess.CompletedProcess[str]) -> int:
    assert started.returncode == 0, started.stderr[-3000:]
    found = re.search(r"HBASE_THRIFT_PORT=(\d+)", started.stdout)
    assert found, started.stdout
    return int(found.group(1))


def rows(port: int, table: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    conn = happybase.Connection("127.0.0.1", port, timeout=20000)
    try:
        return list(conn.table(table).scan())
    finally:
        conn.close()


def test_start_with_gateways_but_no_master_refuses_and_starts_nothing(tmp_path: Path) -> None:
    own = HBaseService("127.0.0.1", 0, 0, tmp_path / "hbase")
    try:
        first = own.script("start.sh", "--thrift-port", "0", "--zk-port", "0", "--timeout", "240", timeout=600)
        if first.returncode != 0:
            service_unavailable("HBase", first.stderr[-4000:])
        thrift_port(own.script("start.sh", "thrift", "--name", "thrift2", "--thrift-port", "0"))
        done = own.script("stop.sh", "master")
        assert done.returncode == 0, done.stderr
        gateways = hbase_jvms(own.run_dir)
        assert set(gateways) == {"thrift", "thrift2"}

        again = own.script("start.sh", "--timeout", "60")

        assert again.returncode == 1
        assert "without a master" in again.stderr and "thrift2" in again.stderr, again.stderr
        assert hbase_jvms(own.run_dir) == gateways, "start.sh started something, then refused"
        assert not (own.run_dir / "master.pid").exists()
    finally:
        stopped = own.script("stop.sh", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert hbase_jvms(own.run_dir) == {}, "stop.sh without a component stops every gateway and the master"


def test_stale_pid_files_are_removed_with_a_message_and_their_pids_never_signalled(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    own = HBaseService("127.0.0.1", 0, 0, tmp_path / "hbase")
    own.run_dir.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    (own.run_dir / "master.pid").write_text(f"{sleeper.pid}\n")
    (own.run_dir / "thrift.pid").write_text(f"{gone.pid}\n")

    done = own.script("start.sh", "thrift")

    assert done.returncode == 1
    assert done.stderr.count("removing the stale PID file") == 2, done.stderr
    assert "the master is not running" in done.stderr, done.stderr
    assert sorted(p.name for p in own.run_dir.iterdir()) == [], "a refused start leaves nothing behind"
    assert hbase_jvms(own.run_dir) == {}

    (own.run_dir / "master.pid").write_text(f"{sleeper.pid}\n")
    (own.run_dir / "thrift2.pid").write_text(f"{sleeper.pid}\n")
    done = own.script("stop.sh")
    assert done.returncode == 0, done.stderr
    assert sleeper.poll() is None, "stop.sh signalled a process that is not its JVM"
    assert sorted(p.name for p in own.run_dir.iterdir()) == []


def test_a_second_gateway_serves_the_same_tables_and_stops_alone(hbase: HBaseService) -> None:
    table = f"gateways_{uuid.uuid4().hex[:8]}"
    conn = happybase.Connection(hbase.host, hbase.port, timeout=20000)
    conn.create_table(table, {"f": {}})
    conn.table(table).put(b"k1", {b"f:q": b"v1"})
    conn.close()
    want = [(b"k1", {b"f:q": b"v1"})]
    try:
        second = thrift_port(hbase.script("start.sh", "thrift", "--name", "thrift2", "--thrift-port", "0"))
        assert second != hbase.port
        assert rows(second, table) == want and rows(hbase.port, table) == want

        done = hbase.script("stop.sh", "thrift", "--name", "thrift2")
        assert done.returncode == 0, done.stderr
        assert "thrift2" not in hbase_jvms(hbase.run_dir) and "thrift" in hbase_jvms(hbase.run_dir)
        with pytest.raises(TTransportException):
            rows(second, table)
        assert rows(hbase.port, table) == want

        again = thrift_port(hbase.script("start.sh", "thrift", "--name", "thrift2"))
        assert again == second, "a gateway restarts on the port it had"
        assert rows(again, table) == want
    finally:
        hbase.script("stop.sh", "thrift", "--name", "thrift2")
        conn = happybase.Connection(hbase.host, hbase.port, timeout=20000)
        conn.delete_table(table, disable=True)
        conn.close()
    assert "thrift2" not in hbase_jvms(hbase.run_dir)


def test_a_framed_compact_gateway_speaks_only_that_and_restarts_as_it_was(hbase: HBaseService) -> None:
    def tables(port: int, transport: str, protocol: str) -> list[bytes]:
        conn = happybase.Connection(hbase.host, port, timeout=5000, transport=transport, protocol=protocol)
        try:
            return list(conn.tables())
        finally:
            conn.close()

    try:
        port = hbase.start_gateway("thriftfc", "--transport", "framed", "--protocol", "compact")
        assert tables(port, "framed", "compact") == tables(hbase.port, "buffered", "binary")
        with pytest.raises(TTransportException, match="read 0 bytes"):
            tables(port, "buffered", "binary")
        assert (hbase.run_dir / "logs" / "hbase-thriftfc.log").exists()

        hbase.stop_gateway("thriftfc")
        assert hbase.start_gateway("thriftfc") == port, "a restart keeps the port"
        assert tables(port, "framed", "compact") == tables(hbase.port, "buffered", "binary"), "and the transport"
    finally:
        hbase.script("stop.sh", "thrift", "--name", "thriftfc")
    assert tables(hbase.port, "buffered", "binary") is not None, "the default gateway stays buffered/binary"


def test_transport_flags_are_checked_before_anything_starts(hbase: HBaseService) -> None:
    done = hbase.script("start.sh", "thrift", "--name", "thriftx", "--transport", "framd")
    assert done.returncode == 1
    assert "Expected --transport buffered or framed, but got 'framd'" in done.stderr
    done = hbase.script("start.sh", "master", "--protocol", "compact")
    assert done.returncode == 1 and "with 'master'" in done.stderr, done.stderr
    assert "thriftx" not in hbase_jvms(hbase.run_dir)


def test_a_gateway_on_a_taken_port_is_refused_before_it_starts(hbase: HBaseService) -> None:
    done = hbase.script("start.sh", "thrift", "--name", "thrift3", "--thrift-port", str(hbase.port))

    assert done.returncode == 1
    assert f"127.0.0.1:{hbase.port} is in use" in done.stderr, done.stderr
    assert "thrift3" not in hbase_jvms(hbase.run_dir)
    assert not (hbase.run_dir / "thrift3.pid").exists()
