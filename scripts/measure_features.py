"""How well MobileNetV2-int8 features separate near-duplicates from merely similar photos, raw and centred.

    .venv/bin/python scripts/measure_features.py

Corpus: the 16 shared photos plus, for 5 of them, four near-duplicate copies each (JPEG q50, 0.5x, 5 % crop,
horizontal flip; tests/helpers.py), embedded in-process by the same pass ``imgpipe run`` uses (YOLOX-Nano,
crops with ``whole_image: true``, MobileNetV2-int8). Prints, for whole-image vectors raw and mean-centred:
the weakest duplicate pair, the strongest distinct pair, the margin between them and two scale-free measures
(d' and the margin as a share of the gap between the two means); the rank of carton_47 for the query
carton_33; precision and recall of grouping (connected components) by threshold, at image and object level.
README "Search and de-duplicate" quotes these numbers.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("IMGPIPE_MODEL_MIRROR", str(REPO.parent / "shared" / "models"))

from imgpipe.config import parse_config  # noqa: E402
from imgpipe.preflight import build_pipeline  # noqa: E402
from imgpipe.vectors import columns as C  # noqa: E402
from tests.helpers import DEDUP_PHOTOS, SHARED_IMAGES, near_duplicate_copies, photo_paths  # noqa: E402

CONFIG = """
source: {{type: files, path: .}}
sink: {{type: parquet, path: out}}
detect: {{model: yolox-nano, score_threshold: {score}}}
crop: {{top_k: 5, min_size: 32, whole_image: true}}
embed: {{model: mobilenetv2-int8}}
"""


def corpus() -> dict[str, bytes]:
    images = {p.name: p.read_bytes() for p in photo_paths()}
    for name in DEDUP_PHOTOS:
        images.update(near_duplicate_copies(SHARED_IMAGES / name))
    return images


def embed(images: dict[str, bytes], level: str, score: float = 0.3) -> tuple[list[str], np.ndarray]:
    pipeline = build_pipeline(parse_config(CONFIG.format(score=score)))
    out = pipeline.process(pa.RecordBatch.from_pydict({"key": list(images), "image": list(images.values())}))
    found = C.entries(out, level)
    return found.column("key").to_pylist(), C.to_matrix(found.column(C.VECTOR))


def origin(key: str) -> str:
    return key.split("~")[0]


def unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def separation(keys: list[str], m: np.ndarray) -> dict[str, float]:
    s = m @ m.T
    dup = np.array([s[i, j] for i, j in itertools.combinations(range(len(keys)), 2) if origin(keys[i]) == origin(keys[j])])
    dist = np.array([s[i, j] for i, j in itertools.combinations(range(len(keys)), 2) if origin(keys[i]) != origin(keys[j])])
    margin = dup.min() - dist.max()
    return {
        "dup_min": dup.min(), "dup_mean": dup.mean(), "distinct_max": dist.max(), "distinct_mean": dist.mean(),
        "margin": margin, "d_prime": (dup.mean() - dist.mean()) / np.sqrt((dup.var() + dist.var()) / 2),
        "margin_share": margin / (dup.mean() - dist.mean()),
    }  # fmt: skip


def carton_rank(keys: list[str], m: np.ndarray) -> int:
    """Rank of carton_47 among the other original photos for the query carton_33 (1 = first)."""
    originals = [i for i, k in enumerate(keys) if "~" not in k and k != "carton_33.jpg"]
    sims = m[originals] @ m[keys.index("carton_33.jpg")]
    order = [keys[originals[i]] for i in np.argsort(-sims)]
    return order.index("carton_47.jpg") + 1


def groups(keys: list[str], m: np.ndarray, threshold: float) -> set[frozenset[str]]:
    """Photo pairs that end in one group: connected components of entries at or above the threshold."""
    parent = list(range(len(keys)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    s = m @ m.T
    for i, j in zip(*np.nonzero(np.triu(s >= threshold, 1)), strict=True):
        parent[find(int(i))] = find(int(j))
    members: dict[int, set[str]] = {}
    for i, key in enumerate(keys):
        members.setdefault(find(i), set()).add(key)
    return {frozenset(p) for g in members.values() for p in itertools.combinations(sorted(g), 2)}


def precision_recall(keys: list[str], m: np.ndarray, threshold: float, photos: list[str]) -> tuple[float, float]:
    predicted = groups(keys, m, threshold)
    truth = {frozenset(p) for p in itertools.combinations(photos, 2) if origin(p[0]) == origin(p[1])}
    hit = len(predicted & truth)
    return (hit / len(predicted) if predicted else 1.0), hit / len(truth)


def main() -> None:
    images = corpus()
    keys, vectors = embed(images, C.IMAGE)
    originals = np.array(["~" not in k for k in keys])
    variants = {
        "raw": vectors,
        "centred (corpus mean)": unit(vectors - vectors.mean(0)),
        "centred (mean of the 16 originals)": unit(vectors - vectors[originals].mean(0)),
    }
    print(f"{len(keys)} images; whole-image vectors")
    print("| variant | dup min | distinct max | margin | d' | margin / mean gap | carton_47 rank for carton_33 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, m in variants.items():
        r = separation(keys, m)
        print(
            f"| {name} | {r['dup_min']:.3f} | {r['distinct_max']:.3f} | {r['margin']:.3f} | {r['d_prime']:.2f} "
            f"| {r['margin_share']:.2f} | {carton_rank(keys, m)} |"
        )
    print("\nprecision / recall of photo pairs grouped together, by threshold (raw vectors)")
    obj_keys, obj_vectors = embed(images, C.OBJECT)
    for threshold in (0.70, 0.75, 0.80, 0.85, 0.90, 0.93, 0.95):
        p, r = precision_recall(keys, vectors, threshold, list(images))
        po, ro = precision_recall(obj_keys, obj_vectors, threshold, list(images))
        print(f"  {threshold:.2f}: image level P={p:.2f} R={r:.2f}   object level P={po:.2f} R={ro:.2f}")
    missing = sorted(set(images) - set(obj_keys))
    print(f"object level: {len(missing)} images have no object above the 0.3 detection threshold: {missing}")


if __name__ == "__main__":
    main()
