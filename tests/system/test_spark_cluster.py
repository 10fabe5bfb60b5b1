"""The same job on a real Spark standalone cluster (master + worker from the pyspark package, 127.0.0.1).

The cluster starts through scripts/spark/start-cluster.sh; with CI=true a failure to start fails the run.
The results must equal what the fused pass computes on the same bytes without any Spark at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from imgpipe import batch as B
from imgpipe.config import load_config
from imgpipe.preflight import build_pipeline
from tests.helpers import REPO, SHARED_IMAGES, free_port, photo_count, service_unavailable

pytestmark = pytest.mark.system

SCRIPTS = REPO / "scripts" / "spark"


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("spark-cluster")
    # A loaded machine can take minutes to register a worker; the script's own default is 90 s.
    env = {**os.environ, "PYTHON": sys.executable, "SPARK_CLUSTER_TIMEOUT": "240"}
    cmd = [str(SCRIPTS / "start-cluster.sh"), str(state), str(free_port()), "2", "2g"]
    started = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    try:
        if started.returncode != 0:
            reason = f"start-cluster.sh exited {started.returncode}: {started.stderr[-2000:]}"
            service_unavailable("Spark cluster", reason)
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(SCRIPTS / "stop-cluster.sh"), str(state)], timeout=60, check=False)


def test_job_on_standalone_cluster_matches_the_plain_pass(spark_cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = tmp_path / "cluster.yaml"
    config.write_text(
        f"""\
spark:
  master: {spark_cluster}
  conf:
    spark.pyspark.python: {sys.executable}
    spark.driver.host: 127.0.0.1
    spark.executor.memory: 1g
    spark.cores.max: 2
source: {{type: files, path: '{SHARED_IMAGES}'}}
detect: {{model: yolox-nano}}
crop: {{top_k: 3, whole_image: true}}
embed: {{model: mobilenetv2-int8}}
sink: {{type: parquet, path: '{out}'}}
"""
    )
    done = subprocess.run(
        [sys.executable, "-m", "imgpipe", "run", str(config)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"on {spark_cluster}" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_ok"] == photo_count() and summary["read_tasks"] >= 2

    rows = {r[B.KEY]: r for r in ds.dataset(out / "results", partitioning="hive").to_table().to_pylist()}
    keys = sorted(rows)
    expected = build_pipeline(load_config(config)).process(
        pa.RecordBatch.from_pydict(
            {B.KEY: keys, B.IMAGE: [Path(k.removeprefix("file:")).read_bytes() for k in keys]}
        )
    ).to_pylist()
    for want in expected:
        got = rows[want[B.KEY]]
        assert got[B.OBJECTS] == want[B.OBJECTS], want[B.KEY]
        assert got[B.IMAGE_EMBEDDING] == want[B.IMAGE_EMBEDDING], want[B.KEY]
