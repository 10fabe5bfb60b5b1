"""The job on a real standalone cluster whose executors have nothing installed: imgpipe, its dependencies and its
models travel with the job (``spark.pack``, models shipped by Spark), through ``imgpipe run`` and spark-submit,
and a worker killed mid-run loses nothing.

The cluster (a master and two 1-core workers with their own work dirs, scripts/spark/start-cluster.sh) runs the
workers with no Python of their own (PYSPARK_PYTHON names a file that does not exist), a HOME of their own and no model
mirror or cache variables. With CI=true a cluster that cannot start fails the run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyspark
import pytest

from imgpipe import batch as B
from imgpipe.config.sections import DecodeConfig
from imgpipe.pack import ALIAS
from imgpipe.stages.decode import DecodeFailure, decode_image
from tests.helpers import REPO, free_port, photo_paths, process_args, service_unavailable
from tests.spark_helpers import read_rows
from tests.system.conftest import HBaseService, scanning_through
from tests.system.driver_ui import executor_id, runs_job_task

pytestmark = pytest.mark.system

SCRIPTS = REPO / "scripts" / "spark"
#: pyspark's own copy of Spark: spark-submit, spark-class and the jars.
SPARK_HOME = Path(pyspark.__file__).parent
#: The driver's own settings; the executors get none of these.
DRIVER_ONLY = ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME")


@dataclass(frozen=True)
class Cluster:
    master: str
    state: Path

    def worker_dir(self, i: int) -> Path:
        return self.state / "work" / f"worker-{i}"


@pytest.fixture(scope="session")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``imgpipe pack`` once per session: the archive every cluster run ships."""
    out = tmp_path_factory.mktemp("pack") / "imgpipe-env.tar.gz"
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "imgpipe", "pack", str(out)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\nimgpipe pack: {out.stat().st_size / (1 << 20):.0f} MiB in {time.monotonic() - began:.0f} s")
    return out


#: The workers' own Python: none. Every Python process on an executor is the one the archive carries.
NO_PYTHON = "/nonexistent/python3"


