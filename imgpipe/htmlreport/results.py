"""One streaming pass over a run's results Parquet: counts, label and score histograms, and a stable
sample of images; then their boxes, read back from only the files that hold them.

Reads the narrow columns only (never the embeddings), one file and batch at a time, so memory stays
bounded whatever the run's size. Both layouts are understood: one row per image with an ``objects``
list, and ``explode: true`` (one row per object, ``object_index`` null or 0 on an image's first row).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from imgpipe import batch as B
from imgpipe.htmlreport.run import RunOutput, dataset

SCORE_BINS = 20
_ROW_COLUMNS = (B.KEY, B.WIDTH, B.HEIGHT, B.STATUS, B.ERROR_REASON, B.ERROR, B.RUN_ID, B.OBJECT_INDEX)
_OBJECT_FIELDS = ("label_name", "score", "box")
_BATCH_ROWS = 8192


@dataclass(frozen=True)
class Detection:
    label_name: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original-image pixels


@dataclass
class SampleImage:
    key: Any
    width: int | None
    height: int | None
    status: str
    error_reason: str | None
    error: str | None
    objects: list[Detection] = field(default_factory=list)


@dataclass
class ResultStats:
    """What the results of one run hold, counted from the rows themselves."""

    layout: str = "nested"  # or "exploded"
    images: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    objects: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    score_counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(SCORE_BINS, np.int64))
    sample: list[SampleImage] = field(default_factory=list)


def read_results(out: RunOutput, run_id: str, samples: int) -> ResultStats | None:
    """Stats and ``samples`` images (the smallest key hashes, so the choice is stable) of run ``run_id``."""
    results = dataset(out, "results")
    if results is None:
        return None
    stats = ResultStats()
    chosen = _Sampler(samples)
    for path in sorted(results.files):
        for batch in _batches(out, path, run_id):
            _count(stats, batch)
            chosen.offer(batch, path)
    stats.sample = _sample_rows(out, run_id, chosen)
    return stats


def _batches(out: RunOutput, path: str, run_id: str) -> Iterator[pa.Table]:
    """This run's rows of one results file, with the narrow columns only."""
    with out.fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        columns = _narrow_columns(parquet)
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
            table = pa.Table.from_batches([batch])
            if B.RUN_ID in table.column_names:
                table = table.filter(pc.equal(table[B.RUN_ID], run_id))
            if table.num_rows:
                yield table


def _narrow_columns(parquet: pq.ParquetFile) -> list[str]:
    """Leaf column paths to read: the per-image fields and the objects' label, score and box, no embeddings."""
    wanted = set(_ROW_COLUMNS) | set(_OBJECT_FIELDS)
    paths = [parquet.schema.column(i).path for i in range(parquet.metadata.num_columns)]
    keep = []
    for path in paths:
        parts = path.split(".")
        if parts[0] in wanted or (parts[0] == B.OBJECTS and not {"embedding", "label"} & set(parts[1:])):
            keep.append(path)
    return keep


def _image_rows(table: pa.Table) -> pa.Table:
    if B.OBJECT_INDEX not in table.column_names:
        return table
    index = table[B.OBJECT_INDEX]
    return table.filter(pc.or_kleene(pc.is_null(index), pc.equal(index, 0)))


def _object_columns(table: pa.Table) -> tuple[pa.Array, pa.Array] | None:
    """Every object's label name and score in ``table``, in either layout."""
    if B.OBJECTS in table.column_names:
        flat = pc.list_flatten(table[B.OBJECTS].combine_chunks())
        return pc.struct_field(flat, "label_name"), pc.struct_field(flat, "score")
    if B.OBJECT_INDEX in table.column_names and "label_name" in table.column_names:
        objects = table.filter(pc.is_valid(table[B.OBJECT_INDEX]))
        return objects["label_name"].combine_chunks(), objects["score"].combine_chunks()
    return None


