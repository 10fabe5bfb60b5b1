"""A JVM that imgpipe started has its py4j gateway closed as the process exits, so that it exits promptly
after it (a JVM with threads blocked in native socket calls waits 300 ms for them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.spark_helpers import own_process_env

#: Runs a job's session, then the exit handlers, and reports whether the JVM's gateway port still accepts.
PROGRAM = """
import atexit, json, socket, time
from pyspark import SparkContext
from imgpipe.config.sections import SparkConfig
from imgpipe.spark.session import spark_job

def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False

with spark_job(SparkConfig(master="local[1]"), "probe") as spark:
    spark.range(3).count()
gateway = SparkContext._gateway
port = gateway.java_parameters.port
before = accepts(port)
atexit._run_exitfuncs()
closed_by = time.monotonic() + 10  # the JVM closes its server socket on its own thread
while accepts(port) and time.monotonic() < closed_by:
    time.sleep(0.05)
print(json.dumps({"before": before, "after": accepts(port), "jvm_running": gateway.proc.poll() is None}))
"""


def test_the_gateway_of_the_jvm_imgpipe_started_is_closed_at_exit(tmp_path: Path) -> None:
    env = own_process_env(IMGPIPE_JVM_CACHE="off")
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["before"], "expected the gateway to accept connections while the process runs"
    assert not facts["after"], "expected the exit handlers to close the JVM's gateway"
    assert facts["jvm_running"], "the JVM itself is left to exit as its stdin closes (its shutdown hooks run)"
