"""Ray Data peer: the same ``Pipeline`` in an actor pool (``map_batches``) over the Parquet corpus.

    python -m bench.peer_ray PARQUET_DIR OUT_DIR CORES     (in the Ray virtual environment)

One actor per core at ``num_cpus=0.5``: on 2 cores, actors at 0.75 x 2 leave no whole CPU for the
read tasks and the job deadlocks. The clock runs from after ``ray.init`` to the written Parquet.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.peer_common import pipeline_for, report

BEGAN = time.monotonic()


class Stage:
    def __init__(self, pipeline: Any) -> None:
        import cv2

        cv2.setNumThreads(1)
        self.pipeline = pipeline

    def __call__(self, table: pa.Table) -> pa.Table:
        return pa.Table.from_batches([self.pipeline.process(b) for b in table.combine_chunks().to_batches()])


def main(parquet: Path, out: Path, cores: int) -> None:
    import ray

    pipeline = pipeline_for(parquet)
    began = time.monotonic()
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    init = time.monotonic() - began
    ray.data.DataContext.get_current().enable_progress_bars = False
    start = time.monotonic()
    ds = ray.data.read_parquet(str(parquet))
    ds = ds.map_batches(Stage, fn_constructor_args=(pipeline,), batch_format="pyarrow", batch_size=32,
                        concurrency=cores, num_cpus=0.5)  # fmt: skip
    ds.write_parquet(str(out))
    seconds = time.monotonic() - start
    ray.shutdown()
    report(out, seconds, init, BEGAN)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
