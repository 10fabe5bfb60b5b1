"""imgpipe's benchmark: ratios measured side by side in one run (absolute times drift on a shared machine).

    .venv/bin/python scripts/benchmark.py [--images 320] [--repeats 3] [--hbase-rows 3000] [--skip-hbase]

Part 1, inference throughput on one corpus (the shared photos re-encoded as JPEG at long side
800/1600/3000, repeated): a plain single-process Python loop over the same stage functions, imgpipe's
fused mapInArrow job on local[2], and the same job with the reduced JPEG decode switched off.

Part 2, HBase read throughput (read parallelism must follow regions): an 8-region table read by
imgpipe's region-parallel source (one Spark task per region), by the same source forced to one split,
and by one plain happybase scanner over the same table. HBase + Thrift are started with scripts/hbase/start.sh on free ports.

Variants run interleaved (A B C A B C ...) and each figure is the median of the repeats.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMGPIPE_SHARED", REPO.parent / "shared"))
os.environ.setdefault("IMGPIPE_MODEL_MIRROR", str(SHARED / "models"))

from imgpipe.config import parse_config  # noqa: E402
from imgpipe.config.hbase import HBaseSourceConfig  # noqa: E402
from imgpipe.config.sections import SparkConfig  # noqa: E402
from imgpipe.preflight import build_pipeline  # noqa: E402
from imgpipe.job import run_on  # noqa: E402
from imgpipe.spark.session import build_session  # noqa: E402

MODELS = """
detect: {model: yolox-nano, score_threshold: 0.3}
crop: {top_k: 3, min_size: 32}
embed: {model: mobilenetv2-int8}
"""


def build_corpus(target: Path, count: int, sides: tuple[int, ...] = (800, 1600, 3000)) -> list[Path]:
    photos = sorted(p for p in (SHARED / "images").iterdir() if p.suffix.lower() in (".jpg", ".png", ".bmp"))
    target.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    while len(files) < count:
        i = len(files)
        img = cv2.imread(str(photos[i % len(photos)]), cv2.IMREAD_COLOR)
        side = sides[(i // len(photos)) % len(sides)]
        scale = side / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)
        path = target / f"img_{i:05d}.jpg"
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        files.append(path)
    return files


def median_of(repeats: int, variants: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Seconds per variant; runs them interleaved so drift on the machine hits every variant alike."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(fn())
    return {name: statistics.median(t) for name, t in times.items()}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plain_loop(files: list[Path]) -> Callable[[], float]:
    """What a script without Spark would do: one process, one image at a time, same stage code."""
    loaded = parse_config(f"source: {{type: files, path: /tmp}}\nsink: {{type: parquet, path: /tmp/x}}\n{MODELS}")
    pipeline = build_pipeline(loaded, run_id="bench")

    def run() -> None:
        for path in files:
            batch = pa.RecordBatch.from_pydict({"key": [str(path)], "image": [path.read_bytes()]})
            pipeline.process(batch)

    return lambda: timed(run)


def spark_job(spark: object, corpus: Path, out: Path, extra: str = "") -> Callable[[], float]:
    text = f"source: {{type: files, path: '{corpus}'}}\nsink: {{type: parquet, path: '{out}', mode: overwrite}}\n"
    loaded = parse_config(text + MODELS + extra)

    def run() -> None:
        report = run_on(spark, loaded, build_pipeline(loaded))  # type: ignore[arg-type]
        assert report.images_failed == 0

    return lambda: timed(run)


def part_inference(images: int, repeats: int, work: Path) -> list[tuple[str, float, int]]:
    files = build_corpus(work / "corpus", images)
    spark = build_session(SparkConfig(master="local[2]"))
    try:
        variants = {
            "plain Python loop, 1 process (baseline)": plain_loop(files),
            "imgpipe fused mapInArrow, local[2]": spark_job(spark, work / "corpus", work / "out1"),
            "imgpipe, reduced JPEG decode off": spark_job(
                spark, work / "corpus", work / "out2", "decode: {reduced_decode_min_side: null}\n"
            ),
        }
        variants["imgpipe fused mapInArrow, local[2]"]()  # warm the JVM and the Python workers
        seconds = median_of(repeats, variants)
    finally:
        spark.stop()
    return [(name, s, images) for name, s in seconds.items()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_hbase(run_dir: Path) -> tuple[int, int]:
    thrift, zk = free_port(), free_port()
    cmd = [str(REPO / "scripts/hbase/start.sh"), "--dir", str(run_dir), "--clean",
           "--thrift-port", str(thrift), "--zk-port", str(zk), "--timeout", "240"]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=600, env={**os.environ, "IMGPIPE_PYTHON": sys.executable})
    return thrift, zk


def part_hbase_read(rows: int, repeats: int, work: Path) -> list[tuple[str, float, int]]:
    import happybase

    from imgpipe.ingest import ingest

    # Product-photo sized cells (long side 640, ~60 KB): many rows, where per-call latency matters.
    files = build_corpus(work / "hbase-corpus", rows, sides=(640,))
    run_dir = work / "hbase"
    thrift, zk = start_hbase(run_dir)
    try:
        result = ingest(work / "hbase-corpus", "127.0.0.1", thrift, "bench", "f:img", regions=8, zk=f"127.0.0.1:{zk}")
        assert result.regions == 8 and result.rows == len(files)
        spark = build_session(SparkConfig(master="local[8]"))
        source = f"source: {{type: hbase, host: 127.0.0.1, port: {thrift}, table: bench, column: 'f:img'}}\n"

        def spark_read(one_split: bool) -> Callable[[], float]:
            from pyspark.sql.pandas.types import from_arrow_schema

            from imgpipe.hbase import scan
            from imgpipe.hbase.splits import HBaseSplit, plan_splits

            cfg = parse_config(source + f"sink: {{type: parquet, path: '{work}/x'}}\n").job.source
            assert isinstance(cfg, HBaseSourceConfig)

            def run() -> float:
                start = time.perf_counter()
                splits = plan_splits(cfg)
                if one_split:  # the same machinery with one task over the whole table
                    splits = [HBaseSplit(0, b"", b"", "all", "whole table")]

                def read(indices: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
                    for batch in indices:
                        for i in batch.column(0).to_pylist():
                            yield from scan.read_split(cfg, splits[i], max_batch_rows=32)

                tasks = spark.range(0, len(splits), 1, numPartitions=len(splits))
                df = tasks.mapInArrow(read, from_arrow_schema(scan.schema(cfg)))
                n = df.selectExpr("sum(length(image)) as b", "count(*) as n").collect()[0]["n"]
                assert n == len(files)
                return time.perf_counter() - start

            return run

        region_parallel = spark_read(one_split=False)

        def single_scanner() -> float:
            start = time.perf_counter()
            conn = happybase.Connection("127.0.0.1", thrift)
            n = sum(1 for _ in conn.table("bench").scan(columns=[b"f:img"], batch_size=16))
            conn.close()
            assert n == len(files)
            return time.perf_counter() - start

        try:
            region_parallel()  # warm-up: JVM, Python workers, HBase block cache alike for both
            seconds = median_of(repeats, {
                "single happybase scanner, one process (baseline)": single_scanner,
                "imgpipe HBase source, 1 split (1 task), local[8]": spark_read(one_split=True),
                "imgpipe HBase source, 8 regions (8 tasks), local[8]": region_parallel,
            })  # fmt: skip
        finally:
            spark.stop()
    finally:
        subprocess.run([str(REPO / "scripts/hbase/stop.sh"), "--dir", str(run_dir)], timeout=120, check=False)
    return [(name, s, rows) for name, s in seconds.items()]


def part_hbase_inference(rows: int, repeats: int, work: Path) -> list[tuple[str, float, int]]:
    """The mission's case: HBase -> detect/crop/embed -> results, the old way against imgpipe."""
    import happybase

    from imgpipe.ingest import ingest

    files = build_corpus(work / "e2e-corpus", rows, sides=(640, 1280))
    run_dir = work / "hbase-e2e"
    thrift, zk = start_hbase(run_dir)
    try:
        ingest(work / "e2e-corpus", "127.0.0.1", thrift, "e2e", "f:img", regions=8, zk=f"127.0.0.1:{zk}")
        source = f"source: {{type: hbase, host: 127.0.0.1, port: {thrift}, table: e2e, column: 'f:img'}}\n"
        loaded = parse_config(source + f"sink: {{type: parquet, path: '{work}/e2e-out', mode: overwrite}}\n" + MODELS)
        pipeline = build_pipeline(loaded, run_id="bench")

        def old_way() -> float:
            """One client scans the table and feeds one model process: reading tied to the replica."""
            start = time.perf_counter()
            conn = happybase.Connection("127.0.0.1", thrift)
            keys, images = [], []
            for key, cells in conn.table("e2e").scan(columns=[b"f:img"], batch_size=16):
                keys.append(key)
                images.append(cells[b"f:img"])
                if len(keys) == 16:
                    pipeline.process(pa.RecordBatch.from_pydict({"key": keys, "image": images}))
                    keys, images = [], []
            if keys:
                pipeline.process(pa.RecordBatch.from_pydict({"key": keys, "image": images}))
            conn.close()
            return time.perf_counter() - start

        spark = build_session(SparkConfig(master="local[2]"))
        try:
            job = lambda: timed(lambda: run_on(spark, loaded, build_pipeline(loaded)))  # noqa: E731
            job()  # warm-up
            seconds = median_of(repeats, {
                "one scanner feeding one model process (baseline)": old_way,
                "imgpipe HBase -> Parquet, 8 regions fused, local[2]": job,
            })  # fmt: skip
        finally:
            spark.stop()
    finally:
        subprocess.run([str(REPO / "scripts/hbase/stop.sh"), "--dir", str(run_dir)], timeout=120, check=False)
    return [(name, s, len(files)) for name, s in seconds.items()]


def table(title: str, rows: list[tuple[str, float, int]]) -> Iterator[str]:
    base = rows[0][2] / rows[0][1]
    yield f"\n{title}\n"
    yield f"| variant | images | median s | images/s | ratio to baseline |"
    yield "| --- | ---: | ---: | ---: | ---: |"
    for name, seconds, n in rows:
        rate = n / seconds
        yield f"| {name} | {n} | {seconds:.2f} | {rate:.1f} | {rate / base:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hbase-rows", type=int, default=3000)
    parser.add_argument("--skip-hbase", action="store_true")
    parser.add_argument("--skip-inference", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="imgpipe-bench-"))
    os.environ.setdefault("IMGPIPE_MODEL_CACHE", str(work / "models"))
    lines = [f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
    try:
        if not args.skip_inference:
            lines += table("Inference (decode -> detect -> crop top-3 -> embed)",
                           part_inference(args.images, args.repeats, work))  # fmt: skip
        if not args.skip_hbase:
            lines += table("HBase read (image cells only, no inference)",
                           part_hbase_read(args.hbase_rows, args.repeats, work))  # fmt: skip
            lines += table("HBase end to end (scan -> decode -> detect -> crop -> embed -> write)",
                           part_hbase_inference(args.images, args.repeats, work))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