def test_the_archive_carries_its_interpreter_and_runs_unpacked_anywhere(packed: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "environment"
    with tarfile.open(packed) as archive:
        archive.extractall(unpacked, filter="tar")
    probe = "import sys, imgpipe.pipeline, cv2, onnxruntime, pyarrow; print(sys.prefix)"
    done = subprocess.run([str(unpacked / "bin" / "python"), "-c", probe], env={"PATH": "/usr/bin:/bin"},
                          cwd=tmp_path, capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(unpacked), "the interpreter found its prefix where it was unpacked"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state = tmp_path_factory.mktemp("spark-cluster")
    home = tmp_path_factory.mktemp("worker-home")
    tools = _without_python(tmp_path_factory.mktemp("worker-path"))
    worker_env = state.parent / "worker.env"
    worker_env.write_text(
        f"PYSPARK_PYTHON={NO_PYTHON}\nPATH={tools}\nHOME={home}\n"
    )
    # No IMGPIPE_* (model mirror, cache) and no driver Python settings reach the daemons, hence the executors.
    env = {k: v for k, v in _clean_env().items() if not k.startswith("IMGPIPE_")}
    cmd = [str(SCRIPTS / "start-cluster.sh"), str(state), str(free_port()), "1", "1g", "--workers", "2",
           "--worker-env", str(worker_env)]  # fmt: skip
    # A loaded machine can take minutes to register a worker; the script's own default is 90 s.
    env.update(PYTHON=sys.executable, SPARK_CLUSTER_TIMEOUT="240")
    started = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    try:
        if started.returncode != 0:
            service_unavailable("Spark cluster", f"start-cluster.sh exited {started.returncode}: {started.stderr[-2000:]}")
        yield Cluster(started.stdout.strip().splitlines()[-1], state)
    finally:
        subprocess.run([str(SCRIPTS / "stop-cluster.sh"), str(state)], timeout=120, check=False)
        _drop_unpacked_environments(state)


def _drop_unpacked_environments(state: Path) -> None:
    """Each application's executors unpack the packed environment (about 720 MB) into their own work folder, and
    a standalone worker keeps it: 6 GB a test run, which pytest keeps for its last three runs. The executors'
    logs beside it stay, for reading a failure afterwards."""
    for unpacked in state.glob(f"work/worker-*/app-*/*/{ALIAS}"):
        shutil.rmtree(unpacked, ignore_errors=True)


def _without_python(tools: Path) -> Path:
    """A PATH folder with the machine's commands but no ``python*``: a worker host that has no Python at all."""
    for folder in (Path("/usr/bin"), Path("/bin")):
        for command in folder.iterdir():
            if not command.name.startswith("python") and not (tools / command.name).exists():
                (tools / command.name).symlink_to(command)
    return tools


@pytest.fixture(scope="module")
def demo_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    photos = tmp_path_factory.mktemp("demo") / "photos"
    subprocess.run([sys.executable, "-m", "imgpipe.demo", str(photos)], check=True, capture_output=True)
    return photos


@pytest.fixture(scope="module")
def local_rows(demo_photos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Any, dict[str, Any]]:
    """The demo config on local Spark: what every cluster run must reproduce."""
    out = tmp_path_factory.mktemp("local") / "out"
    done = imgpipe("run", REPO / "configs" / "demo.yaml", *_demo_sets(demo_photos, out), "--set", "spark.master=local[2]")
    assert done.returncode == 0, done.stderr[-3000:]
    return _by_key(out)


def test_demo_on_executors_with_nothing_installed_matches_the_local_run(
    cluster: Cluster, packed: Path, demo_photos: Path, local_rows: dict[Any, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = imgpipe("run", _cluster_config(tmp_path, cluster, packed), *_demo_sets(demo_photos, out))
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"on {cluster.master}" in done.stdout
    _assert_same_results(_by_key(out), local_rows)
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["executors"]) == 2, f"tasks ran on both workers: {summary['executors']}"
    assert sum(summary["executors"].values()) == summary["read_tasks"]
    for i in (1, 2):
        shipped = {p.name.split("-", 1)[1] for p in cluster.worker_dir(i).glob("app-*/*/*.onnx")}
        assert shipped == {"yolox_nano.onnx", "mobilenetv2-12-int8.onnx"}, f"worker-{i} got the models from Spark"


def test_without_the_pack_the_executors_cannot_run_imgpipe(
    cluster: Cluster, packed: Path, demo_photos: Path, tmp_path: Path
) -> None:
    """The control: the same cluster fails without spark.pack, so the pack is what makes the other tests pass."""
    config = _cluster_config(tmp_path, cluster, packed, "spark.task.maxFailures: 1")
    done = imgpipe("run", config, *_demo_sets(demo_photos, tmp_path / "out"), "--set", "source.limit=1",
                   "--set", "spark.pack=null")  # fmt: skip
    assert done.returncode == 1
    assert "Cannot run program" in done.stderr, done.stderr[-3000:]


def test_spark_submit_with_the_entry_point_gives_the_same_output(
    cluster: Cluster, packed: Path, demo_photos: Path, local_rows: dict[Any, dict[str, Any]], tmp_path: Path
) -> None:
    entry = imgpipe("entrypoint").stdout.strip()
    out = tmp_path / "out"
    submit = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster.master, "--conf", f"spark.pyspark.driver.python={sys.executable}",
              "--conf", "spark.driver.host=127.0.0.1", entry]  # fmt: skip
    config = _cluster_config(tmp_path, cluster, packed)
    done = _run([*submit, config, *_demo_sets(demo_photos, out), "--set", "spark.master=local[1]"], timeout=600,
                SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1")  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    assert f"on {cluster.master}" in done.stdout, "spark-submit's master wins over the YAML's"
    _assert_same_results(_by_key(out), local_rows)

    invalid = _run([*submit, config, *_demo_sets(demo_photos, out), "--set", "detect.model=yolox-nan"], timeout=300,
                   SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1")  # fmt: skip
    # spark-submit merges the Python driver's stderr into its stdout.
    assert invalid.returncode == 2, invalid.stdout[-3000:]
    assert "detect.model: " in invalid.stdout and "Did you mean 'yolox-nano'?" in invalid.stdout


def test_infer_submitted_by_the_callers_own_program_ships_the_models(
    cluster: Cluster, packed: Path, demo_photos: Path, local_rows: dict[Any, dict[str, Any]], tmp_path: Path
) -> None:
    """``infer`` in a session imgpipe did not build: the executors get the models from Spark, as with ``imgpipe run``."""
    config = tmp_path / "infer.yaml"
    demo = (REPO / "configs" / "demo.yaml").read_text()
    config.write_text(demo[demo.index("decode:") : demo.index("sink:")])
    out = tmp_path / "out"
    submit = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster.master, "--archives", f"{packed}#environment",
              "--conf", "spark.pyspark.python=./environment/bin/python", "--conf", f"spark.pyspark.driver.python={sys.executable}",
              "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.executor.cores=1", "--conf", "spark.executor.memory=512m",
              "--conf", "spark.cores.max=2", "--conf", "spark.sql.files.maxPartitionBytes=256k",
              "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
              "--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=120s",
              str(Path(__file__).with_name("infer_on_cluster.py")), str(demo_photos), str(config), str(out)]  # fmt: skip
    done = _run(submit, timeout=600, SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    _assert_same_results({r["path"]: r for r in read_rows(out)}, local_rows)
    app = done.stdout.strip().splitlines()[-1]
    for i in (1, 2):
        shipped = {p.name.split("-", 1)[1] for p in cluster.worker_dir(i).glob(f"{app}/*/*.onnx")}
        assert shipped == {"yolox_nano.onnx", "mobilenetv2-12-int8.onnx"}, f"worker-{i} got the models from Spark"


@pytest.fixture(scope="module")
def two_region_table(hbase: HBaseService) -> tuple[str, list[bytes]]:
    return hbase.two_region_table("cluster", 1200)


def test_hbase_through_two_gateways_on_both_workers_with_one_gateway_stopped_mid_scan(
    cluster: Cluster, packed: Path, hbase: HBaseService, two_region_table: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    table, keys = two_region_table
    doomed = hbase.start_gateway("thriftc")
    source = {"type": "hbase", "hosts": [f"{hbase.host}:{hbase.port}", f"{hbase.host}:{doomed}"], "table": table,
              "column": "f:img", "scan_batch_size": 1, "backoff_s": 0.2}  # fmt: skip
    out = tmp_path / "out"
    sets = ["--set", f"source={json.dumps(source)}", "--set", f"sink.path={out}", "--set", "spark.max_records_per_batch=1"]
    run = subprocess.Popen([sys.executable, "-m", "imgpipe", "run", _cluster_config(tmp_path, cluster, packed), *sets],
                           env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    stopped: list[bool] = []

    def stop_mid_scan() -> None:
        deadline = time.monotonic() + 300
        while not scanning_through(doomed) and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.02)  # planning goes through the first gateway: a connection to thriftc is a scan
        time.sleep(0.5)
        stopped.append(run.poll() is None and scanning_through(doomed))
        hbase.stop_gateway("thriftc")

    stopper = threading.Thread(target=stop_mid_scan, daemon=True)
    stopper.start()
    try:
        stdout, stderr = run.communicate(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
        stopper.join(timeout=150)
        hbase.script("stop.sh", "thrift", "--name", "thriftc")
    assert stopped == [True], "thriftc was stopped while a split was being read through it"
    assert run.returncode == 0, stderr[-4000:]
    assert sorted(r[B.KEY] for r in read_rows(out / "results")) == keys, "every key exactly once"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_ok"] == len(keys)
    assert len(summary["executors"]) == 2, f"reads on both workers: {summary['executors']}"
    lost, kept = summary["gateways"][f"127.0.0.1:{doomed}"], summary["gateways"][f"127.0.0.1:{hbase.port}"]
    assert lost["failovers"] == 1 and lost["splits"] == 0 and kept["splits"] == 2, summary["gateways"]


def test_a_worker_killed_mid_run_loses_nothing(cluster: Cluster, packed: Path, tmp_path: Path) -> None:
    """Last in this module: worker-2 stays dead, and the tests above need both workers."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for copy in range(2):
        for path in photo_paths():
            (photos / f"{copy}-{path.name}").write_bytes(path.read_bytes())
    out = tmp_path / "out"
    ui = free_port()
    config = _cluster_config(tmp_path, cluster, packed, f"spark.ui.port: {ui}")
    sets = ["--set", f"source.path={photos}", "--set", f"sink.path={out}", "--set", "source.max_bytes_per_partition=400k"]
    run = subprocess.Popen([sys.executable, "-m", "imgpipe", "run", config, *sets], env=_clean_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        killed = _kill_worker_once_busy(cluster, 2, run, ui)
        stdout, stderr = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    assert killed, "worker-2 never ran a task"
    assert run.returncode == 0, stderr[-4000:]
    rows = read_rows(out / "results")
    keys = [r[B.KEY] for r in rows]
    assert len(keys) == len(set(keys)) == 2 * len(photo_paths()), "every key exactly once"
    assert {r[B.STATUS] for r in rows} == {B.STATUS_OK}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_ok"] == len(keys) and summary["tasks_retried"] >= 1, summary
    assert "tasks retried" in stdout


def _kill_worker_once_busy(cluster: Cluster, i: int, run: subprocess.Popen[str], ui: int, timeout: float = 300) -> bool:
    """SIGKILL worker ``i`` (its daemon, executor JVM and Python workers) while a task of the run's own jobs runs
    there: a kill during the warm-up job would cost the run no task attempt."""
    work = cluster.worker_dir(i)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        executor = executor_id(work)
        if executor is not None and runs_job_task(ui, executor):
            daemon = int((cluster.state / f"worker-{i}.pid").read_text())
            for pid in [daemon, *_processes_in(str(work))]:
                _kill(pid)
            return True
        time.sleep(0.1)
    return False


def _processes_in(work: str) -> dict[int, list[str]]:
    """Processes whose working folder is inside ``work``: an executor JVM and its Python processes."""
    found = {}
    for pid, args in process_args().items():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == work or cwd.startswith(work + "/"):
            found[pid] = args
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _cluster_config(tmp_path: Path, cluster: Cluster, packed: Path, extra_conf: str = "") -> Path:
    config = tmp_path / "cluster.yaml"
    config.write_text(
        (REPO / "configs" / "demo.yaml").read_text().replace(
            'spark:\n  master: "local[*]"\n  conf:\n',
            f"""spark:
  master: {cluster.master}
  pack: {packed}
  conf:
    spark.driver.host: 127.0.0.1
    spark.executor.cores: 1
    spark.executor.memory: 512m
    spark.cores.max: 2
    # Both executors registered before the first task, so the tasks spread over both workers.
    spark.scheduler.minRegisteredResourcesRatio: 1.0
    spark.scheduler.maxRegisteredResourcesWaitingTime: 120s
    {extra_conf}
""",
        )
    )
    assert f"pack: {packed}" in config.read_text()
    return config


def _demo_sets(photos: Path, out: Path) -> list[str]:
    # Small splits: several tasks, so both workers get some.
    return ["--set", f"source.path={photos}", "--set", f"sink.path={out}", "--set", "source.max_bytes_per_partition=256k"]


def imgpipe(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "imgpipe", *map(str, args)], timeout=timeout)


def _run(cmd: list[str | Path], timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env={**_clean_env(), **env}
    )


def _clean_env() -> dict[str, str]:
    """This process's environment less what an earlier local session set for its own executors."""
    return {k: v for k, v in os.environ.items() if k not in DRIVER_ONLY}


def _by_key(out: Path) -> dict[Any, dict[str, Any]]:
    return {r[B.KEY]: r for r in read_rows(out / "results")}


def _assert_same_results(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]]) -> None:
    assert sorted(got) == sorted(want)
    unstable = _decoded_differently_each_time(want)
    assert len(unstable) <= 1, f"expected at most the demo's float64 TIFF to decode unstably, but got {unstable}"
    for key, row in want.items():
        other = got[key]
        assert (other[B.STATUS], other[B.WIDTH], other[B.HEIGHT]) == (row[B.STATUS], row[B.WIDTH], row[B.HEIGHT]), key
        if key in unstable:
            continue
        assert [o["label_name"] for o in other[B.OBJECTS]] == [o["label_name"] for o in row[B.OBJECTS]], key
        for a, b in zip(other[B.OBJECTS], row[B.OBJECTS], strict=True):
            assert math.isclose(a["score"], b["score"], abs_tol=1e-5), key
            assert a["box"] == pytest.approx(b["box"], abs=1e-3), key
            assert a["embedding"] == pytest.approx(b["embedding"], abs=1e-5), key
        assert other[B.IMAGE_EMBEDDING] == pytest.approx(row[B.IMAGE_EMBEDDING], abs=1e-5), key


def _decoded_differently_each_time(rows: dict[Any, dict[str, Any]]) -> set[Any]:
    """Keys whose bytes OpenCV decodes to different pixels from one call to the next, in one process: the demo's
    multipage_rgb.tif (float64 samples; OpenCV warns it cannot handle them and leaves pixels unset), whose
    results differ between any two runs, local ones included. Their pixels prove nothing about shipping."""
    unstable = set()
    for key in rows:
        data = Path(str(key).removeprefix("file:")).read_bytes()
        decoded = []
        for _ in range(4):
            try:
                decoded.append(decode_image(data, DecodeConfig()).pixels)
            except DecodeFailure:
                break
        if any(not np.array_equal(d, decoded[0]) for d in decoded[1:]):
            unstable.add(key)
    return unstable
