"""The warm-up job loads the models in the very Python workers that the run's mapInArrow tasks then use. Those
workers, forked from imgpipe's daemon, never import pandas, run the installed PySpark rather than Spark's zip of
it, and inherit the daemon's imports frozen, out of their garbage collector's reach."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.spark_helpers import own_process_env

PROBE = Path(__file__).with_name("warm_probe.py")
JOB = """
source: {type: files, path: /unused}
sink: {type: parquet, path: /unused-out}
detect: {model: yolox-nano}
embed: {model: mobilenetv2-int8}
"""


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = tmp_path_factory.mktemp("warm") / "warm.yaml"
    config.write_text(JOB)
    env = own_process_env()
    done = subprocess.run(
        [sys.executable, str(PROBE), str(config)], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return facts


def test_mapinarrow_tasks_find_the_models_the_warm_up_loaded(probed: dict[str, Any]) -> None:
    held = probed["held"]
    assert held == [2, 2], f"expected both tasks' workers to hold the 2 warmed model sessions, but got {held}"


def test_the_workers_build_arrow_from_python_lists_without_importing_pandas(probed: dict[str, Any]) -> None:
    """0.24 s of CPU per worker per run when Arrow's converter finds pandas (imgpipe.spark.daemon)."""
    assert probed["pandas"] == [False, False]


def test_the_workers_import_the_installed_pyspark_not_sparks_zip_of_it(probed: dict[str, Any]) -> None:
    """Spark's zip holds sources only: 0.46 CPU-s more per daemon, compiling them (imgpipe.spark.installed_pyspark)."""
    assert probed["pyspark_zipped"] == [False, False]


def test_the_workers_garbage_collector_skips_what_the_daemon_imported(probed: dict[str, Any]) -> None:
    """PySpark's worker runs a full collection after every task: 35-45 ms each over the unfrozen imports."""
    frozen = probed["frozen"]
    assert all(count > 20_000 for count in frozen), f"expected the daemon's imports frozen, but froze {frozen} objects"
