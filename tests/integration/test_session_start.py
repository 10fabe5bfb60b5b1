"""The session's start: what the driver would do after the JVM is up is done while it starts instead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.spark_helpers import own_process_env

#: Records which thread first imports PySpark's first-call module, and whether the JVM was up by then.
PROGRAM = """
import json, sys, threading
from pyspark import SparkContext
from imgpipe.config.sections import SparkConfig
from imgpipe.spark.session import spark_job

FIRST_CALL = "pyspark.testing.utils"

seen = {}

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == FIRST_CALL and name not in seen:
            seen[name] = {"thread": threading.current_thread().name, "jvm_up": SparkContext._gateway is not None}
        return None

assert FIRST_CALL not in sys.modules
sys.meta_path.insert(0, Spy())
with spark_job(SparkConfig(master="local[1]"), "probe") as spark:
    spark.range(3).count()
print(json.dumps(seen))
"""


def test_pyspark_first_call_imports_are_done_while_the_jvm_starts(tmp_path: Path) -> None:
    """PySpark imports pandas (through ``pyspark.testing.utils``) on its first call into the JVM: 0.26 s the
    session's start waited for on the main thread, after the JVM was up."""
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=tmp_path,
                          env=own_process_env(IMGPIPE_JVM_CACHE="off"), timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"pyspark.testing.utils": {"thread": "imgpipe-imports", "jvm_up": False}}, seen
