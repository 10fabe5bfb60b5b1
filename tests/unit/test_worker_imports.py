"""What a Spark Python worker of ``imgpipe run`` imports: the daemon's stack, and the counting wrapper the pass
is pickled with. Everything a worker imports is paid once per run on the daemon's path, or once per worker;
the driver's job stack, the HBase reader and the library's ``infer`` are not needed there."""

from __future__ import annotations

import json
import subprocess
import sys

#: Imported by neither the daemon nor ``imgpipe.job.tally`` (the Parquet and files pass).
DRIVER_ONLY = (
    "imgpipe.job.run", "imgpipe.sources", "imgpipe.sinks", "imgpipe.spark.hbase_datasource", "imgpipe.spark.infer",
    "imgpipe.preflight", "imgpipe.cli", "happybase", "rich", "faiss", "pandas",
)  # fmt: skip

PROBE = f"""
import json, sys
import imgpipe.spark.daemon, pyspark.worker, imgpipe.job.tally
print(json.dumps([name for name in {DRIVER_ONLY!r} if name in sys.modules]))
"""


def test_a_worker_imports_none_of_the_drivers_stack() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == []


def test_the_library_names_still_import_from_their_packages() -> None:
    from imgpipe.job import run_job, run_on, spark_job
    from imgpipe.spark import InferenceConfig, ReadCounters, infer, register

    assert [f.__module__ for f in (run_job, run_on, spark_job, infer, register)] == [
        "imgpipe.job.run", "imgpipe.job.run", "imgpipe.spark.session", "imgpipe.spark.infer",
        "imgpipe.spark.hbase_datasource",
    ]  # fmt: skip
    assert InferenceConfig.__name__ == "InferenceConfig" and ReadCounters.__name__ == "ReadCounters"


def test_the_drivers_job_stack_imports_thrift_only_for_hbase() -> None:
    """A Parquet or files run's driver loads the HBase source and sink classes (the registries) but not happybase
    and its Thrift stack (40 ms); the Thrift error types are made when first asked for."""
    probe = (
        "import sys, imgpipe.job.run, imgpipe.hbase.client as hb\n"
        "before = 'happybase' in sys.modules\n"
        "print(before, sorted(t.__name__ for t in hb.TRANSIENT), hb.TRANSIENT is hb.TRANSIENT)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split(" ", 1) == [
        "False",
        "['EOFError', 'IOError', 'IllegalArgument', 'OSError', 'TApplicationException', 'TTransportException', "
        "'TimeoutError'] True\n",
    ]
