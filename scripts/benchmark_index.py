"""Vector index at scale: synthetic clustered vectors -> an IVF index built through Spark tasks -> recall and latency.

    .venv/bin/python scripts/benchmark_index.py [--sizes 50000 500000] [--queries 1000] [--master local[2]]

For each size: a Spark job generates N x 1280 float32 unit vectors (clusters of low intrinsic dimension, like
image features) as a run's results/; ``imgpipe.job.index.build_index`` builds an ``ivf-flat`` index (a
sample trains the quantizer on the driver, Spark tasks fill one shard per partition, the shards are merged on
disk); exact top-10 of 1,000 held-out queries is computed in Spark tasks (a brute-force scan of every
partition) and compared with the index's top-10. Recorded: build time, peak memory of the process tree
(driver JVM and Python workers, sampled from /proc), index size on disk, recall@10 and query latency.
The integration test ``test_ivf_index_at_scale`` runs the same at 50,000.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pyspark import cloudpickle  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql.pandas.types import from_arrow_schema  # noqa: E402

from imgpipe import batch as B  # noqa: E402
from imgpipe.config.sections import SparkConfig  # noqa: E402
from imgpipe.job.index import build_index  # noqa: E402
from imgpipe.spark.session import build_session  # noqa: E402
from imgpipe.vectors.index import VectorIndex, recall  # noqa: E402

if __name__ != "__main__":
    # Imported by a test: Spark's Python workers cannot import scripts/, so ship these functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])

DIM = 1280
#: Points per cluster, each cluster a 16-d linear patch around its centre plus a little isotropic noise:
#: neighbourhoods are well defined (as for real features) and spill over several IVF lists.
CLUSTER_SIZE, RANK, SPREAD, NOISE = 500, 16, 0.5, 0.2
ROWS_PER_BATCH = 1000
SEED = 20261130
MODEL = {"name": "synthetic", "sha256": "0" * 64}
RESULTS_SCHEMA = pa.schema(
    [
        pa.field(B.KEY, pa.string()),
        pa.field(B.WIDTH, pa.int32()),
        pa.field(B.HEIGHT, pa.int32()),
        pa.field(B.STATUS, pa.string()),
        pa.field(B.IMAGE_EMBEDDING, pa.list_(pa.float32())),
        pa.field(B.EMBED_MODEL, B.model_type()),
        pa.field(B.RUN_ID, pa.string()),
    ]
)


def clusters(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster centres and 16-d bases, the same in every task (from the fixed seed)."""
    rng = np.random.default_rng(SEED)
    centres = rng.standard_normal((count, DIM), dtype=np.float32) / np.sqrt(DIM)
    bases = rng.standard_normal((count, RANK, DIM), dtype=np.float32) * (SPREAD / np.sqrt(DIM))
    return centres, bases


def synthetic_vectors(part: int, rows: int, centres: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """``rows`` unit vectors for partition ``part``; deterministic, so a retried task writes the same rows."""
    rng = np.random.default_rng([SEED, part])
    label = rng.integers(0, len(centres), rows)
    z = rng.standard_normal((rows, RANK), dtype=np.float32)
    x = rng.standard_normal((rows, DIM), dtype=np.float32) * np.float32(NOISE / np.sqrt(DIM))
    x += centres[label]
    for c in np.unique(label):
        rows_c = label == c
        x[rows_c] += z[rows_c] @ bases[c]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def results_batch(part: int, start: int, vectors: np.ndarray) -> pa.RecordBatch:
    n = len(vectors)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * DIM)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([f"synthetic/{part:05d}/{start + i:07d}" for i in range(n)]),
            pa.array(np.full(n, 640, np.int32)),
            pa.array(np.full(n, 480, np.int32)),
            pa.array([B.STATUS_OK] * n),
            pa.ListArray.from_arrays(offsets, flat, type=pa.list_(pa.float32())),
            pa.array([MODEL] * n, B.model_type()),
            pa.array(["synthetic"] * n),
        ],
        schema=RESULTS_SCHEMA,
    )


