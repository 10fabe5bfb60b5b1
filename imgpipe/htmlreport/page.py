"""The page itself: what the template shows, taken from the summary, the results and the errors, then
rendered with Jinja2 (autoescaped) from the template shipped in ``imgpipe/htmlreport/templates``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import jinja2

from imgpipe import __version__
from imgpipe.htmlreport import charts
from imgpipe.htmlreport.results import ResultStats
from imgpipe.htmlreport.run import ErrorRows, show_key
from imgpipe.htmlreport.thumbs import SampleView, hex_colour

#: Marks a file as an imgpipe report, so ``--out`` may replace it (and nothing else).
GENERATOR = "imgpipe report"

#: Summary counts shown on the page, in order: (summary key, label). Absent keys are left out.
COUNTS = (
    ("images_read", "images read"),
    ("images_ok", "images ok"),
    ("images_failed", "images failed"),
    ("images_processed", "processed in this run"),
    ("images_already_committed", "already committed (resumed)"),
    ("duplicate_keys", "duplicate keys"),
    ("source_retries", "source retries"),
    ("read_tasks", "read tasks"),
    ("chunks_total", "chunks"),
    ("chunks_skipped", "chunks skipped (resumed)"),
)
_STATUS_KIND = {"succeeded": "ok", "running": "info", "error_rate_exceeded": "warn", "too_many_errors": "warn"}


@dataclass(frozen=True)
class Section:
    """Sample grid and results sections, with the note that says what they cover or why they are empty."""

    samples: list[SampleView] = field(default_factory=list)
    stats: ResultStats | None = None
    note: str = ""


def render(summary: dict[str, Any], results: Section, errors: ErrorRows, source_note: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("imgpipe.htmlreport", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["key"] = show_key
    env.filters["label_colour"] = hex_colour
    return env.get_template("report.html.j2").render(**context(summary, results, errors, source_note))


def context(summary: dict[str, Any], results: Section, errors: ErrorRows, source_note: str) -> dict[str, Any]:
    stats = results.stats
    labels = dict(stats.labels) if stats is not None else dict(summary.get("objects_by_label") or {})
    return {
        "generator": GENERATOR,
        "version": __version__,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": summary,
        "status": _status(summary),
        "counts": [(key, label, summary[key]) for key, label in COUNTS if isinstance(summary.get(key), int)],
        "facts": _facts(summary),
        "stages": charts.stage_bars(summary["stages"]) if summary.get("stages") else None,
        "sizes": charts.size_bars(summary["images_by_size"]) if summary.get("images_by_size") else None,
        "labels": charts.label_bars(labels, {name: hex_colour(name) for name in labels}) if labels else None,
        "labels_from": "results" if stats is not None else "summary",
        "scores": charts.score_bars(stats.score_counts) if stats is not None and stats.objects else None,
        "stats": stats,
        "reasons": charts.bars((r, float(n), f"{n:,}") for r, n in sorted((summary.get("errors_by_reason") or {}).items())),
        "samples": results.samples,
        "results_note": results.note,
        "source_note": source_note,
        "errors": errors,
        "models": sorted((summary.get("models") or {}).items()),
    }


def _status(summary: dict[str, Any]) -> dict[str, str]:
    status = str(summary.get("status") or "unknown")
    return {"text": status.replace("_", " "), "kind": _STATUS_KIND.get(status, "bad")}


def _facts(summary: dict[str, Any]) -> list[tuple[str, str]]:
    wall = summary.get("wall_seconds")
    rate = summary.get("images_per_second")
    limit = summary.get("max_error_rate")
    facts = [
        ("run id", summary.get("run_id")),
        ("source", summary.get("source")),
        ("sink", summary.get("sink")),
        ("Spark master", summary.get("master")),
        ("Spark application", summary.get("spark_app_id")),
        ("started", summary.get("started_at")),
        ("finished", summary.get("finished_at")),
        ("wall time", _wall(wall, rate)),
        ("task time", f"{summary['task_seconds']:.1f} s (summed over tasks)" if summary.get("task_seconds") else None),
        ("error rate", _rate(summary.get("error_rate"), limit)),
    ]
    return [(name, str(value)) for name, value in facts if value not in (None, "")]


def _wall(wall: Any, rate: Any) -> str | None:
    if not isinstance(wall, float | int):
        return None
    return f"{wall:.1f} s" + (f" ({rate:.1f} images/s)" if isinstance(rate, float | int) and rate else "")


def _rate(rate: Any, limit: Any) -> str | None:
    if not isinstance(rate, float | int):
        return None
    return f"{rate:.2%}" + (f" (limit {limit:.2%})" if isinstance(limit, float | int) else "")
