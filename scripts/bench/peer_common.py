"""What the Ray Data and Daft peers share: their ``Pipeline`` and the JSON line they report.

The peers run in their own virtual environments (bench/peers.py makes them), with imgpipe installed
into each, so they run exactly the stage code imgpipe runs, with 1 thread per process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from bench.common import build_pipeline_from, config_text, object_count, parquet_source


def pipeline_for(parquet: Path) -> Any:
    return build_pipeline_from(config_text(parquet_source(parquet), "/tmp/unused"), threads=1)


def report(out: Path, seconds: float, init_seconds: float, began: float) -> None:
    """Count what the peer wrote (outside its clock) and print the JSON line the benchmark reads."""
    table = ds.dataset(str(out), format="parquet").to_table(columns=["key", "status", "objects"])
    failed = sum(1 for s in table.column("status").to_pylist() if s != "ok")
    print(json.dumps({"seconds": seconds, "images": table.num_rows, "objects": object_count(table),
                      "failed": failed, "init_s": init_seconds, "process_s": time.monotonic() - began}))  # fmt: skip
