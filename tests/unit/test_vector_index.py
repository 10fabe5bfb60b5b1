"""The faiss index: kind by size, IVF trained and filled in shards, merged on disk, searched, and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from index_files import write_index

from imgpipe.errors import ImgpipeError, ModelError
from imgpipe.pipeline import ModelInfo
from imgpipe.vectors import index as X
from imgpipe.vectors import plan as P


def clustered(n: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_kind_follows_corpus_size() -> None:
    assert P.plan_index(16, 1280) == P.IndexPlan("flat", 1280)
    ivf = P.plan_index(500_000, 1280)
    assert (ivf.kind, ivf.nlist, ivf.train_size, ivf.factory) == ("ivf-flat", 512, 512 * 64, "IVF512,Flat")
    assert P.plan_index(20_000_000, 1280).kind == "ivf-sq8"
    forced = P.plan_index(1000, 8, "ivf-flat")
    assert forced.nlist <= 1000 // 39 and forced.train_size == 1000
    with pytest.raises(ImgpipeError, match="Expected vectors to index"):
        P.plan_index(0, 8)
    with pytest.raises(ImgpipeError, match="Expected an index kind"):
        P.plan_index(10, 8, "hnsw")


@pytest.mark.parametrize("kind", ["flat", "ivf-flat", "ivf-sq8"])
def test_shards_merge_into_one_searchable_index(tmp_path: Path, kind: str) -> None:
    everything = clustered(4200)
    vectors, queries = everything[:4000], everything[4000:]
    keys = [f"k{i}" for i in range(len(vectors))]
    meta = write_index(tmp_path / "idx", keys, vectors, kind=kind, shards=3)
    assert meta.ntotal == 4000 and not (tmp_path / "idx" / X.SHARDS_DIR / "shard-00000.faiss.tmp").exists()
    assert (tmp_path / "idx" / X.IVF_DATA).exists() == (kind != "flat")
    index = X.VectorIndex.open(tmp_path / "idx")
    sims, ids = index.search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = index.entries(ids.ravel().tolist())
    got = np.array([[int(found[int(i)]["key"][1:]) for i in row] for row in ids])
    assert X.recall(exact, got) >= (0.999 if kind == "flat" else 0.9)
    assert np.all(np.diff(sims, axis=1) <= 1e-5)  # best first


def test_nprobe_is_tuned_to_the_target_recall() -> None:
    vectors = clustered(6000, clusters=200)
    plan = P.plan_index(len(vectors), vectors.shape[1], "ivf-flat")
    empty = X.serialize(X.empty_index(plan, vectors))
    nprobe, found = X.tune_nprobe(empty, vectors, target=0.9)
    assert found >= 0.9 and 1 <= nprobe <= plan.nlist
    low, _ = X.tune_nprobe(empty, vectors, target=0.0)
    assert low == 1


def test_an_index_refuses_another_model(tmp_path: Path) -> None:
    write_index(tmp_path / "idx", ["a", "b"], clustered(2), models={"embed": {"name": "m1", "sha256": "1" * 64}})
    index = X.VectorIndex.open(tmp_path / "idx")
    index.check_model(ModelInfo("m1-copy", "1" * 64), "the query")  # same bytes, other name: fine
    with pytest.raises(ModelError, match=r"built from vectors of m1 \(sha256 111111111111…\), but the query is embedded with m2") as err:
        index.check_model(ModelInfo("m2", "2" * 64), "the query")
    assert err.value.exit_code == 2
    with pytest.raises(ModelError, match="expected 32-d query vectors, but got shape"):
        index.search(np.zeros((1, 5), np.float32), 1)


def test_a_folder_without_an_index_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImgpipeError, match=r"expected an imgpipe index \(imgpipe-index.json\).*imgpipe index OUTPUT --out"):
        X.VectorIndex.open(tmp_path)
