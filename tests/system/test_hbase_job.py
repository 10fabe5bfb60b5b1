"""The whole job against a real HBase: HBase -> Parquet, HBase -> HBase, idempotent reruns, one task per region."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import happybase
import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.config import parse_config
from imgpipe.ingest import row_key
from imgpipe.preflight import build_pipeline
from imgpipe.hbase.cells import decode_cells
from tests.helpers import MODELS_YAML, photo_count
from tests.spark_helpers import read_rows, run_config
from tests.system.conftest import HBaseService

pytestmark = pytest.mark.system



def hbase_source(hbase: HBaseService, table: str) -> str:
    return f"source: {{type: hbase, host: {hbase.host}, port: {hbase.port}, table: {table}, column: 'f:img'}}\n"


def expected_results(shared_images: Path) -> dict[bytes, dict[str, Any]]:
    """The fused pass on the same bytes without Spark or HBase, keyed like the ingested rows."""
    files = sorted(p for p in shared_images.iterdir() if p.suffix in (".jpg", ".png", ".bmp"))
    keys = [row_key(p.name) for p in files]
    pipeline = build_pipeline(parse_config(f"source: {{type: files, path: /tmp}}\nsink: {{type: parquet, path: /x}}\n{MODELS_YAML}"))
    batch = pa.RecordBatch.from_pydict({B.KEY: pa.array(keys, pa.binary()), B.IMAGE: [p.read_bytes() for p in files]})
    return {r[B.KEY]: r for r in pipeline.process(batch).to_pylist()}


def test_hbase_to_parquet_one_task_per_region(
    spark: SparkSession, hbase: HBaseService, photos_table: str, shared_images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = hbase_source(hbase, photos_table) + f"sink: {{type: parquet, path: '{out}'}}\n" + MODELS_YAML
    report = run_config(spark, config)
    assert report.read_tasks == 4, "one read task per region"
    assert report.images_ok == photo_count()
    assert json.loads((out / "summary.json").read_text())["read_tasks"] == 4
    rows = {r[B.KEY]: r for r in read_rows(out / "results")}
    expected = expected_results(shared_images)
    assert sorted(rows) == sorted(expected)
    for key, want in expected.items():
        assert rows[key][B.OBJECTS] == want[B.OBJECTS], key
        assert rows[key][B.IMAGE_EMBEDDING] == want[B.IMAGE_EMBEDDING], key


def test_splits_per_region_multiply_read_tasks(
    spark: SparkSession, hbase: HBaseService, photos_table: str, tmp_path: Path
) -> None:
    config = hbase_source(hbase, photos_table) + f"sink: {{type: parquet, path: '{tmp_path / 'o'}'}}\n"
    report = run_config(spark, config, ("source.splits_per_region=3",))
    assert report.read_tasks == 12
    keys = [r[B.KEY] for r in read_rows(tmp_path / "o" / "results")]
    assert len(keys) == len(set(keys)) == photo_count()


def read_table(hbase: HBaseService, table: str) -> dict[bytes, dict[bytes, bytes]]:
    conn = happybase.Connection(hbase.host, hbase.port)
    try:
        return {key: cells for key, cells in conn.table(table).scan()}
    finally:
        conn.close()


def test_hbase_to_hbase_writes_every_key_and_reruns_identically(
    spark: SparkSession, hbase: HBaseService, photos_table: str, shared_images: Path, tmp_path: Path
) -> None:
    results = f"results_{uuid.uuid4().hex[:8]}"
    config = (
        hbase_source(hbase, photos_table)
        + f"sink: {{type: hbase, host: {hbase.host}, port: {hbase.port}, table: {results}, create: true}}\n"
        + f"run: {{run_id: nightly-1, report_dir: '{tmp_path / 'report'}'}}\n"
        + MODELS_YAML
    )
    first = run_config(spark, config)
    assert first.images_ok == photo_count() and first.read_tasks == 4
    written = read_table(hbase, results)
    expected = expected_results(shared_images)
    assert sorted(written) == sorted(expected)
    for key, want in expected.items():
        cells = decode_cells(written[key])
        assert cells["status"] == "ok" and cells["run_id"] == "nightly-1"
        assert [o["label_name"] for o in cells["objects"]] == [o["label_name"] for o in want[B.OBJECTS]]
        for got, obj in zip(cells["objects"], want[B.OBJECTS], strict=True):
            assert np.array_equal(got["embedding"], np.asarray(obj["embedding"], np.float32)), key
        assert np.array_equal(cells["image_embedding"], np.asarray(want[B.IMAGE_EMBEDDING], np.float32))
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["images_ok"] == photo_count()

    second = run_config(spark, config)
    assert second.images_ok == photo_count()
    assert read_table(hbase, results) == written, "a rerun must leave identical cell values"


def test_thrift_restarted_during_the_job_every_key_once(
    spark: SparkSession,
    hbase: HBaseService,
    photos_table: str,
    tmp_path: Path,
) -> None:
    """The gateway goes down and up again while the job scans: scans resume, the output has each key once."""
    out = tmp_path / "out"
    config = (
        hbase_source(hbase, photos_table).replace("column: 'f:img'", "column: 'f:img', scan_batch_size: 1, retries: 8")
        + f"sink: {{type: parquet, path: '{out}'}}\n"
        + MODELS_YAML
    )
    restarts: list[float] = []
    done = threading.Event()

    def keep_restarting() -> None:
        manifest = out / "_imgpipe" / "manifest.json"
        deadline = time.monotonic() + 120
        while not manifest.exists() and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.05)  # planning (on the driver) is over once the manifest is written
        while not done.is_set() and time.monotonic() < deadline:
            hbase.stop_thrift()
            restarts.append(time.monotonic())
            hbase.start_thrift()
            time.sleep(1.0)

    previous = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1")  # one image per scan batch: a long scan
    restarter = threading.Thread(target=keep_restarting, daemon=True)
    restarter.start()
    try:
        report = run_config(spark, config)
    finally:
        done.set()
        restarter.join(timeout=120)
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", previous)
    assert restarts, "the Thrift gateway was never restarted while the job ran"
    keys = [r[B.KEY] for r in read_rows(out / "results")]
    assert len(keys) == len(set(keys)) == photo_count() == report.images_ok
    assert report.source_retries > 0, "no scan had to retry: every restart missed the scans"
