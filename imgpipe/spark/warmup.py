"""Python workers started, and their models loaded, while the driver is still planning.

The first task of a run waits for its executor's Python worker to fork and load its ONNX sessions: seconds
that repeat in every run and are worth most on a small one. A one-task-per-slot job started in a background
thread as soon as the session exists does that work while the driver lists the input and writes its
manifest; Spark keeps the workers (``spark.python.worker.reuse``) and their sessions for the run's own tasks.
A warm-up that fails changes nothing: the run's first task then does the same work and reports any error.

The warm-up is an RDD job, not a DataFrame one: a cold JVM plans and launches a one-stage RDD job in about
0.2 s against 0.65 s for ``range().mapInArrow()`` (Catalyst's first plan and code generation), and the worker
daemon starts that much earlier. Spark keeps one pool of Python workers per environment, and its SQL runners
add ``SPARK_SIMPLIFIED_TRACEBACK=1`` to theirs; the same variable in the context's environment gives the RDD
job that environment too, so its workers are the ones the run's ``mapInArrow`` tasks then reuse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from pyspark.sql import SparkSession

from imgpipe.pipeline import Pipeline
from imgpipe.spark.devices import on_task_gpu

log = logging.getLogger("imgpipe.spark")

#: Spark's SQL setting that makes its runners set SIMPLIFIED_TRACEBACK (default true).
SIMPLIFIED_TRACEBACK = "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled"


def warm_workers(spark: SparkSession, pipeline: Pipeline) -> threading.Thread:
    """Start the warm-up job in a daemon thread and return the thread (joining it is optional)."""
    sc = spark.sparkContext
    slots = max(1, sc.defaultParallelism)
    if str(spark.conf.get(SIMPLIFIED_TRACEBACK, "true")).lower() == "true":
        sc.environment["SPARK_SIMPLIFIED_TRACEBACK"] = "1"

    def load(_: Iterable[int]) -> Iterable[int]:
        with on_task_gpu():  # the sessions the run's tasks on this GPU will look up
            pipeline.warm()
        return ()

    def run() -> None:
        try:
            sc.parallelize(range(slots), slots).mapPartitions(load).collect()
        except Exception:  # noqa: BLE001 - see the module docstring
            log.debug("warming the Python workers failed; the run's first tasks load their models", exc_info=True)

    thread = threading.Thread(target=run, name="imgpipe-warmup", daemon=True)
    thread.start()
    return thread
