"""Which faiss index a corpus gets, chosen from its size (``plan_index``): the kind, the IVF lists, the training sample.

``flat`` (exact inner product) up to ``EXACT_MAX`` vectors; ``ivf-flat`` beyond (a coarse k-means quantizer with
~sqrt(N) lists, trained on a sample, ``nprobe`` tuned on that sample to the target recall); ``ivf-sq8`` (8-bit
scalar codes, 4x smaller) beyond ``SQ8_MIN``. Not offered: HNSW, whose graph cannot be built in shards and merged;
and IVF-PQ, which in a one-off check on 20,000 synthetic 1280-d vectors (2 cores) trained for 9 minutes (PQ160,
8,000 training points) and reached recall@10 0.29 where IVF-SQ8 reached 0.97.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imgpipe.errors import ImgpipeError

KINDS = ("flat", "ivf-flat", "ivf-sq8")
#: Exact search up to here: 100k x 1280 float32 is 512 MB, and a query scans it in tens of milliseconds.
EXACT_MAX = 100_000
#: Beyond here vectors are stored as 8-bit codes: 10M x 1280 float32 would be 51 GB of lists.
SQ8_MIN = 10_000_000
#: k-means wants at least 39 points per list (faiss warns below); 64 gives steadier centroids.
TRAIN_PER_LIST = 64
MIN_PER_LIST = 39


@dataclass(frozen=True)
class IndexPlan:
    """Which faiss index to build for a corpus: its kind and dimension, and for IVF the number of lists and of
    vectors to train the quantizer on (both 0 for flat). The built index records it in its ``IndexMeta``.
    """

    kind: str
    dim: int
    nlist: int = 0
    train_size: int = 0

    @property
    def factory(self) -> str:
        if self.kind == "flat":
            return "IDMap2,Flat"
        return f"IVF{self.nlist},{'SQ8' if self.kind == 'ivf-sq8' else 'Flat'}"

    @property
    def is_ivf(self) -> bool:
        return self.kind != "flat"


def plan_index(count: int, dim: int, kind: str = "auto") -> IndexPlan:
    """The index for ``count`` vectors of ``dim``: flat when small, IVF with ~sqrt(count) lists beyond."""
    if count <= 0:
        raise ImgpipeError("Expected vectors to index, but the results hold none at this level")
    if kind not in ("auto", *KINDS):
        raise ImgpipeError(f"Expected an index kind in {('auto', *KINDS)}, but got {kind!r}")
    if kind == "auto":
        kind = "flat" if count <= EXACT_MAX else "ivf-sq8" if count > SQ8_MIN else "ivf-flat"
    if kind == "flat":
        return IndexPlan(kind, dim)
    nlist = 2 ** round(math.log2(math.sqrt(count)))
    nlist = max(1, min(nlist, 65536, count // MIN_PER_LIST))
    return IndexPlan(kind, dim, nlist, min(count, TRAIN_PER_LIST * nlist))
