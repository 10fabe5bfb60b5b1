"""The HTML run report from run outputs written here with pyarrow (both result layouts): counts, charts,
sample grid, errors, and what it does when images or summary keys are missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from imgpipe import batch as B
from imgpipe.cli import cli
from imgpipe.config import parse_config
from imgpipe.errors import SinkError, SourceError
from imgpipe.htmlreport import ReportOptions, write_report
from imgpipe.htmlreport import charts
from imgpipe.htmlreport.results import key_hash, read_results
from imgpipe.htmlreport.run import open_output
from tests.helpers import encode, gradient
from tests.report_page import Page, decoded

RUN = "20261129T000000Z"

#: The keys the other engineer's run summary adds (issue 11); the page shows them when present.
NEW_KEYS: dict[str, Any] = {
    "status": "failed",
    "error": "the job failed: <Spark> lost 3 executors",
    "stages": {
        "write": {"seconds": 2.0, "share": 0.1},
        "read": {"seconds": 1.2, "share": 0.05},
        "decode": {"seconds": 3.0, "share": 0.15},
        "detect": {"seconds": 10.0, "share": 0.5},
        "crop": {"seconds": 0.8, "share": 0.04},
        "embed": {"seconds": 3.0, "share": 0.16},
    },
    "task_seconds": 20.0,
    "objects_by_label": {"person": 2, "dog": 1},
    "images_by_size": {"<256": 0, "256-511": 4, "512-1023": 1, "1024-2047": 0, ">=2048": 0},
    "spark_app_id": "local-1764470000000",
    "images_processed": 5,
    "images_already_committed": 0,
}

OBJECT = B.object_type(with_embedding=True)


def detection(label: str, score: float, box: tuple[float, float, float, float]) -> dict[str, Any]:
    x1, y1, x2, y2 = box
    return {"label": 0, "label_name": label, "score": score, "box": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
            "embedding": [0.5] * 4}  # fmt: skip


def image_rows(photos: Path) -> list[dict[str, Any]]:
    """Five images of this run: three real files, one deleted since the run, one that failed to decode."""
    rows = []
    for i, (w, h) in enumerate([(300, 200), (260, 400), (640, 480)]):
        path = photos / f"photo-{i}.png"
        path.write_bytes(encode(gradient(h, w)))
        objects = [detection("person", 0.92 - i / 10, (10, 20, w / 2, h - 5)), detection("dog", 0.37, (w / 2, 5, w - 1, h / 2))]
        rows.append(_row(f"file:{path}", w, h, objects[: 2 if i == 0 else 1]))
    rows.append(_row(f"file:{photos / 'deleted.png'}", 300, 300, []))
    (photos / "broken.jpg").write_bytes(b"<html>not an image</html>")
    failure = ("decode", "unsupported_format", "text or HTML, not an image")
    rows.append(_row(f"file:{photos / 'broken.jpg'}", None, None, None, error=failure))
    return rows


def _row(key: str, w: int | None, h: int | None, objects: list[dict[str, Any]] | None,
         error: tuple[str, str, str] | None = None, run_id: str = RUN) -> dict[str, Any]:  # fmt: skip
    stage, reason, message = error or (None, None, None)
    return {B.KEY: key, B.WIDTH: w, B.HEIGHT: h, B.STATUS: "error" if error else "ok", B.ERROR_STAGE: stage,
            B.ERROR_REASON: reason, B.ERROR: message, B.OBJECTS: objects, B.RUN_ID: run_id}  # fmt: skip


def results_schema() -> pa.Schema:
    return pa.schema([pa.field(B.KEY, pa.string()), *B.result_fields(detect=True, embed=True, image_embedding=False)[:7],
                      pa.field(B.RUN_ID, pa.string())])  # fmt: skip


def exploded(rows: list[dict[str, Any]]) -> pa.Table:
    """The ``explode: true`` layout: one row per object, object_index null for an image without objects."""
    flat = []
    for row in rows:
        rest = {k: v for k, v in row.items() if k != B.OBJECTS}
        objects = row[B.OBJECTS] or [None]
        for index, obj in enumerate(objects):
            fields = obj or dict.fromkeys(("label", "label_name", "score", "box", "embedding"))
            flat.append({**rest, "object_index": index if obj else None, **fields})
    schema = pa.schema([f for f in results_schema() if f.name not in (B.OBJECTS, B.RUN_ID)]
                       + [pa.field("object_index", pa.int32())] + list(OBJECT)
                       + [pa.field(B.RUN_ID, pa.string())])  # fmt: skip
    return pa.Table.from_pylist(flat, schema)


def write_output(root: Path, summary_extra: dict[str, Any] | None = None, *, explode: bool = False,
                 rows: list[dict[str, Any]] | None = None) -> Path:  # fmt: skip
    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    out = root / "out"
    rows = rows if rows is not None else image_rows(photos)
    other_run = [_row(f"file:{photos / 'photo-0.png'}", 300, 200, [detection("cat", 0.99, (1, 1, 50, 50))], run_id="older")]
    chunk = out / "results" / f"chunk={RUN}-00000"
    chunk.mkdir(parents=True)
    table = exploded(rows + other_run) if explode else pa.Table.from_pylist(rows + other_run, results_schema())
    pq.write_table(table, chunk / "part-00000.parquet", row_group_size=2)
    failed = [r for r in rows if r[B.STATUS] == "error"]
    errors = pa.Table.from_pylist(
        [{c: r[c] for c in (B.KEY, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR, B.RUN_ID)} for r in failed],
        pa.schema([(c, pa.string()) for c in (B.KEY, B.ERROR_STAGE, B.ERROR_REASON, B.ERROR, B.RUN_ID)]),
    )
    (out / "errors").mkdir()
    pq.write_table(errors, out / "errors" / "part-00000.parquet")
    summary = {
        "run_id": RUN, "source": f"files {photos}", "sink": f"parquet {out}", "master": "local[2]",
        "images_read": len(rows), "images_ok": len(rows) - len(failed), "images_failed": len(failed),
        "errors_by_reason": {"unsupported_format": len(failed)} if failed else {}, "duplicate_keys": 0,
        "source_retries": 0, "read_tasks": 2, "chunks_total": 1, "chunks_skipped": 0, "wall_seconds": 12.5,
        "images_per_second": 0.4, "error_rate": len(failed) / len(rows), "max_error_rate": 0.5, "status": "succeeded",
        "models": {"detect": {"name": "yolox-nano", "sha256": "695e750a" + "0" * 56}},
        "started_at": "2026-11-29T00:00:00+00:00", "finished_at": "2026-11-29T00:00:12+00:00",
        "outputs": {"errors": str(out / "errors")},
        **(summary_extra or {}),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, sort_keys=True))
    return out


def report(out: Path, tmp_path: Path, **options: Any) -> Page:
    target = tmp_path / "report.html"
    write_report(str(out), target, ReportOptions(**options))
    return Page(target.read_text())


def test_page_shows_the_summary_counts_and_every_section(tmp_path: Path) -> None:
    out = write_output(tmp_path, NEW_KEYS)
    page = report(out, tmp_path)
    summary = json.loads((out / "summary.json").read_text())
    for key in ("images_read", "images_ok", "images_failed", "images_processed", "images_already_committed",
                "read_tasks", "chunks_total"):  # fmt: skip
        assert page.counts[key].replace(",", "") == str(summary[key]), key
    assert {"summary", "stages", "stage-bars", "stage-share", "sizes", "label-bars", "score-bars", "samples",
            "error-table", "models", "run-error"} <= page.ids  # fmt: skip
    assert "failed" in page.text and "local-1764470000000" in page.text and "695e750a" in page.text
    assert "the job failed: <Spark> lost 3 executors" in page.text  # shown as text, escaped in the HTML


def test_sections_for_keys_the_summary_lacks_are_left_out(tmp_path: Path) -> None:
    page = report(write_output(tmp_path), tmp_path)
    assert "stages" not in page.ids and "sizes" not in page.ids and "run-error" not in page.ids
    assert "images_processed" not in page.counts and page.counts["images_read"] == "5"
    assert {"label-bars", "score-bars", "samples", "error-table"} <= page.ids


def test_every_image_is_an_embedded_jpeg_and_missing_ones_say_why(tmp_path: Path) -> None:
    page = report(write_output(tmp_path), tmp_path)
    photos = [img for img in page.images if "photo" in img.get("class", "")]
    assert len(photos) == 5 and len(page.images) == 5 + 4  # four crops: person and dog, then one person each
    for img in page.images:
        pixels = decoded(img["src"])
        assert (pixels.shape[1], pixels.shape[0]) == (int(img["width"]), int(img["height"]))
    assert "file not found" in page.text and "deleted.png" in page.text
    assert "text or HTML, not an image" in page.text


def test_boxes_are_drawn_where_the_results_put_them(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    grey = np.full((200, 400, 3), 128, np.uint8)
    (photos / "grey.png").write_bytes(encode(grey))
    rows = [_row(f"file:{photos / 'grey.png'}", 400, 200, [detection("person", 0.9, (100, 50, 300, 150))])]
    page = report(write_output(tmp_path, rows=rows), tmp_path)
    thumb = decoded(page.images[0]["src"]).astype(int)
    assert thumb.shape[:2] == (180, 360)  # long side 360, the box scaled by 0.9 to (90, 45)-(270, 135)
    changed = np.abs(thumb - 128).sum(axis=2) > 60
    assert changed[135, 90:270].mean() > 0.9 and changed[45:135, 270].mean() > 0.9  # bottom and right edges
    assert not changed[150:, :].any() and not changed[:, 300:].any()
    crop = decoded(page.images[1]["src"])
    assert crop.shape[:2] == (48, 96)  # the 200x100 box, fitted into 96 pixels


def test_nested_and_exploded_layouts_count_the_same(tmp_path: Path) -> None:
    nested = read_results(open_output(str(write_output(tmp_path / "a"))), RUN, samples=10)
    flat = read_results(open_output(str(write_output(tmp_path / "b", explode=True))), RUN, samples=10)
    assert nested is not None and flat is not None and flat.layout == "exploded"
    for stats in (nested, flat):
        assert stats.images == 5 and stats.by_status == {"ok": 4, "error": 1}  # the older run's row is not counted
        assert stats.objects == 4 and stats.labels == {"person": 3, "dog": 1}
        assert {i: int(n) for i, n in enumerate(stats.score_counts) if n} == {7: 1, 14: 1, 16: 1, 18: 1}  # 0.05 wide
    def shown(stats: Any) -> list[tuple[str, Any]]:
        return sorted((Path(s.key).name, s.objects) for s in stats.sample)

    assert shown(nested) == shown(flat) and len(nested.sample) == 5


def test_the_sample_is_bounded_and_chosen_by_key_hash(tmp_path: Path) -> None:
    out = write_output(tmp_path)
    first = report(out, tmp_path, samples=2)
    again = report(out, tmp_path, samples=2)
    assert len(first.keys) == 2 and first.keys == again.keys
    expected = sorted(report(out, tmp_path).keys, key=key_hash)[:2]
    assert first.keys == expected


def test_parquet_source_images_are_read_with_the_config(tmp_path: Path) -> None:
    img = encode(gradient(120, 160))
    pq.write_table(pa.table({"id": ["sku-1", "sku-2"], "jpeg": [img, img]}), tmp_path / "images.parquet")
    rows = [_row("sku-1", 160, 120, [detection("cup", 0.8, (10, 10, 100, 100))]), _row("sku-2", 160, 120, [])]
    out = write_output(tmp_path, {"source": f"parquet {tmp_path / 'images.parquet'}"}, rows=rows)
    without = report(out, tmp_path)
    assert without.text.count("pass --config") == 2 and len(without.images) == 2  # placeholders, never broken
    config = parse_config(
        f"source: {{type: parquet, path: '{tmp_path / 'images.parquet'}', key_column: id, image_column: jpeg}}\n"
        f"sink: {{type: parquet, path: '{out}'}}\n"
    )
    with_config = report(out, tmp_path, job=config.job)
    assert "not available" not in with_config.text and len(with_config.images) == 3  # two photos and a crop
    assert decoded(with_config.images[0]["src"]).shape[:2] == (120, 160)


def test_html_in_keys_and_messages_is_escaped(tmp_path: Path) -> None:
    rows = [_row("<img src=x onerror=alert(1)>", 10, 10, None, error=("decode", "undecodable", "<b>bad</b>"))]
    out = write_output(tmp_path, rows=rows)
    html = (write_report(str(out), tmp_path / "r.html").path).read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;bad" in html


def test_an_earlier_report_is_replaced_and_nothing_else(tmp_path: Path) -> None:
    out = write_output(tmp_path)
    target = tmp_path / "mine.html"
    target.write_text("<html>my notes</html>")
    with pytest.raises(SinkError, match="not an imgpipe report"):
        write_report(str(out), target)
    assert target.read_text() == "<html>my notes</html>"
    target.unlink()
    write_report(str(out), target)
    write_report(str(out), target)  # its own earlier report: replaced
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".mine", "mine"))) == ["mine.html"]


def test_an_output_without_summary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="has no summary.json"):
        write_report(str(tmp_path), tmp_path / "r.html")


def test_cli_writes_the_report_and_names_missing_output(tmp_path: Path) -> None:
    out = write_output(tmp_path)
    target = tmp_path / "cli.html"
    done = CliRunner().invoke(cli, ["report", str(out), "--out", str(target), "--samples", "3"])
    assert done.exit_code == 0, done.output
    assert f"report: {target} (3 sample images" in done.output and len(Page(target.read_text()).keys) == 3
    missing = CliRunner().invoke(cli, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "has no summary.json" in missing.output


def test_charts_keep_pipeline_and_size_order() -> None:
    stages = charts.stage_bars(NEW_KEYS["stages"])
    assert [b.label for b in stages] == ["read", "decode", "detect", "crop", "embed", "write"]
    assert stages[2].fraction == 1.0 and stages[2].text == "10.0 s (50%)"
    sizes = charts.size_bars(dict(sorted(NEW_KEYS["images_by_size"].items())))
    assert [b.label for b in sizes] == ["<256", "256-511", "512-1023", "1024-2047", ">=2048"]
    many = charts.label_bars({f"l{i:02d}": 100 - i for i in range(40)}, {})
    assert len(many) == charts.MAX_LABELS + 1 and many[-1].label == "10 other labels"


def test_a_summary_with_only_a_run_id_still_renders(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": "old", "models": {"detect": {}}}))
    page = Page(write_report(str(tmp_path), tmp_path / "r.html").path.read_text())
    assert page.counts == {} and page.images == [] and "No failed images." in page.text and "old" in page.text
