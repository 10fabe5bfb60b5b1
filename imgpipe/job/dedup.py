"""``imgpipe dedup`` on Spark: near-duplicate groups of a run's images (or objects), written as Parquet.

    results -> index (built into DIR/index unless --index names one)
    results --mapInArrow: k-NN of every vector against the index (each task opens it once) --> pairs >= T
    pairs + index ids/ -> edges (id, id) -> connected components (large-star/small-star, components.py)
    members + ids/ -> representative of each group (largest image, or box, then smallest key)
    members' vectors --mapInArrow--> similarity to the representative -> DIR/groups (Spark's writer), summary.json

Only images (or objects) with at least one near-duplicate appear in ``groups``; everything else is unique.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from imgpipe import batch as B
from imgpipe.errors import ImgpipeError
from imgpipe.job.index import arrow_schema, build_index, results_frame, run_inference, vector_columns
from imgpipe.spark.components import COMPONENT, DST, SRC, connected_components
from imgpipe.spark.components import ID as NODE
from imgpipe.spark.session import cores_per_task
from imgpipe.vectors import columns as C
from imgpipe.vectors import dedup as D
from imgpipe.vectors.dedup import CHECKPOINTS, DEDUP_LAYOUT, GROUPS_DIR, INDEX_DIR, SUMMARY
from imgpipe.vectors.folders import prepare_folder
from imgpipe.vectors.index import IDS_DIR, VectorIndex, open_cached

log = logging.getLogger("imgpipe.dedup")

GROUP, GROUP_SIZE = "group", "group_size"
REPRESENTATIVE, REPRESENTATIVE_OBJECT = "representative", "representative_object_index"
#: Neighbours looked up per vector. Groups larger than this still join up through shared neighbours.
DEFAULT_K = 20


@dataclass
class DedupReport:
    output: str
    level: str
    threshold: float
    k: int
    index: str
    vectors: int = 0
    pairs: int = 0
    groups: int = 0
    grouped: int = 0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)

    def format_text(self) -> str:
        return "\n".join(
            [
                f"dedup {self.output} at {self.level} level, similarity >= {self.threshold} (k={self.k})",
                f"  vectors       {self.vectors}",
                f"  pairs         {self.pairs}",
                f"  groups        {self.groups} ({self.grouped} members)",
                f"  wall time     {self.seconds:.1f} s",
                *[f"  {name:<13} {path}" for name, path in self.outputs.items()],
            ]
        )


def dedup(
    spark: SparkSession,
    output: str,
    out_dir: str,
    *,
    threshold: float,
    level: str = C.IMAGE,
    k: int = DEFAULT_K,
    index_dir: str | None = None,
    overwrite: bool = False,
) -> DedupReport:
    started = time.monotonic()
    out = prepare_folder(out_dir, overwrite, DEDUP_LAYOUT, "--out", {"OUTPUT": output, "--index": index_dir})
    results = results_frame(spark, output)
    C.check_level(arrow_schema(results), level, output)
    if index_dir is None:
        index_dir = str(out / INDEX_DIR)
        build_index(spark, output, index_dir, level=level, inference=run_inference(spark, output, required=False))
    index = _checked_index(index_dir, results, level)
    report = DedupReport(output, level, threshold, k, str(index.path), vectors=index.meta.ntotal)
    edges = candidate_edges(spark, results, index, level, k, threshold).cache()
    report.pairs = edges.count()
    groups = _with_checkpoints(spark, out / CHECKPOINTS, lambda: _groups(spark, results, index, level, edges, out))
    edges.unpersist()
    report.groups, report.grouped = groups
    report.outputs = {"written": str(out / GROUPS_DIR), "index": str(index.path), "summary": str(out / SUMMARY)}
    report.seconds = round(time.monotonic() - started, 2)
    (out / SUMMARY).write_text(json.dumps(asdict(report), indent=2, sort_keys=True))
    return report


def _checked_index(index_dir: str, results: DataFrame, level: str) -> VectorIndex:
    index = VectorIndex.open(index_dir)
    if index.meta.level != level:
        raise ImgpipeError(
            f"index {index.path} holds {index.meta.level} vectors, but dedup was asked for the {level} level; "
            f"build one with --level {level} or omit --index"
        )
    run_ids = sorted(r[0] for r in results.select(B.RUN_ID).distinct().collect())
    if run_ids != index.meta.run_ids:
        raise ImgpipeError(
            f"index {index.path} was built from run(s) {index.meta.run_ids}, but the results hold {run_ids}; "
            "rebuild the index, or omit --index"
        )
    return index


def _same_entry(left: DataFrame, right: DataFrame) -> Column:
    return left[B.KEY].eqNullSafe(right[B.KEY]) & left[B.OBJECT_INDEX].eqNullSafe(right[B.OBJECT_INDEX])


def candidate_edges(
    spark: SparkSession, results: DataFrame, index: VectorIndex, level: str, k: int, threshold: float
) -> DataFrame:
    """(src, dst, similarity) for every pair of entries at or above ``threshold`` among each other's k nearest."""
    selected = vector_columns(results, level)
    path, threads = str(index.path), cores_per_task(spark)
    schema = D.pairs_schema(arrow_schema(selected).field(B.KEY).type)

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        faiss.omp_set_num_threads(threads)
        opened = open_cached(path)
        for batch in batches:
            yield D.knn_pairs(opened, C.entries(batch, level), k + 1, threshold)

    pairs = selected.mapInArrow(search, from_arrow_schema(schema)).alias("p")
    ids = spark.read.parquet(f"{path}/{IDS_DIR}").alias("i")
    joined = pairs.join(ids, _same_entry(pairs, ids))
    edges = joined.select(F.col(f"i.{C.ID}").alias(SRC), F.col(D.NEIGHBOUR).alias(DST), F.col(D.SIMILARITY))
    edges = edges.filter(F.col(SRC) != F.col(DST))
    return edges.select(F.least(SRC, DST).alias(SRC), F.greatest(SRC, DST).alias(DST), D.SIMILARITY).groupBy(
        SRC, DST
    ).agg(F.max(D.SIMILARITY).alias(D.SIMILARITY))


