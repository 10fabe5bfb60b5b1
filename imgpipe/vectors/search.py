"""``imgpipe search``: query images through the index's own decode -> detect -> crop -> embed, in-process, then k-NN.

The query pass is rebuilt from the inference config the index recorded (the run's own), so queries are
embedded exactly like the corpus was; an index refuses queries embedded by another model (``ModelError``).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml
from numpy.typing import NDArray

from imgpipe import batch as B
from imgpipe.config import parse_config, secrets
from imgpipe.errors import ConfigError, ImgpipeError
from imgpipe.pipeline import Pipeline
from imgpipe.preflight import build_pipeline
from imgpipe.vectors import columns as C
from imgpipe.vectors.index import META_FILE, VectorIndex, describe_model

Box = list[float] | None


@dataclass(frozen=True)
class Query:
    image: str
    object_index: int | None = None
    label_name: str | None = None
    score: float | None = None
    box: Box = None


@dataclass(frozen=True)
class Hit:
    rank: int
    similarity: float
    key: str
    object_index: int | None
    label: int | None
    label_name: str | None
    box: Box


@dataclass
class Result:
    query: Query
    hits: list[Hit] = field(default_factory=list)
    #: Why there are no hits (e.g. no object was found in the query image).
    note: str | None = None


def query_pipeline(index: VectorIndex, overrides: tuple[str, ...] = ()) -> Pipeline:
    """The run's decode/detect/crop/embed, from the index's metadata; ``--set`` style overrides apply."""
    if "embed" not in index.meta.inference:
        raise ConfigError(
            f"index {index.path} does not record how its run embedded images, so queries cannot be embedded alike; "
            "rebuild it with: imgpipe index OUTPUT --out INDEX --config RUN.yaml"
        )
    if secrets.MASK in json.dumps(index.meta.inference):
        raise ConfigError(
            f"index {index.path}: expected the run's decode/detect/crop/embed as run, but values that came from "
            f"${{ENV}} are hidden there as {secrets.MASK} (summary.json never shows them); rebuild the index with: "
            "imgpipe index OUTPUT --out INDEX --config RUN.yaml"
        )
    data = {"source": {"type": "files", "path": "."}, "sink": {"type": "parquet", "path": "."}}
    data.update(index.meta.inference)
    loaded = parse_config(yaml.safe_dump(data, sort_keys=False), str(index.path / META_FILE), overrides)
    return build_pipeline(loaded, run_id="search")


def read_images(paths: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({B.KEY: list(paths), B.IMAGE: [_read_query(p) for p in paths]})


def _read_query(path: str) -> bytes:
    try:
        kind = os.stat(path).st_mode
        # Checked before reading: a FIFO would block the search until something writes to it.
        if stat.S_ISDIR(kind):
            raise ImgpipeError(f"query image {path}: a folder, not an image file; give the image files in it")
        if not stat.S_ISREG(kind):
            raise ImgpipeError(f"query image {path}: not a regular file (a FIFO, socket or device)")
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImgpipeError(f"query image {path}: cannot be read ({exc.strerror or exc})") from exc


def embed_queries(
    pipeline: Pipeline, paths: list[str], level: str
) -> tuple[list[Query], NDArray[np.float32], dict[str, str]]:
    """Queries (one per image, or per object found), their vectors, and a note for each image without one."""
    out = pipeline.process(read_images(paths))
    for row in out.select([B.KEY, B.STATUS, B.ERROR_REASON, B.ERROR]).to_pylist():
        if row[B.STATUS] != B.STATUS_OK:
            raise ImgpipeError(f"query image {row[B.KEY]}: {row[B.ERROR_REASON]}: {row[B.ERROR]}")
    found = C.entries(out, level)
    queries = [
        Query(r[B.KEY], r[B.OBJECT_INDEX], r[C.LABEL_NAME], r[C.SCORE], _box(r[C.BOX]))
        for r in found.drop_columns([C.VECTOR]).to_pylist()
    ]
    with_vectors = {q.image for q in queries}
    what = "no objects found" if level == C.OBJECT else "no image embedding"
    notes = {p: what for p in paths if p not in with_vectors}
    return queries, np.array(C.to_matrix(found.column(C.VECTOR))), notes


def search_images(
    index: VectorIndex, paths: list[str], k: int = 10, overrides: tuple[str, ...] = ()
) -> list[Result]:
    """The ``k`` nearest index entries to each query image (or each object in it), best first."""
    pipeline = query_pipeline(index, overrides)
    index.check_model(pipeline.embed_model, "the query")
    queries, vectors, notes = embed_queries(pipeline, paths, index.meta.level)
    results = {p: Result(Query(p), note=notes[p]) for p in notes}
    by_image: dict[str, list[Result]] = {}
    if queries:
        sims, ids = index.search(vectors, k)
        rows = index.entries(ids.ravel().tolist())
        for query, qsims, qids in zip(queries, sims, ids, strict=True):
            hits = [_hit(rank, float(s), rows[int(i)]) for rank, (s, i) in enumerate(zip(qsims, qids), 1) if i >= 0]
            by_image.setdefault(query.image, []).append(Result(query, hits))
    return [r for p in paths for r in (by_image.get(p) or [results[p]])]


def _hit(rank: int, similarity: float, row: dict[str, Any]) -> Hit:
    return Hit(
        rank, round(similarity, 6), display_key(row[B.KEY]), row[B.OBJECT_INDEX], row[C.LABEL],
        row[C.LABEL_NAME], _box(row[C.BOX]),
    )


def _box(box: dict[str, float] | None) -> Box:
    return None if box is None else [round(float(box[c]), 1) for c in ("x1", "y1", "x2", "y2")]


def display_key(key: Any) -> str:
    """Keys are strings (paths) or bytes (HBase row keys); bytes show as UTF-8 with escapes."""
    return key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else str(key)


def format_text(index: VectorIndex, results: list[Result]) -> str:
    meta = index.meta
    head = f"index {index.path}: {meta.ntotal} {meta.level} vectors ({meta.kind}), {describe_model(meta.embed_model)}"
    lines = [head]
    for result in results:
        lines.append("")
        lines.append(_describe_query(result.query) + (f": {result.note}" if result.note else ""))
        for hit in result.hits:
            lines.append(f"  {hit.rank:>3}  {hit.similarity:.4f}  {one_line(hit.key)}{_describe_object(hit)}")
    return "\n".join(lines)


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (a newline as ``\\n``): a file name may hold them, and one
    would break the line it is printed on. ``--json`` keeps keys exactly."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _describe_query(query: Query) -> str:
    if query.object_index is None:
        return one_line(query.image)
    found = f"{query.label_name} {query.score:.2f} {_fmt_box(query.box)}"
    return f"{one_line(query.image)} object {query.object_index}: {found}"


def _describe_object(hit: Hit) -> str:
    if hit.object_index is None:
        return ""
    return f"  object {hit.object_index}  {hit.label_name}  {_fmt_box(hit.box)}"


def _fmt_box(box: Box) -> str:
    return "[" + ",".join(f"{v:.0f}" for v in box) + "]" if box else ""


def format_json(index: VectorIndex, results: list[Result]) -> str:
    meta = index.meta
    return json.dumps(
        {
            "index": str(index.path),
            "level": meta.level,
            "model": meta.models.get("embed"),
            "results": [
                {**asdict(r.query), "note": r.note, "hits": [asdict(h) for h in r.hits]} for r in results
            ],
        },
        indent=2,
    )
