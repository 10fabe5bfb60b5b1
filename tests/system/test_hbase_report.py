"""The HTML report of an HBase -> HBase run: summary and errors from run.report_dir, histograms and the sample
from a bounded scan of the results table, the sample's images read back from the source table."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from imgpipe.config import parse_config
from imgpipe.htmlreport import ReportOptions, write_report
from imgpipe.ingest import ingest
from tests.helpers import photo_paths
from tests.report_page import Page, decoded
from tests.spark_helpers import run_config
from tests.system.conftest import HBaseService

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def hbase_run(spark: SparkSession, hbase: HBaseService, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("hbase-report")
    photos = root / "photos"
    photos.mkdir()
    for photo in photo_paths()[:4]:
        shutil.copy(photo, photos / photo.name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    source, results = f"src_{uuid.uuid4().hex[:8]}", f"res_{uuid.uuid4().hex[:8]}"
    assert ingest(photos, hbase.host, hbase.port, source, "f:img", regions=2, zk=hbase.zk).rows == 5
    config = (
        f"source: {{type: hbase, host: {hbase.host}, port: {hbase.port}, table: {source}, column: 'f:img'}}\n"
        f"sink: {{type: hbase, host: {hbase.host}, port: {hbase.port}, table: {results}, create: true}}\n"
        f"detect: {{model: yolox-nano}}\n"
        f"run: {{report_dir: '{root / 'report'}', max_error_rate: 0.5}}\n"
    )
    report = run_config(spark, config)
    assert report.images_read == 5 and report.images_failed == 1
    return root, config


def test_report_scans_the_results_table_and_reads_images_from_the_source(hbase_run: tuple[Path, str]) -> None:
    root, config = hbase_run
    written = write_report(str(root / "report"), root / "all.html", ReportOptions(job=parse_config(config).job))
    page = Page(written.path.read_text())
    summary = json.loads((root / "report" / "summary.json").read_text())
    assert page.counts["images_read"] == "5" == str(summary["images_read"])
    assert len(page.keys) == 5 and written.samples_missing == 1  # the broken one: a placeholder with its reason
    assert all(key.startswith(tuple("0123456789abcdef")) and "/" in key for key in page.keys)  # hhhh/<name>
    assert "all 5 rows of run" in page.text and "label-bars" in page.ids and "score-bars" in page.ids
    assert any(key.endswith("/broken.jpg") for key in page.keys)
    assert all(reason in page.text for reason in summary["errors_by_reason"])  # the failed image says why
    for img in page.images:
        decoded(img["src"])
    assert sum(1 for img in page.images if "photo" in img.get("class", "")) == 5


def test_the_scan_is_bounded_and_without_config_the_page_says_what_it_needs(hbase_run: tuple[Path, str]) -> None:
    root, config = hbase_run
    options = ReportOptions(job=parse_config(config).job, scan_limit=2)
    page = Page(write_report(str(root / "report"), root / "two.html", options).path.read_text())
    assert len(page.keys) == 2 and "the first 2 rows of run" in page.text
    bare = Page(write_report(str(root / "report"), root / "bare.html").path.read_text())
    assert bare.keys == [] and "pass --config" in bare.text and bare.counts["images_failed"] == "1"
    assert "error-table" in bare.ids  # the errors come from report_dir/errors, no HBase needed
