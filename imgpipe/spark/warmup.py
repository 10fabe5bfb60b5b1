"""Python workers started, and their models loaded, while the driver is still planning.

The first task of a run waits for its executor's Python worker to fork and load its ONNX sessions: seconds
that repeat in every run and are worth most on a small one. A one-task-per-slot job started in a background
thread as soon as the session exists does that work while the driver lists the input and writes its
manifest; Spark keeps the workers (``spark.python.worker.reuse``) and their sessions for the run's own tasks.
A warm-up that fails changes nothing: the run's first task then does the same work and reports any error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import SparkSession

from imgpipe.pipeline import Pipeline

log = logging.getLogger("imgpipe.spark")


def warm_workers(spark: SparkSession, pipeline: Pipeline) -> threading.Thread:
    """Start the warm-up job in a daemon thread and return the thread (joining it is optional)."""
    slots = max(1, spark.sparkContext.defaultParallelism)

    def load(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pipeline.warm()
        yield from batches

    def run() -> None:
        try:
            spark.range(0, slots, 1, numPartitions=slots).mapInArrow(load, "id long").collect()
        except Exception:  # noqa: BLE001 - see the module docstring
            log.debug("warming the Python workers failed; the run's first tasks load their models", exc_info=True)

    thread = threading.Thread(target=run, name="imgpipe-warmup", daemon=True)
    thread.start()
    return thread
