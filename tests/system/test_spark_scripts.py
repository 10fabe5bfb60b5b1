"""scripts/spark/start-cluster.sh and stop-cluster.sh themselves: N workers, their environment, clean failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import REPO, free_port, process_args, service_unavailable

pytestmark = pytest.mark.system

SCRIPTS = REPO / "scripts" / "spark"
MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


def cluster(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / "start-cluster.sh"), str(state), *args], capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHON": sys.executable, **env}, check=False,
    )  # fmt: skip


def stop(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPTS / "stop-cluster.sh"), str(state)], capture_output=True, text=True, timeout=120)


def daemons(state: Path) -> dict[int, list[str]]:
    """The processes of the cluster in state: every daemon is started with state's properties file."""
    return {pid: args for pid, args in process_args().items() if str(state / "cluster.conf") in args}


def environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(p.split("=", 1) for p in pairs if "=" in p)


@contextmanager
def socket_listening() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_two_workers_with_their_own_dirs_and_environment(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    home = tmp_path / "worker-home"
    env_file = tmp_path / "worker.env"
    env_file.write_text(f"# what the executors inherit\nHOME={home}\nIMGPIPE_TEST_MARK=a b=c 'quoted' $NOT_EXPANDED\n")
    try:
        started = cluster(state, str(free_port()), "1", "1g", "--workers", "2", "--worker-env", str(env_file))
        if started.returncode != 0:
            service_unavailable("Spark cluster", started.stderr[-3000:])
        master_url = started.stdout.strip().splitlines()[-1]
        recorded = dict(line.split("=", 1) for line in (state / "cluster.env").read_text().split())
        assert recorded["SPARK_MASTER_URL"] == master_url

        ui = f"http://127.0.0.1:{recorded['SPARK_MASTER_WEBUI_PORT']}/json/"
        status = json.load(urllib.request.urlopen(ui, timeout=10))
        assert [(w["state"], w["cores"]) for w in status["workers"]] == [("ALIVE", 1), ("ALIVE", 1)]

        procs = daemons(state)
        workers = {pid: args for pid, args in procs.items() if WORKER in args}
        assert len(workers) == 2 and sum(MASTER in args for args in procs.values()) == 1
        work_dirs = {args[args.index("--work-dir") + 1] for args in workers.values()}
        assert work_dirs == {str(state / "work" / "worker-1"), str(state / "work" / "worker-2")}
        for pid in workers:
            assert environ(pid)["HOME"] == str(home)
            assert environ(pid)["IMGPIPE_TEST_MARK"] == "a b=c 'quoted' $NOT_EXPANDED", "taken literally"
        master_pid = next(pid for pid, args in procs.items() if MASTER in args)
        assert "IMGPIPE_TEST_MARK" not in environ(master_pid), "the worker environment is the workers' only"

        again = cluster(state, str(free_port()), "1", "1g", "--workers", "2")
        assert again.returncode == 1 and "already running" in again.stderr, again.stderr
        assert daemons(state).keys() == procs.keys(), "a refused start changes nothing"
    finally:
        stopped = stop(state)
    assert stopped.returncode == 0, stopped.stderr
    assert daemons(state) == {}
    assert sorted(p.name for p in state.glob("*.pid")) == []


def test_a_taken_master_port_starts_nothing(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    with socket_listening() as port:
        done = cluster(state, str(port), "1", "1g", "--workers", "2")
    assert done.returncode == 1
    assert f"127.0.0.1:{port} is in use" in done.stderr, done.stderr
    assert not state.exists() or list(state.glob("*.pid")) == []
    assert daemons(state) == {}


def test_a_start_that_fails_midway_stops_what_it_started(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    done = cluster(state, str(free_port()), "1", "1g", "--workers", "2", SPARK_CLUSTER_TIMEOUT="3")
    assert done.returncode == 1
    assert "did not come up within 3s" in done.stderr and "stopped spark worker-2" in done.stderr, done.stderr
    assert daemons(state) == {}
    assert list(state.glob("*.pid")) == []


def test_stop_never_signals_a_recycled_pid(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    state = tmp_path / "cluster"
    state.mkdir()
    for name in ("master", "worker-1"):
        (state / f"{name}.pid").write_text(f"{sleeper.pid}\n")

    done = stop(state)

    assert done.returncode == 0, done.stderr
    assert sleeper.poll() is None, "stop-cluster.sh signalled a process that is not its daemon"
    assert done.stderr.count("removing the stale PID file") == 2, done.stderr
    assert list(state.glob("*.pid")) == []
