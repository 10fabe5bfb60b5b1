"""The issue's ratio lines, and the tables behind them, from the medians of one benchmark run.

Which imgpipe figure enters each ratio: imgpipe's own wall time from its run report (``summary.json``
``wall_seconds``: planning, every chunk, commits, counts, errors and summary; it starts after the Spark
session is up), on local[CORES], reading the Parquet corpus. The peers' figures likewise start after
their runtime is up (``ray.init``; Daft has none). The whole-process figures are printed beside them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.common import Measurement

LIMIT, IMGPIPE, LOCAL1 = "parallel-limit", "imgpipe", "imgpipe-local1"
PEERS = ("ray-data", "daft", "spark-udf", "python-loop")


def rate(m: Measurement, key: str = "seconds") -> float:
    return m["images"] / m[key]


def ratio_lines(results: dict[str, Any]) -> Iterator[tuple[str, float, str]]:
    """(label, value, note) in the issue's wording; the label is printed exactly, the note after it."""
    for size, variants in results.get("sizes", {}).items():
        note = f"{size} images"
        if IMGPIPE not in variants:
            continue  # imgpipe failed at this size: no ratio to print
        mine = rate(variants[IMGPIPE])
        if LIMIT in variants:
            yield "imgpipe ÷ parallel limit", mine / rate(variants[LIMIT]), note
        for peer in PEERS:
            if peer in variants:
                yield f"imgpipe ÷ {peer}", mine / rate(variants[peer]), note
        if LOCAL1 in variants:
            yield "local[2] ÷ local[1]", mine / rate(variants[LOCAL1]), note
    if "overhead" in results and "whole_s" in results["overhead"]:
        o = results["overhead"]
        yield "fixed overhead", o["whole_s"] - o["session_start_s"], f"{int(o['images'])} images, in seconds"
    if "rss" in results and {"small", "large"} <= set(results["rss"]):
        small, large = results["rss"]["small"], results["rss"]["large"]
        note = f"{int(large['images'])} vs {int(small['images'])} images"
        yield "peak worker RSS 20k ÷ 2k", large["peak_worker_rss_mib"] / small["peak_worker_rss_mib"], note
    if "hbase" in results and {"imgpipe-hbase", LIMIT} <= set(results["hbase"]):
        h = results["hbase"]
        note = f"{int(h['imgpipe-hbase']['images'])} images, {h.get('regions', 8)} regions"
        yield "HBase → Parquet ÷ parallel limit", rate(h["imgpipe-hbase"]) / rate(h[LIMIT]), note


def format_ratio(label: str, value: float, note: str) -> str:
    shown = f"{value:.2f} s" if label == "fixed overhead" else f"{value:.2f}"
    return f"{label}: {shown}  ({note})"


def table(title: str, variants: dict[str, Measurement], base: str | None = LIMIT) -> Iterator[str]:
    """Markdown: images/s from the variant's own figure, and from its whole process where it has one."""
    yield f"\n{title}\n"
    versus = "parallel limit" if base == LIMIT else base
    yield f"| variant | images | median s | images/s | ÷ {versus} | whole process s | whole-process images/s |"
    yield "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    limit = rate(variants[base]) if base and base in variants else None
    for name, m in variants.items():
        if name == "failed":
            continue
        r = rate(m)
        vs = f"{r / limit:.2f}" if limit else ""
        whole = f"{m['whole_s']:.1f} | {m['images'] / m['whole_s']:.1f}" if "whole_s" in m else " | "
        yield f"| {name} | {int(m['images'])} | {m['seconds']:.2f} | {r:.1f} | {vs} | {whole} |"
    for name, why in variants.get("failed", {}).items():
        yield f"\n{name} FAILED: {why}"


def details(name: str, m: Measurement) -> Iterator[str]:
    """Every other figure a measurement carries (session start, phases, jobs, CPU by role ...)."""
    skip = {"seconds", "images", "whole_s"}
    extra = ", ".join(f"{k} {v:.2f}" if v % 1 else f"{k} {int(v)}" for k, v in m.items() if k not in skip)
    if extra:
        yield f"- {name}: {extra}"
