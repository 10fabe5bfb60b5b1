"""Run by test_warmup.py in a process of its own: a fresh local[2] session, whose Python workers are only the
ones its warm-up starts (the shared test session has more, started by earlier tests' jobs).

    python warm_probe.py JOB_YAML

Warms the workers, then runs a mapInArrow task per slot; its last stdout line is JSON, one value per task:

- ``held``: how many of the warmed model sessions the task's worker already held;
- ``pandas``: whether it had imported pandas after Arrow built an array from a Python list (Arrow's converter
  imports pandas when it can);
- ``pyspark_zipped``: whether its PySpark came from Spark's zip (compiled from source in every daemon) rather
  than the installed package;
- ``frozen``: how many objects its garbage collector leaves alone (those the daemon froze before the fork).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator

import pyarrow as pa

from imgpipe.config import load_config
from imgpipe.config.sections import SparkConfig
from imgpipe.preflight import build_pipeline
from imgpipe.spark.session import build_session, stop
from imgpipe.spark.warmup import warm_workers

#: ONNX Runtime threads of the warmed pipeline: the session cache key the tasks look for.
THREADS = 1


def loaded(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import pyspark

    from imgpipe.runtime.sessions import SESSIONS

    zipped = ".zip" in (pyspark.__file__ or "")
    held = sum(1 for key in SESSIONS.keys() if key[3] == THREADS)  # type: ignore[index]
    for batch in batches:
        column = pa.array([held] * batch.num_rows, pa.int64())
        pandas = pa.array(["pandas" in sys.modules] * batch.num_rows, pa.bool_())
        pyspark_zipped = pa.array([zipped] * batch.num_rows, pa.bool_())
        frozen = pa.array([gc.get_freeze_count()] * batch.num_rows, pa.int64())
        yield pa.RecordBatch.from_pydict(
            {"held": column, "pandas": pandas, "pyspark_zipped": pyspark_zipped, "frozen": frozen}
        )


def main(config: str) -> None:
    pipeline = build_pipeline(load_config(config), run_id="warm").with_threads(THREADS)
    spark = build_session(SparkConfig(master="local[2]"))
    try:
        warm_workers(spark, pipeline).join(timeout=300)
        slots = spark.sparkContext.defaultParallelism
        probe = spark.range(0, slots, 1, numPartitions=slots)
        rows = probe.mapInArrow(loaded, "held long, pandas boolean, pyspark_zipped boolean, frozen long").collect()
        facts = {name: [row[name] for row in rows] for name in ("held", "pandas", "pyspark_zipped", "frozen")}
        print(json.dumps(facts))
    finally:
        stop(spark)


if __name__ == "__main__":
    main(sys.argv[1])
