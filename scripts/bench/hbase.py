"""The HBase parts: read throughput (image cells only) and HBase -> Parquet end to end.

HBase 2.6 + Thrift1 run on the same cores, started by scripts/hbase/start.sh on free ports into a
throwaway directory and stopped by scripts/hbase/stop.sh. Tables are ingested pre-split into 8 regions
by ``imgpipe.ingest`` (row keys spread by a sha1 prefix).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.common import REPO, Measurement, build_pipeline_from, config_text, interleaved, log
from bench.corpus import Corpus
from bench.imgpipe_runs import imgpipe_run, write_config
from bench.limit import parallel_limit

REGIONS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def hbase_service(run_dir: Path) -> Iterator[tuple[int, str]]:
    """(Thrift port, ZooKeeper address) of a fresh HBase, stopped on exit whatever happens."""
    thrift, zk = free_port(), free_port()
    cmd = [str(REPO / "scripts/hbase/start.sh"), "--dir", str(run_dir), "--clean",
           "--thrift-port", str(thrift), "--zk-port", str(zk), "--timeout", "240"]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, timeout=600, env={**os.environ, "IMGPIPE_PYTHON": sys.executable})
        yield thrift, f"127.0.0.1:{zk}"
    finally:
        subprocess.run([str(REPO / "scripts/hbase/stop.sh"), "--dir", str(run_dir)], timeout=120, check=False)


def source(thrift: int, table: str) -> str:
    return f"source: {{type: hbase, host: 127.0.0.1, port: {thrift}, table: {table}, column: 'f:img'}}\n"


def end_to_end(corpus: Corpus, cores: int, repeats: int, work: Path) -> dict[str, Measurement]:
    """HBase -> detect/crop/embed -> Parquet by imgpipe, against the parallel limit on the same images
    and against one scanner feeding one model process (the two-cluster way on one box)."""
    import happybase

    from imgpipe.ingest import ingest

    with hbase_service(work / "hbase-e2e") as (thrift, zk):
        began = time.monotonic()
        done = ingest(corpus.files, "127.0.0.1", thrift, "e2e", "f:img", regions=REGIONS, zk=zk)
        assert done.regions == REGIONS and done.rows == corpus.count, done
        log(f"ingested {done.rows} images into {REGIONS} regions in {time.monotonic() - began:.0f} s")
        text = config_text(source(thrift, "e2e"), work / "hbase-out")
        config = write_config(work / "hbase-e2e.yaml", text)
        pipeline = build_pipeline_from(text)

        def old_way() -> Measurement:
            start = time.monotonic()
            conn = happybase.Connection("127.0.0.1", thrift)
            keys: list[bytes] = []
            images: list[bytes] = []
            rows = 0
            for key, cells in conn.table("e2e").scan(columns=[b"f:img"], batch_size=16):
                keys.append(key)
                images.append(cells[b"f:img"])
                if len(keys) == 16:
                    rows += pipeline.process(pa.RecordBatch.from_pydict({"key": keys, "image": images})).num_rows
                    keys, images = [], []
            if keys:
                rows += pipeline.process(pa.RecordBatch.from_pydict({"key": keys, "image": images})).num_rows
            conn.close()
            return {"seconds": time.monotonic() - start, "images": float(rows)}

        return interleaved(repeats, {
            "parallel-limit": lambda: parallel_limit(pipeline, corpus.images, cores),
            "imgpipe-hbase": lambda: imgpipe_run(config, work / "hbase-out", master=f"local[{cores}]"),
            "one-scanner-one-model": old_way,
        })  # fmt: skip


def read_throughput(rows: int, repeats: int, work: Path) -> dict[str, Measurement]:
    """Image cells only: imgpipe's region-parallel source (one task per region), the same source forced
    to one split, and one plain happybase scanner (product-photo sized cells, long side 640)."""
    import happybase

    from pyspark.sql.pandas.types import from_arrow_schema

    from imgpipe.config import parse_config
    from imgpipe.config.hbase import HBaseSourceConfig
    from imgpipe.config.sections import SparkConfig
    from imgpipe.hbase import scan
    from imgpipe.hbase.splits import HBaseSplit, plan_splits
    from imgpipe.ingest import ingest
    from imgpipe.spark.session import build_session

    corpus = Corpus(work, rows, sides=(640,), name="hbase-read")
    with hbase_service(work / "hbase-read") as (thrift, zk):
        done = ingest(corpus.files, "127.0.0.1", thrift, "bench", "f:img", regions=REGIONS, zk=zk)
        assert done.regions == REGIONS and done.rows == rows, done
        spark = build_session(SparkConfig(master=f"local[{REGIONS}]"))
        cfg = parse_config(source(thrift, "bench") + f"sink: {{type: parquet, path: '{work}/x'}}\n").job.source
        assert isinstance(cfg, HBaseSourceConfig)

        def spark_read(one_split: bool) -> Callable[[], Measurement]:
            """The source's own planning and scans in one task per split, image cells only (no inference)."""

            def run() -> Measurement:
                start = time.monotonic()
                splits = plan_splits(cfg)
                if one_split:  # the same machinery with one task over the whole table
                    splits = [HBaseSplit(0, b"", b"", "all", "whole table")]

                def read(indices: Any) -> Any:
                    for batch in indices:
                        for i in batch.column(0).to_pylist():
                            yield from scan.read_split(cfg, splits[i], max_batch_rows=32)

                tasks = spark.range(0, len(splits), 1, numPartitions=len(splits))
                df: Any = tasks.mapInArrow(read, from_arrow_schema(scan.schema(cfg)))
                n = df.selectExpr("sum(length(image)) as b", "count(*) as n").collect()[0]["n"]
                assert n == rows
                return {"seconds": time.monotonic() - start, "images": float(n)}

            return run

        def single_scanner() -> Measurement:
            start = time.monotonic()
            conn = happybase.Connection("127.0.0.1", thrift)
            n = sum(1 for _ in conn.table("bench").scan(columns=[b"f:img"], batch_size=16))
            conn.close()
            assert n == rows
            return {"seconds": time.monotonic() - start, "images": float(n)}

        try:
            spark_read(False)()  # warm-up: JVM, Python workers, HBase block cache alike for all
            return interleaved(repeats, {
                "single happybase scanner, one process": single_scanner,
                "imgpipe HBase source, 1 split (1 task)": spark_read(True),
                f"imgpipe HBase source, {REGIONS} regions ({REGIONS} tasks)": spark_read(False),
            })  # fmt: skip
        finally:
            spark.stop()
