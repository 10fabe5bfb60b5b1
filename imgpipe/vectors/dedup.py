"""Near-duplicate candidates for one batch of vectors: k-NN against the index, pairs at or above a threshold.

Plain functions over Arrow and NumPy; ``imgpipe.job.dedup`` runs them in Spark tasks and joins the pairs
into groups. Similarity is the inner product of unit vectors (cosine), as stored by ``imgpipe run``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from imgpipe import batch as B
from imgpipe import outputs
from imgpipe.vectors import columns as C
from imgpipe.vectors.folders import DATASET, FILE, STATE, Layout
from imgpipe.vectors.index import INDEX_LAYOUT, VectorIndex

GROUPS_DIR = "groups"
INDEX_DIR = "index"
SUMMARY = "summary.json"
#: Spark's checkpoints of the connected components, removed when the dedup ends; imgpipe's own state.
CHECKPOINTS = f"{outputs.STATE}/checkpoints"
#: What a dedup writes into its folder (``imgpipe dedup --out DIR``): ``--overwrite`` checks these hold nothing
#: else, then removes them alone.
DEDUP_LAYOUT = Layout("dedup", {GROUPS_DIR: DATASET, INDEX_DIR: INDEX_LAYOUT, SUMMARY: FILE, CHECKPOINTS: STATE})

NEIGHBOUR = "neighbour"
SIMILARITY = "similarity"


def pairs_schema(key_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            pa.field(B.KEY, key_type),
            pa.field(B.OBJECT_INDEX, pa.int32()),
            pa.field(NEIGHBOUR, pa.int64()),
            pa.field(SIMILARITY, pa.float32()),
        ]
    )


def knn_pairs(index: VectorIndex, found: pa.RecordBatch, k: int, threshold: float) -> pa.RecordBatch:
    """(key, object_index, neighbour id, similarity) for each of the ``k`` nearest at or above ``threshold``.

    ``found`` holds index entries (``columns.entries``); a vector's own entry is among its neighbours and is
    dropped later, once ids are joined in.
    """
    schema = pairs_schema(found.schema.field(B.KEY).type)
    if not found.num_rows:
        return pa.RecordBatch.from_pylist([], schema=schema)
    sims, ids = index.search(np.array(C.to_matrix(found.column(C.VECTOR))), k)
    rows, cols = np.nonzero((ids >= 0) & (sims >= threshold))
    take = pa.array(rows, pa.int64())
    return pa.RecordBatch.from_arrays(
        [
            found.column(B.KEY).take(take),
            found.column(B.OBJECT_INDEX).take(take),
            pa.array(ids[rows, cols], pa.int64()),
            pa.array(sims[rows, cols], pa.float32()),
        ],
        schema=schema,
    )


def row_similarity(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Inner product of each row of ``a`` with the same row of ``b``."""
    products: NDArray[np.float32] = np.einsum("ij,ij->i", a, b).astype(np.float32)
    return products
