"""``imgpipe index`` on Spark: a run's results -> a faiss index, filled in Spark tasks, one shard per partition.

    results (Parquet) -> count and dimension (Spark SQL)            -> plan: flat, or IVF with nlist lists
                      -> a sample -> driver: train the quantizer, tune nprobe on the sample       (IVF only)
                      -> mapInArrow: each task adds its partition's vectors to a copy of the empty index,
                         writes shards/shard-<partition>.faiss and emits the id mapping -> ids/ (Spark's writer)
    shards -> merged on the driver, list by list, into index.faiss (+ index.ivfdata); imgpipe-index.json last

The index folder must be local to the driver and to every executor (a shared mount on a cluster): faiss
writes and memory-maps plain files.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from imgpipe import batch as B
from imgpipe.errors import ConfigError, ImgpipeError
from imgpipe.spark import fs
from imgpipe.vectors import columns as C
from imgpipe.vectors import index as X
from imgpipe.vectors import plan as P
from imgpipe.vectors.folders import prepare_folder

log = logging.getLogger("imgpipe.index")


def results_frame(spark: SparkSession, output: str) -> DataFrame:
    path = output.rstrip("/") + "/results"
    if not fs.exists(spark, path):
        raise ImgpipeError(
            f"{output}: expected a run's Parquet output with a results/ folder, but {path} does not exist"
        )
    return spark.read.parquet(path)


def vector_columns(results: DataFrame, level: str) -> DataFrame:
    """Only the columns ``columns.entries`` reads at ``level``: Parquet then skips the others."""
    names = set(results.columns)
    wanted = [B.KEY, B.STATUS, B.WIDTH, B.HEIGHT]
    if level == C.IMAGE:
        wanted.append(B.IMAGE_EMBEDDING)
    elif B.OBJECT_INDEX in names:
        wanted += [C.LABEL, C.LABEL_NAME, C.SCORE, C.BOX, "embedding"]
    else:
        wanted.append(B.OBJECTS)
    if B.OBJECT_INDEX in names:
        wanted.append(B.OBJECT_INDEX)
    return results.select(*wanted)


def arrow_schema(df: DataFrame) -> pa.Schema:
    return to_arrow_schema(df.schema)


def has_vector(results: DataFrame, level: str) -> Column:
    """Rows holding at least one vector at ``level`` (as Spark SQL, so counting needs no Python)."""
    ok = F.col(B.STATUS) == B.STATUS_OK
    if level == C.IMAGE:
        cond = ok & F.col(B.IMAGE_EMBEDDING).isNotNull()
        if B.OBJECT_INDEX in results.columns:
            cond = cond & (F.col(B.OBJECT_INDEX).isNull() | (F.col(B.OBJECT_INDEX) == 0))
        return cond
    if B.OBJECT_INDEX in results.columns:
        return ok & F.col("embedding").isNotNull()
    return ok & (_object_vectors() > 0)


def _object_vectors() -> Column:
    """Objects with a vector in a row's nested ``objects``."""
    return F.size(F.filter(B.OBJECTS, lambda o: o["embedding"].isNotNull()))


def count_vectors(results: DataFrame, level: str) -> int:
    rows = results.filter(has_vector(results, level))
    if level == C.OBJECT and B.OBJECT_INDEX not in results.columns:
        total = rows.select(F.sum(_object_vectors()).alias("n")).collect()[0]["n"]
        return int(total or 0)
    return rows.count()


def collect_vectors(results: DataFrame, level: str) -> np.ndarray:
    """The vectors of ``results`` on the driver, as one float32 matrix (for samples, never the corpus)."""
    selected = vector_columns(results, level)
    table = selected.toArrow()
    matrices = [C.to_matrix(C.entries(b, level).column(C.VECTOR)) for b in table.to_batches() if b.num_rows]
    matrices = [m for m in matrices if len(m)]
    return np.concatenate(matrices) if matrices else np.zeros((0, 0), np.float32)


