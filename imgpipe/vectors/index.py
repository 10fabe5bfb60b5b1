"""The vector index on disk (faiss): its kind chosen from the corpus size, trained, filled in shards, merged, searched.

    INDEX/
      imgpipe-index.json   what the index holds: level, kind and parameters, models (name, sha256), run ids,
                           and the run's inference config (so ``imgpipe search`` embeds queries the same way)
      index.faiss          the faiss index: everything (flat), or the trained quantizer and list directory (IVF)
      index.ivfdata        IVF only: the inverted lists, memory-mapped when searched (faiss OnDiskInvertedLists)
      ids/part-*.parquet   id -> key, object_index, label, label_name, score, box, width, height
      _imgpipe/index.json  the marker, written first: this folder is an imgpipe index's (``imgpipe.vectors.folders``)

The kind follows the corpus size (``imgpipe.vectors.plan``). An IVF index is filled in independent shards that share
the trained quantizer (one per Spark partition) and merged list by list into one on-disk file, so no process ever
holds the whole corpus.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
from numpy.typing import NDArray

from imgpipe.errors import ConfigError, ImgpipeError, ModelError
from imgpipe.pipeline import ModelInfo
from imgpipe.vectors.columns import ID
from imgpipe.vectors.folders import DATASET, FILE, Layout
from imgpipe.vectors.plan import IndexPlan

META_FILE = "imgpipe-index.json"
INDEX_FILE = "index.faiss"
IVF_DATA = "index.ivfdata"
IDS_DIR = "ids"
SHARDS_DIR = "shards"
#: Everything an index build writes; ``--overwrite`` checks these hold nothing else, then removes them alone.
INDEX_LAYOUT = Layout(
    "index",
    {
        META_FILE: FILE,
        f"{META_FILE}.tmp": FILE,
        INDEX_FILE: FILE,
        IVF_DATA: FILE,
        IDS_DIR: DATASET,
        SHARDS_DIR: ("shard-*.faiss", "shard-*.faiss.*.tmp"),
    },
)
FORMAT = 1
METRIC = "inner_product"

#: Recall@10 against exact search that ``nprobe`` is tuned to reach, on a held-out part of the training sample.
TARGET_RECALL = 0.95
RECALL_K = 10


def empty_index(plan: IndexPlan, sample: NDArray[np.float32] | None = None) -> Any:
    """A faiss index ready for ``add_with_ids``: trained on ``sample`` when IVF."""
    index = faiss.index_factory(plan.dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
    if plan.is_ivf:
        if sample is None or len(sample) < plan.nlist:
            raise ImgpipeError(f"Expected at least {plan.nlist} training vectors, but got {0 if sample is None else len(sample)}")
        index.train(np.ascontiguousarray(sample, np.float32))
    return index


def serialize(index: Any) -> bytes:
    return bytes(faiss.serialize_index(index).tobytes())


def deserialize(blob: bytes) -> Any:
    return faiss.deserialize_index(np.frombuffer(blob, np.uint8))


def tune_nprobe(trained: bytes, sample: NDArray[np.float32], target: float = TARGET_RECALL) -> tuple[int, float]:
    """The smallest power-of-two ``nprobe`` reaching ``target`` recall@10, and that recall.

    Measured on the training sample: a held-out part queries an IVF index of the rest, against exact search
    over the same rest. In scripts/benchmark_index.py (50k and 500k vectors) this estimate came within 0.002
    of the recall measured against exact search over the whole index.
    """
    queries = min(1000, len(sample) // 10)
    base, held_out = sample[queries:], sample[:queries]
    exact = faiss.IndexFlatIP(sample.shape[1])
    exact.add(base)
    _, truth = exact.search(held_out, RECALL_K)
    index = deserialize(trained)
    index.add(base)
    ivf = faiss.extract_index_ivf(index)
    nprobe, found = 1, 0.0
    while True:
        ivf.nprobe = nprobe
        _, got = index.search(held_out, RECALL_K)
        found = recall(truth, got)
        if found >= target or nprobe >= ivf.nlist:
            return nprobe, found
        nprobe = min(nprobe * 2, ivf.nlist)


def recall(truth: NDArray[np.int64], got: NDArray[np.int64]) -> float:
    """Mean share of each row of ``truth`` found in the same row of ``got`` (recall@k)."""
    if len(truth) == 0:
        return 1.0
    hits = sum(len(set(t.tolist()) & set(g.tolist())) for t, g in zip(truth, got, strict=True))
    return hits / truth.size


def shard_ids(shard: int, start: int, count: int) -> NDArray[np.int64]:
    """Ids unique across shards without coordination: the shard number in the high 32 bits."""
    return (np.int64(shard) << np.int64(32)) + np.arange(start, start + count, dtype=np.int64)


def shard_path(index_dir: str | Path, shard: int) -> Path:
    return Path(index_dir) / SHARDS_DIR / f"shard-{shard:05d}.faiss"


def write_index_atomically(index: Any, path: Path) -> None:
    """Write via a temporary name and rename: a retried or speculative task's copy replaces it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)


