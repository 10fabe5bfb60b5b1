"""An index folder written in-process with the same functions the Spark build calls (no Spark in unit tests)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from imgpipe.vectors import columns as C
from imgpipe.vectors import index as X
from imgpipe.vectors import plan as P
from imgpipe.vectors.folders import prepare_folder


def write_index(
    target: Path,
    keys: list[str],
    vectors: np.ndarray,
    *,
    kind: str = "flat",
    shards: int = 2,
    models: dict[str, dict[str, str]] | None = None,
    inference: dict[str, Any] | None = None,
) -> X.IndexMeta:
    """Entries ``keys`` (image level) with ``vectors``, split over ``shards`` shards, merged like ``build_index``."""
    plan = P.plan_index(len(keys), vectors.shape[1], kind)
    sample = vectors[: plan.train_size] if plan.is_ivf else None
    empty = X.serialize(X.empty_index(plan, sample))
    nprobe, estimated = X.tune_nprobe(empty, sample) if sample is not None else (0, 1.0)
    prepare_folder(str(target), False, X.INDEX_LAYOUT, "--out")
    ids_schema = pa.schema([pa.field(C.ID, pa.int64()), *C.entry_fields(pa.string())])
    for shard, part in enumerate(np.array_split(np.arange(len(keys)), shards)):
        ids = X.shard_ids(shard, 0, len(part))
        index = X.deserialize(empty)
        index.add_with_ids(vectors[part], ids)
        X.write_index_atomically(index, X.shard_path(target, shard))
        rows = [{C.ID: int(i), "key": keys[p], "width": 10, "height": 10} for i, p in zip(ids, part)]
        (target / X.IDS_DIR).mkdir(exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=ids_schema), target / X.IDS_DIR / f"part-{shard}.parquet")
    paths = sorted((target / X.SHARDS_DIR).glob("*.faiss"))
    ntotal = X.merge_shards(plan, empty, paths, target)
    meta = X.IndexMeta(
        **asdict(plan), level=C.IMAGE, ntotal=ntotal,
        models=models if models is not None else {"embed": {"name": "tiny", "sha256": "a" * 64}},
        run_ids=["r1"], source="out", inference=inference or {}, nprobe=nprobe, estimated_recall=estimated,
        shards=shards,
    )  # fmt: skip
    meta.save(target)
    return meta
