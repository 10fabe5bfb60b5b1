"""The results of a run whose sink is HBase: a bounded scan of this run's rows (a server-side filter on
``r:run_id``), narrow cells only, turned into the nested Arrow layout the Parquet path counts.

A full scan of a table of hundreds of millions of rows is not a report's job: the histograms and the
sample cover the first ``limit`` rows in key order (spread over the key space when keys are hash-prefixed,
as ``imgpipe ingest`` writes them), and the page says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from imgpipe import batch as B
from imgpipe.config.hbase import HBaseSinkConfig
from imgpipe.htmlreport.results import ResultStats, stats_of_table
from imgpipe.hbase import client as hbase

_CELLS = (B.STATUS, B.ERROR_REASON, B.ERROR, B.WIDTH, B.HEIGHT, B.OBJECTS, B.RUN_ID)
_OBJECT = pa.struct([("label_name", pa.string()), ("score", pa.float32()), ("box", B.BOX_TYPE)])
_SCHEMA = pa.schema([
    (B.KEY, pa.binary()), (B.STATUS, pa.string()), (B.ERROR_REASON, pa.string()), (B.ERROR, pa.string()),
    (B.WIDTH, pa.int32()), (B.HEIGHT, pa.int32()), (B.OBJECTS, pa.list_(_OBJECT)), (B.RUN_ID, pa.string()),
])  # fmt: skip


@dataclass(frozen=True)
class ScannedResults:
    stats: ResultStats
    rows: int
    complete: bool  # False when the scan stopped at its limit


def scan_results(cfg: HBaseSinkConfig, run_id: str, samples: int, limit: int) -> ScannedResults:
    """This run's rows of the sink table, at most ``limit`` of them. Raises what happybase raises."""
    conn = hbase.connect_to(cfg)
    try:
        scanner = conn.table(cfg.table).scan(
            columns=[f"{cfg.family}:{name}".encode() for name in _CELLS],
            filter=_run_filter(cfg.family, run_id),
            limit=limit + 1,
            batch_size=min(1000, limit + 1),
        )
        rows = [_row(key, cells, cfg.family) for key, cells in scanner]
    finally:
        hbase.close_quietly(conn)
    complete = len(rows) <= limit
    table = pa.Table.from_pylist(rows[:limit], _SCHEMA)
    return ScannedResults(stats_of_table(table, samples), table.num_rows, complete)


def _run_filter(family: str, run_id: str) -> str:
    """HBase filter language: only rows whose run_id cell is this run's (rows without one are skipped)."""
    quoted = run_id.replace("'", "''")
    return f"SingleColumnValueFilter('{family}', 'run_id', =, 'binary:{quoted}', true, true)"


def _row(key: bytes, cells: dict[bytes, bytes], family: str) -> dict[str, Any]:
    get = {name: cells.get(f"{family}:{name}".encode(), b"").decode("utf-8", "replace") for name in _CELLS}
    return {
        B.KEY: key,
        B.STATUS: get[B.STATUS] or "?",
        B.ERROR_REASON: get[B.ERROR_REASON] or None,
        B.ERROR: get[B.ERROR] or None,
        B.WIDTH: int(get[B.WIDTH]) if get[B.WIDTH].isdigit() else None,
        B.HEIGHT: int(get[B.HEIGHT]) if get[B.HEIGHT].isdigit() else None,
        B.OBJECTS: [_object(o) for o in json.loads(get[B.OBJECTS])] if get[B.OBJECTS] else None,
        B.RUN_ID: get[B.RUN_ID],
    }


def _object(obj: dict[str, Any]) -> dict[str, Any]:
    """``r:objects`` holds boxes as [x1, y1, x2, y2] lists (imgpipe.hbase.cells)."""
    x1, y1, x2, y2 = (float(v) for v in obj.get("box") or (0, 0, 0, 0))
    return {"label_name": obj.get("label_name"), "score": obj.get("score"), "box": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}}