def generate(spark: SparkSession, out: Path, count: int, partitions: int) -> None:
    """A run's output of ``count`` synthetic image embeddings, written by a Spark job: ``out/results``."""
    n_clusters = max(1, count // CLUSTER_SIZE)
    per_part = -(-count // partitions)

    def make(parts: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        centres, bases = clusters(n_clusters)  # once per task: 1,000 clusters take a second to draw
        for batch in parts:
            for part in batch.column(0).to_pylist():
                rows = max(0, min(per_part, count - part * per_part))
                for start in range(0, rows, ROWS_PER_BATCH):
                    n = min(ROWS_PER_BATCH, rows - start)
                    seed = part * 1000 + start // ROWS_PER_BATCH
                    yield results_batch(part, start, synthetic_vectors(seed, n, centres, bases))

    tasks = spark.range(0, partitions, 1, numPartitions=partitions)
    tasks.mapInArrow(make, from_arrow_schema(RESULTS_SCHEMA)).write.parquet(str(out / "results"))


def held_out_queries(count: int, corpus_size: int) -> np.ndarray:
    """Fresh points of the same clusters, never indexed (a partition number no task uses)."""
    return synthetic_vectors(10**9, count, *clusters(max(1, corpus_size // CLUSTER_SIZE)))


def exact_top_k(spark: SparkSession, out: Path, queries: np.ndarray, k: int = 10) -> list[list[str]]:
    """Exact top-k keys of each query, by a brute-force scan in Spark tasks (the corpus never meets the driver)."""
    schema = pa.schema([("query", pa.int32()), ("key", pa.string()), ("similarity", pa.float32())])

    def scan(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        best_sims = np.full((len(queries), 0), -np.inf, np.float32)
        best_keys = np.empty((len(queries), 0), object)
        for batch in batches:
            values = batch.column(B.IMAGE_EMBEDDING).flatten().to_numpy().reshape(-1, DIM)
            sims = queries @ values.T
            keys = np.array(batch.column(B.KEY).to_pylist(), object)
            sims = np.concatenate([best_sims, sims], axis=1)
            all_keys = np.concatenate([best_keys, np.broadcast_to(keys, (len(queries), len(keys)))], axis=1)
            top = np.argsort(-sims, axis=1)[:, :k]
            best_sims = np.take_along_axis(sims, top, 1)
            best_keys = np.take_along_axis(all_keys, top, 1)
        rows = [(q, best_keys[q, j], best_sims[q, j]) for q in range(len(queries)) for j in range(best_sims.shape[1])]
        yield pa.RecordBatch.from_pylist([dict(zip(schema.names, r)) for r in rows], schema=schema)

    df = spark.read.parquet(str(out / "results")).select(B.KEY, B.IMAGE_EMBEDDING)
    found = df.mapInArrow(scan, from_arrow_schema(schema)).collect()
    per_query: dict[int, list[tuple[float, str]]] = {}
    for row in found:
        per_query.setdefault(row["query"], []).append((row["similarity"], row["key"]))
    return [[key for _, key in sorted(per_query[q], reverse=True)[:k]] for q in range(len(queries))]


@dataclass
class ScaleResult:
    vectors: int
    partitions: int
    generate_s: float
    build_s: float
    peak_rss_mb: float
    index_mb: float
    nlist: int
    nprobe: int
    recall_at_10: float
    estimated_recall: float
    latency_ms_median: float
    latency_ms_p95: float
    load_during_build: float


class PeakMemory:
    """Peak resident memory of this process and all its descendants (JVM, Python workers), sampled from /proc,
    and the machine's mean 1-minute load average meanwhile (the machine is shared)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self.loads: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(os.getpid()))
            self.loads.append(os.getloadavg()[0])
            self._stop.wait(self.interval)


def tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def query_latency(index: VectorIndex, queries: np.ndarray, k: int = 10) -> tuple[float, float]:
    """Median and p95 of one query at a time (what ``imgpipe search`` does per object), in ms."""
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None, :], k)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def run_scale(spark: SparkSession, work: Path, count: int, partitions: int, queries: int = 1000) -> ScaleResult:
    out, index_dir = work / f"corpus-{count}", work / f"index-{count}"
    began = time.perf_counter()
    generate(spark, out, count, partitions)
    generated = time.perf_counter() - began
    with PeakMemory() as memory:
        began = time.perf_counter()
        meta = build_index(spark, str(out), str(index_dir), kind="ivf-flat", inference={})
        built = time.perf_counter() - began
    q = held_out_queries(queries, count)
    truth = exact_top_k(spark, out, q)
    index = VectorIndex.open(index_dir)
    _, ids = index.search(q, 10)
    keys = index.entries(ids.ravel().tolist())
    got = [[keys[int(i)][B.KEY] for i in row if i >= 0] for row in ids]
    found = recall(np.array(truth, object), np.array([row + [""] * (10 - len(row)) for row in got], object))
    median, p95 = query_latency(index, q[:200])
    return ScaleResult(
        count, partitions, round(generated, 1), round(built, 1), round(memory.peak / 2**20),
        round(folder_mb(index_dir), 1), meta.nlist, meta.nprobe, round(found, 4), meta.estimated_recall,
        round(median, 2), round(p95, 2), round(statistics.mean(memory.loads or [0.0]), 1),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--rows-per-partition", type=int, default=25_000)
    args = parser.parse_args()
    conf = {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": 8}
    spark = build_session(SparkConfig(master=args.master, conf=conf, max_records_per_batch=1024))
    work = Path(tempfile.mkdtemp(prefix="imgpipe-index-bench-"))
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
        for count in args.sizes:
            partitions = max(2, -(-count // args.rows_per_partition))
            result = run_scale(spark, work, count, partitions, args.queries)
            print(result, flush=True)
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
