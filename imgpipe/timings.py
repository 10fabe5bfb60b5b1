"""Seconds per stage, summed as a task runs: what the run report's ``stages`` section is made of."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

#: The stages a task's time is split into, in flow order; ``other`` is the task's time outside all of them.
STAGES = ("read", "decode", "detect", "crop", "embed", "write")


class StageTimes:
    """A running sum of seconds per stage name; cheap enough to wrap every batch and every image."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