def _with_checkpoints(spark: SparkSession, folder: Path, body: Callable[[], tuple[int, int]]) -> tuple[int, int]:
    context = spark.sparkContext
    before = context.getCheckpointDir()
    context.setCheckpointDir(str(folder))
    try:
        return body()
    finally:
        if before:
            context.setCheckpointDir(before)
        shutil.rmtree(folder, ignore_errors=True)


def _groups(
    spark: SparkSession, results: DataFrame, index: VectorIndex, level: str, edges: DataFrame, out: Path
) -> tuple[int, int]:
    components = connected_components(edges.select(SRC, DST))
    ids = spark.read.parquet(f"{index.path}/{IDS_DIR}")
    members = components.withColumnRenamed(NODE, C.ID).join(ids, C.ID)
    members = _with_representative(members, level).cache()
    grouped = _similarity_to_representative(results, members, level)
    columns = [B.KEY, *([B.OBJECT_INDEX] if level == C.OBJECT else []), GROUP, GROUP_SIZE, REPRESENTATIVE]
    columns += [REPRESENTATIVE_OBJECT] if level == C.OBJECT else []
    grouped.select(*columns, D.SIMILARITY).orderBy(GROUP, F.desc(D.SIMILARITY), B.KEY).write.parquet(
        str(out / GROUPS_DIR)
    )
    counts = members.agg(F.countDistinct(GROUP).alias("g"), F.count(F.lit(1)).alias("m")).collect()[0]
    members.unpersist()
    return int(counts["g"]), int(counts["m"])


def _size(level: str) -> Column:
    """What makes a representative: the most pixels (image), or the largest box (object)."""
    if level == C.IMAGE:
        return F.col(B.WIDTH).cast("long") * F.col(B.HEIGHT).cast("long")
    box = F.col(C.BOX)
    return (box["x2"] - box["x1"]) * (box["y2"] - box["y1"])


def _with_representative(members: DataFrame, level: str) -> DataFrame:
    order = Window.partitionBy(COMPONENT).orderBy(F.desc(_size(level)), B.KEY, B.OBJECT_INDEX)
    ranked = members.withColumn("rank", F.row_number().over(order)).withColumn(
        GROUP_SIZE, F.count(F.lit(1)).over(Window.partitionBy(COMPONENT))
    )
    reps = ranked.filter(F.col("rank") == 1).select(
        F.col(COMPONENT).alias("rep_component"),
        F.col(C.ID).alias("rep_id"),
        F.col(B.KEY).alias(REPRESENTATIVE),
        F.col(B.OBJECT_INDEX).alias(REPRESENTATIVE_OBJECT),
    )
    joined = ranked.join(reps, ranked[COMPONENT] == reps["rep_component"]).drop("rep_component", "rank")
    return joined.withColumnRenamed(COMPONENT, GROUP)


def _similarity_to_representative(results: DataFrame, members: DataFrame, level: str) -> DataFrame:
    """Each member's cosine to its group's representative, from the vectors re-read for member images only."""
    keys = members.select(B.KEY).distinct()
    selected = vector_columns(results.join(keys, B.KEY, "left_semi"), level)
    key_type = arrow_schema(selected).field(B.KEY).type
    vec_schema = pa.schema([pa.field(B.KEY, key_type), pa.field(B.OBJECT_INDEX, pa.int32()), pa.field(C.VECTOR, pa.binary())])

    def extract(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield C.entries(batch, level).select([B.KEY, B.OBJECT_INDEX, C.VECTOR]).cast(vec_schema)

    vectors = selected.mapInArrow(extract, from_arrow_schema(vec_schema)).alias("v")
    m = members.alias("m")
    with_vec = m.join(vectors, _same_entry(m, vectors)).select("m.*", F.col(f"v.{C.VECTOR}").alias(C.VECTOR))
    rep_vec = with_vec.select(F.col(C.ID).alias("rep_id"), F.col(C.VECTOR).alias("rep_vector"))
    both = with_vec.join(rep_vec, "rep_id").drop("rep_id")
    schema = arrow_schema(both.drop(C.VECTOR, "rep_vector"))
    out_schema = schema.append(pa.field(D.SIMILARITY, pa.float32()))

    def similarity(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            sims = D.row_similarity(C.to_matrix(batch.column(C.VECTOR)), C.to_matrix(batch.column("rep_vector")))
            rest = batch.drop_columns([C.VECTOR, "rep_vector"])
            yield rest.append_column(D.SIMILARITY, pa.array(sims, pa.float32())).cast(out_schema)

    return both.mapInArrow(similarity, from_arrow_schema(out_schema))
