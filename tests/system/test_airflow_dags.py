"""The example DAGs in a real Airflow (SQLite, a throwaway AIRFLOW_HOME) from its own virtualenv
.venv-airflow (scripts/airflow-venv.sh): they load in a DagBag, and ``airflow dags test`` runs the demo
config through imgpipe to success, or fails at once without a retry on an invalid config (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imgpipe.demo import build as build_demo
from tests.helpers import REPO, service_unavailable

pytestmark = [pytest.mark.system, pytest.mark.airflow]

AIRFLOW_VENV = REPO / ".venv-airflow"
DAGS = REPO / "examples" / "airflow"
DAY = "2026-11-29"

LOAD = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag({dags!r})
print(json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                  "dags": {{d.dag_id: {{t.task_id: type(t).__name__ for t in d.tasks}} for d in bag.dags.values()}}}}))
"""

DEMO = """
spark: {{master: "local[2]", conf: {{spark.driver.memory: 1g}}}}
source: {{type: files, path: /nonexistent}}     # each DAG run sets its dated folder
detect: {{model: yolox-nano, score_threshold: 0.3}}
crop: {{top_k: 5, min_size: 32, whole_image: true}}
embed: {{model: mobilenetv2-int8}}
sink: {{type: parquet, path: /nonexistent, mode: overwrite}}
run: {{max_error_rate: {max_error_rate}}}
"""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the airflow command: a migrated SQLite database, the examples as the DAG folder."""
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        service_unavailable("Airflow", f"no {AIRFLOW_VENV}; scripts/test.sh creates it (bash scripts/airflow-venv.sh)")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        # The DAG calls the imgpipe of the main .venv (the interpreter running these tests).
        "AIRFLOW_VAR_IMGPIPE_BIN": str(Path(sys.executable).parent / "imgpipe"),
    })  # fmt: skip
    done = _airflow(env, "db", "migrate", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    return env


def _airflow(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AIRFLOW_VENV / "bin" / "airflow"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["AIRFLOW_HOME"], stdin=subprocess.DEVNULL)  # fmt: skip


def _run_day(airflow: dict[str, str], root: Path, config: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    (root / "job.yaml").write_text(config)
    env = {**airflow, "AIRFLOW_VAR_IMGPIPE_CONFIG": str(root / "job.yaml"),
           "AIRFLOW_VAR_IMGPIPE_INPUT": str(root / "in"), "AIRFLOW_VAR_IMGPIPE_OUTPUT": str(root / "out")}  # fmt: skip
    done = _airflow(env, "dags", "test", "imgpipe_nightly", DAY)
    return done, root / "out" / f"dt={DAY}"


def test_example_dags_load_in_a_dagbag(airflow: dict[str, str]) -> None:
    python = AIRFLOW_VENV / "bin" / "python"
    done = subprocess.run([str(python), "-c", LOAD.format(dags=str(DAGS))], env=airflow, capture_output=True,
                          text=True, timeout=300, cwd=airflow["AIRFLOW_HOME"])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    bag = json.loads(done.stdout.strip().splitlines()[-1])
    assert bag["errors"] == {}
    assert bag["dags"]["imgpipe_nightly"] == {"imgpipe_run": "ImgpipeBashOperator", "imgpipe_report": "ImgpipeBashOperator"}
    # Without apache-airflow-providers-apache-spark the cluster DAG runs spark-submit from bash.
    assert bag["dags"]["imgpipe_cluster"] == {"imgpipe_run": "BashOperator", "imgpipe_report": "BashOperator"}


def test_dags_test_runs_the_demo_day_and_writes_its_report(airflow: dict[str, str], tmp_path: Path) -> None:
    assert len(build_demo(tmp_path / "in" / f"dt={DAY}")) == 11
    done, out = _run_day(airflow, tmp_path, DEMO.format(max_error_rate=0.01))
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_read"] == summary["images_ok"] == 11 and summary["status"] == "succeeded"
    assert summary["run_id"] == f"nightly-{DAY.replace('-', '')}"
    assert 'content="imgpipe report' in (out / "report.html").read_text()[:1024]


def test_an_invalid_config_fails_at_once_without_retry(airflow: dict[str, str], tmp_path: Path) -> None:
    done, out = _run_day(airflow, tmp_path, DEMO.format(max_error_rate=7))
    log = done.stdout + done.stderr
    assert done.returncode != 0 and "run.max_error_rate" in log
    assert "imgpipe exited 2: a retry cannot fix this" in log
    assert "new_state=failed" in log and "up_for_retry" not in log
    assert not out.exists()