def merge_shards(plan: IndexPlan, empty: bytes, shards: Sequence[Path], index_dir: Path) -> int:
    """Merge the shard files into ``index.faiss`` (+ ``index.ivfdata``); returns the vectors it holds."""
    target = index_dir / INDEX_FILE
    if plan.is_ivf:
        from faiss.contrib.ondisk import merge_ondisk

        index = deserialize(empty)
        # Streams each list from the memory-mapped shards into one file: memory stays bounded by one list.
        merge_ondisk(index, [str(s) for s in shards], str(index_dir / IVF_DATA))
    else:
        index = deserialize(empty)
        for shard in shards:
            index.merge_from(faiss.read_index(str(shard)))
    faiss.write_index(index, str(target))
    return int(index.ntotal)


@dataclass(frozen=True, kw_only=True)
class IndexMeta(IndexPlan):
    """``imgpipe-index.json``: the plan the index was built to, and everything else needed to trust and use it
    besides the vectors. ``save`` writes the file's ``format`` and the ``metric`` beside these fields.
    """

    level: str
    ntotal: int
    models: dict[str, dict[str, str]]
    run_ids: list[str]
    #: The run's output folder the vectors came from.
    source: str
    #: The run's decode/detect/crop/embed (``imgpipe.report.inference_config``); empty when it was not known.
    inference: dict[str, Any]
    nprobe: int
    #: recall@10 of ``nprobe`` measured on the training sample (IVF), or 1.0 (flat: exact).
    estimated_recall: float
    shards: int
    built_at: str = ""
    build_seconds: float = 0.0

    def save(self, index_dir: Path) -> None:
        tmp = index_dir / (META_FILE + ".tmp")
        data = {**asdict(self), "metric": METRIC, "format": FORMAT}
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, index_dir / META_FILE)

    @classmethod
    def load(cls, index_dir: Path) -> IndexMeta:
        path = index_dir / META_FILE
        if not path.is_file():
            raise ConfigError(
                f"{index_dir}: expected an imgpipe index ({META_FILE}), but there is none; "
                f"build one with: imgpipe index OUTPUT --out {index_dir}"
            )
        data = json.loads(path.read_text())
        found = data.pop("format", None)
        if found != FORMAT or data.pop("metric", None) != METRIC:
            raise ConfigError(f"{index_dir}: expected index format {FORMAT}, but got {found}; rebuild the index")
        return cls(**data)

    @property
    def embed_model(self) -> ModelInfo | None:
        info = self.models.get("embed")
        return ModelInfo(info["name"], info["sha256"]) if info else None


def describe_model(info: ModelInfo | None) -> str:
    return "no model" if info is None else f"{info.name} (sha256 {info.sha256[:12]}…)"


@dataclass
class VectorIndex:
    """An opened index: metadata, the faiss index (IVF lists memory-mapped), and the id -> entry mapping."""

    path: Path
    meta: IndexMeta
    index: Any

    @classmethod
    def open(cls, path: str | Path) -> VectorIndex:
        directory = Path(path)
        meta = IndexMeta.load(directory)
        flags = faiss.IO_FLAG_ONDISK_SAME_DIR if meta.is_ivf else 0
        index = faiss.read_index(str(directory / INDEX_FILE), flags)
        if meta.nprobe:
            faiss.extract_index_ivf(index).nprobe = meta.nprobe
        return cls(directory, meta, index)

    def check_model(self, model: ModelInfo | None, what: str) -> None:
        """Refuse vectors from another embedding model: their similarities to the index's would mean nothing."""
        built = self.meta.embed_model
        if built is not None and model is not None and built.sha256 == model.sha256:
            return
        raise ModelError(
            f"index {self.path} was built from vectors of {describe_model(built)}, but {what} is embedded with "
            f"{describe_model(model)}; search with the model the index was built with, or rebuild the index from "
            "a run with that model"
        )

    def search(self, vectors: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Inner products (cosine, for unit vectors) and ids of the ``k`` nearest; id -1 where fewer exist."""
        if vectors.ndim != 2 or vectors.shape[1] != self.meta.dim:
            raise ModelError(
                f"index {self.path}: expected {self.meta.dim}-d query vectors, but got shape {vectors.shape}"
            )
        sims, ids = self.index.search(np.ascontiguousarray(vectors, np.float32), k)
        return sims, ids

    def entries(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """id -> its row of ``ids/`` (key, object_index, label, label_name, score, box, width, height)."""
        wanted = sorted({int(i) for i in ids if i >= 0})
        if not wanted:
            return {}
        dataset = ds.dataset(str(self.path / IDS_DIR), format="parquet")
        table = dataset.to_table(filter=pc.field(ID).isin(wanted))
        return {int(row[ID]): row for row in table.to_pylist()}


@functools.lru_cache(maxsize=2)
def _open_cached(path: str, stamp: float) -> VectorIndex:
    return VectorIndex.open(path)


def open_cached(path: str) -> VectorIndex:
    """This process's opened copy of the index (Spark tasks in a reused Python worker share it)."""
    return _open_cached(path, os.stat(Path(path) / META_FILE).st_mtime)
