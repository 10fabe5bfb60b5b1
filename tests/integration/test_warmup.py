"""The warm-up job loads the models in the very Python workers that the run's mapInArrow tasks then use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.spark_helpers import own_process_env

PROBE = Path(__file__).with_name("warm_probe.py")
JOB = """
source: {type: files, path: /unused}
sink: {type: parquet, path: /unused-out}
detect: {model: yolox-nano}
embed: {model: mobilenetv2-int8}
"""


def test_mapinarrow_tasks_find_the_models_the_warm_up_loaded(tmp_path: Path) -> None:
    config = tmp_path / "warm.yaml"
    config.write_text(JOB)
    env = own_process_env()
    done = subprocess.run(
        [sys.executable, str(PROBE), str(config)], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    held = json.loads(done.stdout.strip().splitlines()[-1])["held"]
    assert held == [2, 2], f"expected both tasks' workers to hold the 2 warmed model sessions, but got {held}"