def _count(stats: ResultStats, table: pa.Table) -> None:
    images = _image_rows(table)
    stats.images += images.num_rows
    _tally(stats.by_status, images[B.STATUS])
    found = _object_columns(table)
    if found is None:
        return
    if B.OBJECT_INDEX in table.column_names:
        stats.layout = "exploded"
    labels, scores = found
    stats.objects += len(labels)
    _tally(stats.labels, labels)
    values = scores.to_numpy(zero_copy_only=False).astype(np.float64)
    stats.score_counts += np.histogram(values[np.isfinite(values)], bins=SCORE_BINS, range=(0.0, 1.0))[0]


def _tally(counter: Counter[str], values: pa.Array | pa.ChunkedArray) -> None:
    for item in pc.value_counts(values).to_pylist():
        counter[item["values"] if item["values"] is not None else "?"] += item["counts"]


def key_hash(key: Any) -> int:
    """A stable 64-bit hash of a row key (str or bytes), the same on every run and machine."""
    data = key if isinstance(key, bytes) else str(key).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class _Sampler:
    """Keeps the ``size`` keys with the smallest hashes seen so far, and the file each came from."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._heap: list[tuple[int, int, Any, str]] = []  # (-hash, tie, key, file): a max-heap by hash
        self._keys: set[Any] = set()

    def offer(self, table: pa.Table, path: str) -> None:
        if self.size <= 0:
            return
        for key in _image_rows(table)[B.KEY].to_pylist():
            if key is None or key in self._keys:
                continue
            entry = (-key_hash(key), len(self._keys), key, path)
            if len(self._heap) < self.size:
                heapq.heappush(self._heap, entry)
                self._keys.add(key)
            elif entry[0] > self._heap[0][0]:
                dropped = heapq.heapreplace(self._heap, entry)
                self._keys.discard(dropped[2])
                self._keys.add(key)

    def files(self) -> dict[str, set[Any]]:
        by_file: dict[str, set[Any]] = {}
        for _, _, key, path in self._heap:
            by_file.setdefault(path, set()).add(key)
        return by_file

    def order(self) -> list[Any]:
        return [key for _, _, key, _ in sorted(self._heap, reverse=True)]


def stats_of_table(table: pa.Table, samples: int) -> ResultStats:
    """The same for results already in memory, in the nested layout (a bounded scan of an HBase sink)."""
    stats = ResultStats()
    chosen = _Sampler(samples)
    _count(stats, table)
    chosen.offer(table, "")
    found: dict[Any, SampleImage] = {}
    _add_rows(found, table, set(chosen.order()))
    stats.sample = [found[key] for key in chosen.order() if key in found]
    return stats


def _sample_rows(out: RunOutput, run_id: str, chosen: _Sampler) -> list[SampleImage]:
    found: dict[Any, SampleImage] = {}
    for path, keys in chosen.files().items():
        for table in _batches(out, path, run_id):
            _add_rows(found, table, keys)
    return [found[key] for key in chosen.order() if key in found]


def _add_rows(found: dict[Any, SampleImage], table: pa.Table, keys: set[Any]) -> None:
    wanted = table.filter(pc.is_in(table[B.KEY], value_set=pa.array(list(keys), table.schema.field(B.KEY).type)))
    for row in wanted.to_pylist():
        _add_row(found, row)


def _add_row(found: dict[Any, SampleImage], row: dict[str, Any]) -> None:
    key = row[B.KEY]
    image = found.get(key)
    if image is None:
        image = found[key] = SampleImage(
            key, row.get(B.WIDTH), row.get(B.HEIGHT), row[B.STATUS], row.get(B.ERROR_REASON), row.get(B.ERROR)
        )
    elif B.OBJECT_INDEX not in row:
        return  # a duplicated key: the first row stands for it
    for obj in row.get(B.OBJECTS) or ([row] if row.get(B.OBJECT_INDEX) is not None else []):
        image.objects.append(_detection(obj))
    image.objects.sort(key=lambda d: -d.score)


def _detection(obj: dict[str, Any]) -> Detection:
    box = obj.get("box") or {}
    x1, y1, x2, y2 = (float(box.get(k) or 0.0) for k in ("x1", "y1", "x2", "y2"))
    return Detection(str(obj.get("label_name") or "?"), float(obj.get("score") or 0.0), (x1, y1, x2, y2))
