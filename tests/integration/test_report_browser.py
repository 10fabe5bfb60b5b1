"""The HTML report of a real demo run, opened from disk in a real headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from imgpipe.demo import build as build_demo
from imgpipe.htmlreport import write_report
from tests.browser import chromium
from tests.integration.conftest import run_config

pytestmark = pytest.mark.browser

# configs/demo.yaml, on the shared local session, with the demo corpus plus one file that is not an image.
DEMO = """
source: {{type: files, path: '{photos}'}}
decode: {{max_pixels: 100000000}}
detect: {{model: yolox-nano, score_threshold: 0.3}}
crop: {{top_k: 5, min_size: 32, whole_image: true}}
embed: {{model: mobilenetv2-int8}}
sink: {{type: parquet, path: '{out}', mode: overwrite}}
run: {{max_error_rate: 0.5}}
"""

# Runs in the page: what a reader would see of the images and the counts.
INSPECT = """(() => ({
  images: [...document.images].map(img => ({src: img.src.slice(0, 40), complete: img.complete,
                                             naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight})),
  counts: Object.fromEntries([...document.querySelectorAll('[data-count]')]
                             .map(e => [e.dataset.count, e.textContent.trim()])),
  samples: document.querySelectorAll('figure.sample').length,
  errorRows: document.querySelectorAll('#error-table tbody tr').length,
  status: document.getElementById('status').textContent.trim(),
}))()"""


@pytest.fixture(scope="module")
def demo_report(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("demo-report")
    photos = root / "photos"
    assert len(build_demo(photos)) == 11
    (photos / "notes.jpg").write_text("not an image, named like one")
    run_config(spark, DEMO.format(photos=photos, out=root / "out"))
    summary = json.loads((root / "out" / "summary.json").read_text())
    written = write_report(str(root / "out"), root / "report.html")
    return written.path, summary


def test_report_opens_from_disk_with_every_image_loaded(demo_report: tuple[Path, dict[str, Any]]) -> None:
    page_path, summary = demo_report
    with chromium(page_path.parent / "chromium-profile") as page:
        page.open(page_path.as_uri())
        seen = page.evaluate(INSPECT)
        shot = page_path.parent / "report.png"
        page.screenshot(shot)
        requested = page.requested_urls()
    broken = [img for img in seen["images"] if not (img["complete"] and img["naturalWidth"] > 0)]
    assert not broken, broken
    assert seen["samples"] == summary["images_read"] == 12  # the grid holds every image of a 12-image run
    assert len(seen["images"]) > seen["samples"]  # and crops of what was detected
    assert all(img["src"].startswith("data:image/jpeg;base64,") for img in seen["images"])
    for key, shown in seen["counts"].items():
        assert shown.replace(",", "") == str(summary[key]), key
    assert {"images_read", "images_ok", "images_failed", "read_tasks"} <= set(seen["counts"])
    assert summary["images_failed"] == 1 and seen["errorRows"] == 1 and seen["status"] == "succeeded"
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []  # no server, no network
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