def run_info(results: DataFrame, where: str) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The models (exactly one embedding model) and run ids behind ``results``."""
    if B.EMBED_MODEL not in results.columns:
        raise ImgpipeError(f"{where}: expected embeddings (an embed_model column), but the run had no embed stage")
    roles = {"embed": B.EMBED_MODEL, "detect": B.DETECT_MODEL}
    present = {role: col for role, col in roles.items() if col in results.columns}
    rows = results.filter(F.col(B.EMBED_MODEL).isNotNull()).select(B.RUN_ID, *present.values()).distinct().collect()
    models: dict[str, dict[str, str]] = {}
    for role, col in present.items():
        found = sorted({(r[col]["name"], r[col]["sha256"]) for r in rows if r[col] is not None})
        if role == "embed" and len(found) > 1:
            shown = ", ".join(f"{n} ({s[:12]}…)" for n, s in found)
            raise ImgpipeError(
                f"{where}: expected vectors from one embedding model, but the results mix {shown}; "
                "index the output of one model at a time"
            )
        if len(found) == 1:
            models[role] = {"name": found[0][0], "sha256": found[0][1]}
    return models, sorted({r[B.RUN_ID] for r in rows})


def run_inference(spark: SparkSession, output: str, required: bool = True) -> dict[str, Any]:
    """The inference sections the run recorded in its summary.json (``imgpipe run`` writes them).

    Only ``imgpipe search`` needs them; an index built without them (``required=False``) cannot be searched
    by image, but serves ``dedup`` all the same.
    """
    path = output.rstrip("/") + "/summary.json"
    text = fs.read_text(spark, path)
    inference = json.loads(text).get("inference") if text else None
    if not inference and required:
        raise ConfigError(
            f"{path}: expected the run's inference config (decode, detect, crop, embed), but found none; "
            "pass --config with the YAML file the run used"
        )
    return dict(inference or {})


def build_index(
    spark: SparkSession,
    output: str,
    index_dir: str,
    *,
    level: str | None = None,
    kind: str = "auto",
    inference: dict[str, Any] | None = None,
    overwrite: bool = False,
    target_recall: float = X.TARGET_RECALL,
) -> X.IndexMeta:
    """Build the index of ``output``'s vectors at ``level`` into ``index_dir``; returns its metadata."""
    started = time.monotonic()
    results = results_frame(spark, output)
    level = level or C.default_level(arrow_schema(results))
    C.check_level(arrow_schema(results), level, output)
    models, run_ids = run_info(results, output)
    inference = inference if inference is not None else run_inference(spark, output)
    target = prepare_folder(index_dir, overwrite, X.INDEX_LAYOUT, "--out", {"OUTPUT": output})

    count = count_vectors(results, level)
    first = collect_vectors(results.filter(has_vector(results, level)).limit(1), level)
    plan = P.plan_index(count, first.shape[1] if first.size else 0, kind)
    log.info("indexing %d vectors of %d dimensions at %s level as %s", count, plan.dim, level, plan.factory)
    empty, nprobe, estimated = _empty_index(results, level, plan, count, target_recall)
    source = results if plan.is_ivf else results.coalesce(1)
    written = add_shards(vector_columns(source, level), level, str(target), empty)
    shards = sorted((target / X.SHARDS_DIR).glob("shard-*.faiss"))
    ntotal = X.merge_shards(plan, empty, shards, target)
    shutil.rmtree(target / X.SHARDS_DIR)
    if ntotal != written:
        raise ImgpipeError(f"{target}: expected {written} vectors in the merged index, but it holds {ntotal}")
    meta = X.IndexMeta(
        **asdict(plan), level=level, ntotal=ntotal, models=models, run_ids=run_ids, source=output,
        inference=inference, nprobe=nprobe, estimated_recall=round(estimated, 4), shards=len(shards),
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(time.monotonic() - started, 2),
    )
    meta.save(target)
    return meta


def _empty_index(
    results: DataFrame, level: str, plan: P.IndexPlan, count: int, target_recall: float
) -> tuple[bytes, int, float]:
    """The serialized empty index every shard starts from; for IVF trained on a sample, with its nprobe."""
    if not plan.is_ivf:
        return X.serialize(X.empty_index(plan)), 0, 1.0
    began = time.monotonic()
    # Over-sample a little (Spark's sampling is per row, objects per row vary), then trim at random.
    fraction = min(1.0, 1.2 * plan.train_size / count)
    sample = collect_vectors(results.sample(fraction=fraction, seed=17), level)
    rng = np.random.default_rng(17)
    sample = sample[rng.permutation(len(sample))[: plan.train_size]]
    empty = X.serialize(X.empty_index(plan, sample))
    nprobe, estimated = X.tune_nprobe(empty, sample, target_recall)
    log.info(
        "trained %d lists on %d vectors and tuned nprobe=%d (recall@10 %.3f on the sample) in %.1fs",
        plan.nlist, len(sample), nprobe, estimated, time.monotonic() - began,
    )
    return empty, nprobe, estimated


def add_shards(selected: DataFrame, level: str, index_dir: str, empty: bytes) -> int:
    """One Spark task per partition adds its vectors to a shard file; the id mapping goes to ``ids/``."""
    keys = arrow_schema(selected).field(B.KEY).type
    ids_schema = pa.schema([pa.field(C.ID, pa.int64()), *C.entry_fields(keys)])

    def add(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        context = TaskContext.get()
        shard = context.partitionId() if context is not None else 0
        faiss.omp_set_num_threads(1)  # one core per Spark task
        index = X.deserialize(empty)
        added = 0
        for batch in batches:
            found = C.entries(batch, level)
            if not found.num_rows:
                continue
            ids = X.shard_ids(shard, added, found.num_rows)
            index.add_with_ids(np.ascontiguousarray(C.to_matrix(found.column(C.VECTOR))), ids)
            added += found.num_rows
            yield pa.RecordBatch.from_arrays(
                [pa.array(ids, pa.int64()), *[found.column(f.name).cast(f.type) for f in list(ids_schema)[1:]]],
                schema=ids_schema,
            )
        X.write_index_atomically(index, X.shard_path(index_dir, shard))

    mapping = selected.mapInArrow(add, from_arrow_schema(ids_schema))
    mapping.write.parquet(f"{index_dir}/{X.IDS_DIR}")
    return int(selected.sparkSession.read.parquet(f"{index_dir}/{X.IDS_DIR}").count())
