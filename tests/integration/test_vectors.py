"""Index, search and dedup on real runs (local Spark): the shared photos, near-duplicate copies, 50k synthetic vectors."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.cli import cli
from imgpipe.spark.components import connected_components
from imgpipe.job.dedup import dedup
from imgpipe.job.index import build_index
from imgpipe.vectors.index import VectorIndex
from tests.helpers import DEDUP_PHOTOS, SHARED_IMAGES, near_duplicate_corpus
from tests.integration.conftest import read_rows, run_config

# COCO has no carton class: carton_33's best box scores 0.17, so product photos need a low threshold to get
# object crops at all (see README "Search and de-duplicate").
PRODUCT_MODELS = """
detect: {model: yolox-nano, score_threshold: 0.1}
crop: {top_k: 5, min_size: 32, whole_image: true}
embed: {model: mobilenetv2-int8}
"""
MODELS = """
detect: {model: yolox-nano, score_threshold: 0.3}
crop: {top_k: 5, min_size: 32, whole_image: true}
embed: {model: mobilenetv2-int8}
"""
#: Measured on this corpus (README): duplicates >= 0.927, distinct photos <= 0.718 (image level).
THRESHOLD = 0.85


def run_folder(spark: SparkSession, src: Path, out: Path, models: str) -> Path:
    run_config(spark, f"source: {{type: files, path: '{src}'}}\nsink: {{type: parquet, path: '{out}'}}\n" + models)
    return out


@pytest.fixture(scope="module")
def photos_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_folder(spark, SHARED_IMAGES, tmp_path_factory.mktemp("photos") / "out", PRODUCT_MODELS)


@pytest.fixture(scope="module")
def object_index(spark: SparkSession, photos_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("object-index") / "index"
    meta = build_index(spark, str(photos_run), str(target), level="object")
    assert meta.kind == "flat" and meta.level == "object" and meta.shards == 1
    assert meta.models["embed"]["name"] == "mobilenetv2-int8" and len(meta.run_ids) == 1
    return target


def name(key: str) -> str:
    return Path(key.removeprefix("file:")).name


def best_by_photo(hits: list[tuple[float, str]]) -> list[str]:
    """Photos in order of their best hit over every query object (what a user scanning the list sees)."""
    best: dict[str, float] = {}
    for similarity, key in hits:
        best[name(key)] = max(best.get(name(key), -1.0), similarity)
    return sorted(best, key=lambda photo: -best[photo])


def assert_carton_first(ranked: list[str]) -> None:
    others = [p for p in ranked if not p.startswith("carton_")]
    assert "carton_47.jpg" in ranked, ranked
    assert all(ranked.index("carton_47.jpg") < ranked.index(p) for p in others), ranked


def test_search_ranks_the_same_product_first(object_index: Path) -> None:
    query = str(SHARED_IMAGES / "carton_33.jpg")
    result = CliRunner().invoke(cli, ["search", str(object_index), query, "-k", "10"])
    assert result.exit_code == 0, result.output
    lines = re.findall(r"^\s+\d+\s+([0-9.]+)\s+(\S+)\s+object", result.output, re.MULTILINE)
    assert len(lines) >= 10 and "carton_33.jpg object 0" in result.output
    assert_carton_first(best_by_photo([(float(s), k) for s, k in lines]))


def test_search_json_gives_the_same_ranking(object_index: Path) -> None:
    query = str(SHARED_IMAGES / "carton_33.jpg")
    result = CliRunner().invoke(cli, ["search", str(object_index), query, "-k", "10", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["level"] == "object" and data["model"]["name"] == "mobilenetv2-int8"
    hits = [(h["similarity"], h["key"]) for r in data["results"] for h in r["hits"]]
    assert all(r["image"] == query and r["box"] and r["hits"] for r in data["results"])
    assert_carton_first(best_by_photo(hits))


def test_a_photo_finds_its_own_objects(object_index: Path) -> None:
    result = CliRunner().invoke(cli, ["search", str(object_index), str(SHARED_IMAGES / "dog.jpg"), "-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    for query in json.loads(result.output)["results"]:
        (hit,) = query["hits"]
        assert name(hit["key"]) == "dog.jpg" and hit["object_index"] == query["object_index"]
        assert hit["similarity"] > 0.999 and hit["label_name"] == query["label_name"]


def test_an_index_refuses_queries_from_another_model(object_index: Path) -> None:
    query = str(SHARED_IMAGES / "carton_33.jpg")
    args = ["search", str(object_index), query, "--set", "embed.model=mobilenetv2-int8-features"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "built from vectors of mobilenetv2-int8 (sha256 cc028fe6cae7" in result.output
    assert "embedded with mobilenetv2-int8-features (sha256 90d35e7fce6b" in result.output


def test_search_level_must_match_the_index(object_index: Path) -> None:
    result = CliRunner().invoke(cli, ["search", str(object_index), str(SHARED_IMAGES / "dog.jpg"), "--level", "image"])
    assert result.exit_code == 2 and "holds object vectors" in result.output


@pytest.fixture(scope="module")
def duplicates_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = near_duplicate_corpus(tmp_path_factory.mktemp("near-duplicates") / "photos")
    return run_folder(spark, corpus, tmp_path_factory.mktemp("near-duplicates-run") / "out", MODELS)


def test_dedup_groups_every_copy_with_its_original_only(
    spark: SparkSession, duplicates_run: Path, tmp_path: Path
) -> None:
    report = dedup(spark, str(duplicates_run), str(tmp_path / "dups"), threshold=THRESHOLD, level="image")
    assert report.vectors == 16 + 4 * len(DEDUP_PHOTOS)
    groups = read_rows(tmp_path / "dups" / "groups")
    members: dict[int, set[str]] = defaultdict(set)
    for row in groups:
        members[row["group"]].add(name(row[B.KEY]))
    predicted = {frozenset(p) for m in members.values() for p in combinations(sorted(m), 2)}
    origin = {n.split("~")[0] for m in members.values() for n in m}
    copies = ("q50.jpg", "half.png", "crop.png", "flip.png")
    truth = {frozenset(p) for photo in DEDUP_PHOTOS for p in combinations([photo, *(f"{photo}~{c}" for c in copies)], 2)}
    precision = len(predicted & truth) / len(predicted)
    recall = len(predicted & truth) / len(truth)
    assert (precision, recall) == (1.0, 1.0), sorted(map(sorted, members.values()))
    assert origin == set(DEDUP_PHOTOS) and report.groups == 5 and report.grouped == 25
    for row in groups:
        assert name(row["representative"]) in DEDUP_PHOTOS  # the original: most pixels, then shortest key
        assert row["group_size"] == 5 and THRESHOLD - 0.1 < row["similarity"] <= 1.0001
    summary = json.loads((tmp_path / "dups" / "summary.json").read_text())
    assert summary["groups"] == 5 and summary["threshold"] == THRESHOLD


def test_dedup_reuses_an_index_and_refuses_a_foreign_one(
    spark: SparkSession, duplicates_run: Path, object_index: Path, tmp_path: Path
) -> None:
    from imgpipe.errors import ImgpipeError

    image_index = tmp_path / "image-index"
    build_index(spark, str(duplicates_run), str(image_index), level="image")
    report = dedup(spark, str(duplicates_run), str(tmp_path / "a"), threshold=0.999, index_dir=str(image_index))
    assert report.index == str(image_index) and report.groups == 0 and report.pairs == 0
    assert read_rows(tmp_path / "a" / "groups") == []
    with pytest.raises(ImgpipeError, match="holds object vectors"):
        dedup(spark, str(duplicates_run), str(tmp_path / "b"), threshold=0.9, index_dir=str(object_index))


def union_find(nodes: int, edges: list[tuple[int, int]]) -> list[int]:
    parent = list(range(nodes))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[max(find(a), find(b))] = min(find(a), find(b))
    return [find(x) for x in range(nodes)]


def test_connected_components_match_union_find(spark: SparkSession, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ids = rng.permutation(400).tolist()  # shuffled labels, so chains run against the id order
    chain = [(ids[i], ids[i + 1]) for i in range(60)]  # one long path: the slow case for label propagation
    random_edges = [(ids[int(a)], ids[int(b)]) for a, b in rng.integers(100, 400, (150, 2))]
    edges = chain + random_edges + [(ids[5], ids[5])]
    spark.sparkContext.setCheckpointDir(str(tmp_path / "checkpoints"))
    df = spark.createDataFrame([(int(a), int(b)) for a, b in edges], "src long, dst long")
    got = {r["id"]: r["component"] for r in connected_components(df).collect()}
    expected = union_find(400, edges)
    touched = {n for e in edges for n in e if e[0] != e[1]}
    assert set(got) == touched
    assert all(got[n] == expected[n] for n in touched)


def test_ivf_index_at_scale(spark: SparkSession, tmp_path: Path) -> None:
    """50,000 x 1280 synthetic vectors, generated and indexed through Spark tasks; recall@10 on 1,000 queries."""
    from scripts.benchmark_index import run_scale

    result = run_scale(spark, tmp_path, 50_000, partitions=4)
    assert result.nlist == 256 and result.nprobe >= 1
    assert result.recall_at_10 >= 0.95, result
