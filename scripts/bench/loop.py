"""The plain Python loop: one process reads each file and runs the same stage functions on it, one at a time.

Full JPEG decode and the libraries' default threads, as a script without imgpipe would run. Prints one
JSON line: the seconds for the whole corpus after the models were loaded.

    python -m bench.loop FILES_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow as pa

from bench.common import FULL_DECODE, build_pipeline_from, config_text, files_source, object_count


def main(folder: Path) -> None:
    pipeline = build_pipeline_from(config_text(files_source(folder), "/tmp/unused", FULL_DECODE))
    files = sorted(folder.iterdir())
    pipeline.process(pa.RecordBatch.from_pydict({"key": ["warm"], "image": [files[0].read_bytes()]}))
    start = time.monotonic()
    rows = objects = 0
    for path in files:
        out = pipeline.process(pa.RecordBatch.from_pydict({"key": [str(path)], "image": [path.read_bytes()]}))
        rows += out.num_rows
        objects += object_count(out)
    seconds = time.monotonic() - start
    print(json.dumps({"seconds": seconds, "images": rows, "objects": objects}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
