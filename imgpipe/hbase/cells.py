"""HBase result cells: one row per image key, one fixed set of cells in one column family (default ``r``).

    prepare(cfg)                   driver: table and family exist (table created when ``create: true``)
    write_through(cfg, batches)    executor: batched puts (``mutateRows``), retried on Thrift errors
                                   through the next gateway, yielding each batch once it is written

Cell layout (persisted: treat as API). Every write puts ALL of these qualifiers, an empty value
meaning "not computed by this run" (no detect/embed stage, failed image). Because the set never
changes, a rerun overwrites every cell of the previous run: no stale cells, no delete markers, and
a retried task rewrites identical values (idempotent by row key). The row is written as one Put, so
readers never see half of a result.

    r:status            "ok" | "error"                                     UTF-8
    r:error_stage       stage that failed ("decode", ...)                  UTF-8, empty if ok
    r:error_reason      reason class ("undecodable", "too_large", ...)     UTF-8, empty if ok
    r:error             bounded error message                              UTF-8, empty if ok
    r:width, r:height   decoded image size in pixels                       ASCII decimal
    r:objects           detections, in detector order, as compact JSON:
                        [{"label": 16, "label_name": "dog", "score": 0.91,
                          "box": [x1, y1, x2, y2]}, ...]                   ("[]": none found)
    r:object_embeddings one vector per object of r:objects, same order, concatenated row-major:
                        n_objects x embedding_dim values, little-endian float32 ("<f4") or
                        float16 ("<f2") per r:embedding_dtype; an object without an embedding
                        (e.g. a box under crop.min_size) is a row of NaN
    r:embedding_dim     vector length, ASCII decimal
    r:embedding_dtype   "float32" | "float16"
    r:image_embedding   whole-image vector, same encoding as one object row
    r:detect_model      {"name": ..., "sha256": ...} JSON
    r:embed_model       {"name": ..., "sha256": ...} JSON
    r:run_id            the run that wrote the row                         UTF-8

Reading back in Python::

    cells = table.row(key)
    objects = json.loads(cells[b"r:objects"])
    vectors = np.frombuffer(cells[b"r:object_embeddings"], "<f4").reshape(len(objects), -1)

Passthrough columns of the input are not written: the row key links a result to its source row.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from imgpipe import batch as col
from imgpipe.config.hbase import HBaseSinkConfig
from imgpipe.errors import SinkError
from imgpipe.hbase import client as hb
from imgpipe.hbase import gateways as gw

log = logging.getLogger(__name__)

Connect = Callable[[HBaseSinkConfig], Any]

QUALIFIERS = (
    "status", "error_stage", "error_reason", "error", "width", "height", "objects",
    "object_embeddings", "embedding_dim", "embedding_dtype", "image_embedding",
    "detect_model", "embed_model", "run_id",
)  # fmt: skip
_ITEMSIZE = {dtype: np.dtype(code).itemsize for dtype, code in col.EMBEDDING_NUMPY.items()}


def prepare(cfg: HBaseSinkConfig, *, connect: Connect | None = None) -> None:
    """Driver side: make sure the table and family exist; create the table if ``cfg.create``.

    Raises:
        SinkError: no gateway answers, missing table (and ``create: false``) or missing family.
    """
    ensure = partial(_ensure_table, cfg=cfg)
    hb.through_any(cfg, connect or _connect, ensure, "prepare the table", _where(cfg), SinkError)


def _ensure_table(conn: Any, cfg: HBaseSinkConfig) -> None:
    if cfg.table.encode() not in conn.tables():
        if not cfg.create:
            raise SinkError(
                f"{_where(cfg)}: table {cfg.table!r} does not exist. Set create: true on the sink, or "
                f"create it in the HBase shell: create '{cfg.table}', {{NAME => '{cfg.family}', VERSIONS => 1}}"
            )
        try:
            conn.create_table(cfg.table, {cfg.family: {"max_versions": 1}})
            log.info("%s: created table %r with family %r", _where(cfg), cfg.table, cfg.family)
        except Exception as exc:  # noqa: BLE001 - another driver may have created it meanwhile
            if cfg.table.encode() not in conn.tables():
                raise SinkError(f"{_where(cfg)}: cannot create table {cfg.table!r}: {hb.describe(exc)}") from exc
    families = [f.decode() for f in conn.table(cfg.table).families()]
    if cfg.family not in families:
        raise SinkError(
            f"{_where(cfg)}: table {cfg.table!r} has no column family {cfg.family!r} (it has "
            f"{', '.join(families)}). Add it in the HBase shell: alter '{cfg.table}', NAME => '{cfg.family}'"
        )


def write_through(
    cfg: HBaseSinkConfig,
    batches: Iterable[pa.RecordBatch],
    *,
    connect: Connect | None = None,
    sleep: Callable[[float], None] = time.sleep,
    task: int = 0,
) -> Iterator[pa.RecordBatch]:
    """Write each batch, then yield it: a ``mapInArrow`` can emit a ledger of rows that are in HBase.

    Rows are sent ``cfg.batch_size`` at a time over one connection, to gateway number ``task`` (mod
    their number: tasks spread evenly; a put batch spans regions, so there is no region to be local
    to). A chunk that fails with a Thrift/socket error is resent whole (puts are idempotent) on a new
    connection to the next gateway, up to ``cfg.retries`` times in a row.
    """
    connect = connect or _connect
    writer = _Writer(cfg, gw.Failover(gw.rotated(cfg.gateways, task)), connect, sleep)
    try:
        for batch in batches:
            rows = list(encode_rows(batch, cfg.family))
            for i in range(0, len(rows), cfg.batch_size):
                writer.send(rows[i : i + cfg.batch_size])
            yield batch
    finally:
        writer.close()


class _Writer:
    """One connection at a time, to the current gateway of ``gateways``; a failed chunk moves on and resends."""

    def __init__(
        self, cfg: HBaseSinkConfig, gateways: gw.Failover, connect: Connect, sleep: Callable[[float], None]
    ) -> None:
        self.cfg, self.gateways, self.connect, self.sleep = cfg, gateways, connect, sleep
        self.conn: Any = None

    def send(self, rows: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        cfg, failures = self.cfg, 0
        while True:
            gateway = self.gateways.current
            try:
                self.conn = self.conn or self.connect(cfg.through(gateway))
                batch = self.conn.table(cfg.table).batch()
                for key, cells in rows:
                    batch.put(key, cells)
                batch.send()
                return
            except hb.TRANSIENT as exc:
                self.close()
                failures += 1
                if not hb.is_transient(exc) or failures > cfg.retries:
                    raise SinkError(
                        f"{_where(cfg)}: writing {len(rows)} rows from {hb.show_key(rows[0][0])} through {gateway} "
                        f"failed{f' after {cfg.retries} retries' if failures > cfg.retries else ''}: "
                        f"{hb.describe(exc)}{hb.mismatch_hint(exc, cfg)}"
                    ) from exc
                moved_to = self.gateways.fail()
                delay = hb.backoff(failures, cfg.backoff_s, cfg.max_backoff_s)
                log.warning(
                    "%s: %s failed: %s; retry %d/%d in %.1fs through %s", _where(cfg), gateway, hb.describe(exc),
                    failures, cfg.retries, delay, moved_to or gateway,
                )  # fmt: skip
                self.sleep(delay)

    def close(self) -> None:
        if self.conn is not None:
            hb.close_quietly(self.conn)
            self.conn = None


# ----------------------------------------------------------------------------------- encoding


def encode_rows(batch: pa.RecordBatch, family: str = "r") -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    """Arrow result batch -> ``(row key, {b"r:qualifier": value})`` with every qualifier present."""
    names = set(batch.schema.names)
    if col.KEY not in names:
        raise SinkError(f"HBase sink: the result batch has no {col.KEY!r} column (columns: {sorted(names)})")
    plain = [n for n in (col.STATUS, col.ERROR_STAGE, col.ERROR_REASON, col.ERROR, col.RUN_ID) if n in names]
    values = {n: batch.column(n).to_pylist() for n in plain}
    sizes = {n: batch.column(n).to_pylist() for n in (col.WIDTH, col.HEIGHT) if n in names}
    models = {n: batch.column(n).to_pylist() for n in (col.DETECT_MODEL, col.EMBED_MODEL) if n in names}
    objects = batch.column(col.OBJECTS) if col.OBJECTS in names else None
    image_emb = batch.column(col.IMAGE_EMBEDDING) if col.IMAGE_EMBEDDING in names else None
    prefix = family.encode() + b":"
    for i, key in enumerate(batch.column(col.KEY).to_pylist()):
        if key is None:  # a no_key error row (a Parquet source's null key): no HBase row can hold it; errors/ does
            continue
        cells = dict.fromkeys(QUALIFIERS, b"")
        for name in plain:
            cells[name] = _text(values[name][i])
        for name, column in sizes.items():
            cells[name] = b"" if column[i] is None else str(int(column[i])).encode()
        for name, column in models.items():
            cells[name] = b"" if column[i] is None else _json(column[i])
        if objects is not None:
            cells.update(_objects(objects[i]))
        if image_emb is not None:
            dtype = col.embedding_dtype(image_emb.type)
            vector = col.vector_bytes(image_emb[i].as_py(), dtype)
            cells["image_embedding"] = vector
            if vector and not cells["embedding_dtype"]:
                cells["embedding_dtype"] = dtype.encode()
                cells["embedding_dim"] = str(len(vector) // _ITEMSIZE[dtype]).encode()
        yield (key if isinstance(key, bytes) else str(key).encode()), {prefix + q.encode(): v for q, v in cells.items()}


def _objects(value: pa.Scalar) -> dict[str, bytes]:
    if not value.is_valid:
        return {}
    items = value.as_py()
    meta = [
        {
            "label": o.get("label"),
            "label_name": o.get("label_name"),
            "score": _f32(o.get("score")),
            "box": [_f32((o.get("box") or {}).get(k)) for k in ("x1", "y1", "x2", "y2")],
        }
        for o in items
    ]
    out = {"objects": _json(meta)}
    emb_type = value.type.value_type
    if isinstance(emb_type, pa.StructType) and emb_type.get_field_index("embedding") >= 0:
        field_type = emb_type.field("embedding").type
        dtype = col.embedding_dtype(field_type)
        vectors = [col.vector_bytes(o.get("embedding"), dtype) for o in items]
        dim = next((len(v) // _ITEMSIZE[dtype] for v in vectors if v), 0)
        if dim:
            nan = np.full(dim, np.nan, dtype=col.EMBEDDING_NUMPY[dtype]).tobytes()
            out["object_embeddings"] = b"".join(v or nan for v in vectors)
            out["embedding_dim"] = str(dim).encode()
            out["embedding_dtype"] = dtype.encode()
    return out


def _f32(value: Any) -> float | None:
    # The shortest text that reads back as the same float32: 0.91, not 0.9100000262260437.
    return None if value is None else float(str(np.float32(value)))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _text(value: Any) -> bytes:
    return b"" if value is None else str(value).encode()


def decode_cells(cells: dict[bytes, bytes], family: str = "r") -> dict[str, Any]:
    """The inverse of ``encode_rows`` for one row, for readers and tests (vectors as numpy arrays)."""
    get = {q: cells.get(f"{family}:{q}".encode(), b"") for q in QUALIFIERS}
    dtype = col.EMBEDDING_NUMPY.get(get["embedding_dtype"].decode(), "<f4")
    objects = json.loads(get["objects"]) if get["objects"] else None
    vectors = np.frombuffer(get["object_embeddings"], dtype)
    if objects is not None and vectors.size:
        for obj, vec in zip(objects, vectors.reshape(len(objects), -1)):
            obj["embedding"] = vec
    return {
        "status": get["status"].decode() or None,
        "error_stage": get["error_stage"].decode() or None,
        "error_reason": get["error_reason"].decode() or None,
        "error": get["error"].decode() or None,
        "width": int(get["width"]) if get["width"] else None,
        "height": int(get["height"]) if get["height"] else None,
        "objects": objects,
        "image_embedding": np.frombuffer(get["image_embedding"], dtype) if get["image_embedding"] else None,
        "detect_model": json.loads(get["detect_model"]) if get["detect_model"] else None,
        "embed_model": json.loads(get["embed_model"]) if get["embed_model"] else None,
        "run_id": get["run_id"].decode() or None,
    }


def _connect(cfg: HBaseSinkConfig) -> Any:
    return hb.connect_to(cfg)


def _where(cfg: HBaseSinkConfig) -> str:
    return f"hbase sink {cfg.table!r} ({cfg.show_gateways()})"
