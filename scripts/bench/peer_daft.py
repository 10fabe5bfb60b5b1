"""Daft peer: the same ``Pipeline`` in a ``@daft.cls`` batch UDF, one process per core.

    python -m bench.peer_daft PARQUET_DIR OUT_DIR CORES     (in the Daft virtual environment)

``use_process=True, max_concurrency=CORES``; the UDF returns the results as one struct column, which
is unnested into columns and written as Parquet. Daft has no runtime to start: the clock runs from the
query's construction to the written Parquet.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.peer_common import pipeline_for, report

BEGAN = time.monotonic()


def main(parquet: Path, out: Path, cores: int) -> None:
    import daft

    pipeline = pipeline_for(parquet)
    input_schema = pa.schema([pa.field("key", pa.string()), pa.field("image", pa.binary())])
    result = pipeline.output_schema(input_schema)
    fields = [f for f in result if f.name != "key"]
    struct = daft.DataType.from_arrow_type(pa.struct(fields))

    @daft.cls(use_process=True, max_concurrency=cores)
    class Stage:
        def __init__(self, pipeline: Any) -> None:
            import cv2

            cv2.setNumThreads(1)
            self.pipeline = pipeline

        @daft.method.batch(return_dtype=struct, batch_size=32, unnest=True)
        def __call__(self, key: daft.Series, image: daft.Series) -> pa.Array:
            batch = pa.RecordBatch.from_arrays([key.to_arrow(), image.to_arrow()], ["key", "image"])
            done = self.pipeline.process(batch)
            return pa.StructArray.from_arrays([done.column(f.name) for f in fields], fields=fields)

    start = time.monotonic()
    df = daft.read_parquet(str(parquet))
    df = df.select(df["key"], Stage(pipeline)(df["key"], df["image"]))
    df.write_parquet(str(out))
    seconds = time.monotonic() - start
    report(out, seconds, 0.0, BEGAN)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
