"""Chart data for the page: bars with their share of the longest one, which the template draws as SVG."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Stage order in the pipeline, for the timing bars; stages the summary adds later come after these.
STAGE_ORDER = ("read", "decode", "detect", "crop", "embed", "write")
STAGE_COLOURS = ("#c9504c", "#c9a43a", "#4a9d5b", "#3fa7a0", "#4f6bd8", "#9b59b6", "#7f8c8d")
MAX_LABELS = 30


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown
    fraction: float  # of the longest bar, 0..1
    colour: str = "#4f6bd8"


def bars(items: Iterable[tuple[str, float, str]], colours: Mapping[str, str] | None = None) -> list[Bar]:
    rows = list(items)
    longest = max((v for _, v, _ in rows), default=0.0)
    colours = colours or {}
    return [
        Bar(label, value, text, value / longest if longest > 0 else 0.0, colours.get(label, Bar.colour))
        for label, value, text in rows
    ]


def stage_bars(stages: Mapping[str, Any]) -> list[Bar]:
    """``summary["stages"]``: {name: {seconds, share}} in pipeline order, shown as seconds and share."""
    names = [s for s in STAGE_ORDER if s in stages] + sorted(set(stages) - set(STAGE_ORDER))
    rows = []
    for name in names:
        seconds = float(stages[name].get("seconds") or 0.0)
        share = stages[name].get("share")
        text = f"{seconds:.1f} s" + (f" ({float(share):.0%})" if share is not None else "")
        rows.append((name, seconds, text))
    colours = {name: STAGE_COLOURS[min(i, len(STAGE_COLOURS) - 1)] for i, name in enumerate(names)}
    return bars(rows, colours)


def label_bars(labels: Mapping[str, int], colours: Mapping[str, str]) -> list[Bar]:
    """Most frequent labels first; past ``MAX_LABELS`` the rest are summed into one bar."""
    ranked = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [(name, float(n), f"{n:,}") for name, n in ranked[:MAX_LABELS]]
    rest = ranked[MAX_LABELS:]
    if rest:
        total = sum(n for _, n in rest)
        rows.append((f"{len(rest)} other labels", float(total), f"{total:,}"))
    return bars(rows, colours)


def score_bars(counts: NDArray[np.int64]) -> list[Bar]:
    """Score histogram bins over [0, 1], labelled by their lower edge."""
    width = 1.0 / len(counts)
    return bars((f"{i * width:.2f}", float(n), f"{int(n):,}") for i, n in enumerate(counts))


def size_bars(sizes: Mapping[str, int]) -> list[Bar]:
    """``summary["images_by_size"]`` in size order ("<256" first, ">=2048" last), whatever the JSON order."""
    return bars((label, float(n), f"{n:,}") for label, n in sorted(sizes.items(), key=lambda kv: _size_order(kv[0])))


def _size_order(label: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", label)]
    if label.startswith("<"):
        return (-1, numbers[0] if numbers else 0)
    return (numbers[0] if numbers else 1 << 62, 0)
