"""What the tasks count while they run the pass, collected with the write instead of by a second pass.

Each chunk gets a fresh accumulator; every task adds its ``Tally`` once its rows are done. Spark applies the
updates of successful tasks only, so a retried task is counted once, and the driver reads the chunk's tally
right after its commit. Counts are keyed as ``imgpipe.report`` reads them (``ok``, ``error:<reason>``,
``objects:<label>``, ``size:<bucket>``, ``seconds:<stage>``); the failed rows themselves come along (up to ``MAX_ERRORS`` per
task) so the errors dataset needs no read-back, and so do 64-bit key hashes when keys may repeat.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import Accumulator, AccumulatorParam
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.pipeline import Pipeline
from imgpipe.report import ERROR, OBJECTS, SECONDS, SIZE, SIZE_BUCKETS, TASK_SECONDS, TASKS
from imgpipe.spark.counts import Counts, add
from imgpipe.timings import StageTimes

#: Failed rows one task brings back with its counts; a task with more sends none and the run reads them back.
MAX_ERRORS = 1000
#: Key hashes the driver keeps to find repeated keys (8 bytes each); beyond, it reads the keys back.
MAX_KEYS = 5_000_000


@dataclass
class Tally:
    counts: Counts = field(default_factory=dict)
    #: (key, error_stage, error_reason, error) of failed rows.
    errors: list[tuple[Any, Any, Any, Any]] = field(default_factory=list)
    #: Failed rows a task had but did not bring back (over ``MAX_ERRORS``).
    errors_dropped: int = 0
    #: blake2b-64 of every key, when the source does not promise unique keys; None once too many to keep.
    key_hashes: list[int] | None = field(default_factory=list)

    def merge(self, other: Tally) -> Tally:
        add(self.counts, other.counts)
        self.errors += other.errors
        self.errors_dropped += other.errors_dropped
        if self.key_hashes is None or other.key_hashes is None or len(self.key_hashes) > MAX_KEYS:
            self.key_hashes = None  # the driver finds repeated keys by reading them back instead
        else:
            self.key_hashes += other.key_hashes
        return self


class _Merge(AccumulatorParam[Tally]):
    def zero(self, value: Tally) -> Tally:
        return Tally()

    def addInPlace(self, value1: Tally, value2: Tally) -> Tally:  # noqa: N802 - pyspark's name
        return value1.merge(value2)


def counter(spark: SparkSession) -> Accumulator[Tally]:
    return spark.sparkContext.accumulator(Tally(), _Merge())


@dataclass(frozen=True)
class Tallied:
    """The pipeline, timed and counted into ``tally`` as it runs in a task (a ``BatchFn``)."""

    pipeline: Pipeline
    tally: Accumulator[Tally]
    #: Collect key hashes (sources whose keys may repeat).
    hash_keys: bool = False

    def output_schema(self, input_schema: pa.Schema) -> pa.Schema:
        return self.pipeline.output_schema(input_schema)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        began = time.perf_counter()
        times, mine = StageTimes(), Tally()
        for out in self.pipeline(_timed_reads(batches, times), times):
            with times.stage("write"):
                self._count(out, mine)
            handed = time.perf_counter()
            yield out  # Spark takes the batch to the JVM and its writer before asking for the next one
            times.add("write", time.perf_counter() - handed)
        add(mine.counts, {f"{SECONDS}{stage}": s for stage, s in times.seconds.items()})
        add(mine.counts, {TASKS: 1, TASK_SECONDS: time.perf_counter() - began})
        self.tally.add(mine)

    def _count(self, out: pa.RecordBatch, into: Tally) -> None:
        statuses = out.column(B.STATUS).to_pylist()
        reasons = out.column(B.ERROR_REASON).to_pylist()
        outcomes: Counts = {}
        for status, reason in zip(statuses, reasons, strict=True):
            key = B.STATUS_OK if status == B.STATUS_OK else f"{ERROR}{reason}"
            outcomes[key] = outcomes.get(key, 0) + 1
        add(into.counts, outcomes)
        add(into.counts, _sizes(out))
        if B.OBJECTS in out.schema.names:
            add(into.counts, _labels(out.column(B.OBJECTS)))
        if outcomes.get(B.STATUS_OK, 0) < out.num_rows:
            _keep_errors(out, into)
        if self.hash_keys and into.key_hashes is not None:
            # A null key is a no_key error row, not a key: two of them are not a repeat (nor the string "None").
            into.key_hashes += [key_hash(k) for k in out.column(B.KEY).to_pylist() if k is not None]


def _timed_reads(batches: Iterator[pa.RecordBatch], times: StageTimes) -> Iterator[pa.RecordBatch]:
    """``batches``, with the time spent waiting for each counted as ``read``."""
    while True:
        with times.stage("read"):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def _sizes(out: pa.RecordBatch) -> Counts:
    longest = pc.max_element_wise(out.column(B.WIDTH), out.column(B.HEIGHT))
    counts: Counts = {}
    for side in longest.to_pylist():
        if side is not None:
            label = next(name for name, low in reversed(SIZE_BUCKETS) if side >= low)
            counts[f"{SIZE}{label}"] = counts.get(f"{SIZE}{label}", 0) + 1
    return counts


def _labels(objects: pa.Array) -> Counts:
    names = pc.struct_field(pc.list_flatten(objects), "label_name")
    return {f"{OBJECTS}{row['values']}": row["counts"] for row in pc.value_counts(names).to_pylist()}


def _keep_errors(out: pa.RecordBatch, into: Tally) -> None:
    failed = out.filter(pc.not_equal(out.column(B.STATUS), B.STATUS_OK))
    if into.errors_dropped or failed.num_rows > MAX_ERRORS - len(into.errors):
        into.errors_dropped += failed.num_rows  # the run reads the errors back instead
        return
    cols = [failed.column(name).to_pylist() for name in (B.KEY, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR)]
    into.errors += list(zip(*cols, strict=True))


def key_hash(key: Any) -> int:
    data = key if isinstance(key, bytes) else str(key).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
