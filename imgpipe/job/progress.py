"""How far a run is, while it runs: a live bar on a terminal (rich), a plain timestamped line otherwise.

Driven by what the driver already knows, read every half second: the images of committed chunks, the running
chunk's accumulator (which grows as its tasks finish) and Spark's status tracker (tasks done in the running
stages). Nothing here touches the data or starts a Spark job.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime, timezone
from typing import Literal, TextIO

from pyspark import Accumulator
from pyspark.sql import SparkSession
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from imgpipe.job.tally import Tally
from imgpipe.report import ERROR, images_in

Mode = Literal["bar", "lines", "off"]
#: Seconds between plain progress lines (cron, Airflow logs); a line is also printed at each chunk's end.
LINE_INTERVAL_S = 30.0


class Watch:
    """Follows a run from a background thread; ``chunk``/``committed`` are called by the job's loop."""

    def __init__(self, spark: SparkSession, mode: Mode, total: int | None, chunks: int, stream: TextIO = sys.stderr):
        self.spark, self.mode, self.total, self.chunks, self.stream = spark, mode, total, chunks, stream
        self.done_images = self.done_errors = 0
        self.chunk_index = 0
        self.running: Accumulator[Tally] | None = None
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._bar: Progress | None = None
        self._thread = threading.Thread(target=self._loop, name="imgpipe-progress", daemon=True)

    def __enter__(self) -> Watch:
        if self.mode == "bar":
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.fields[of]} images"),
                TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[errors]}"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=False,
            )  # fmt: skip
            self._bar.add_task("", total=self.total, of=self.total or "?", rate="", errors="")
            self._bar.start()
        if self.mode != "off":
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._show(final=True)
        if self._bar is not None:
            self._bar.stop()

    def chunk(self, index: int, counter: Accumulator[Tally]) -> None:
        self.chunk_index, self.running = index, counter

    def committed(self, counts: dict[str, float]) -> None:
        self.done_images += images_in(counts)
        self.done_errors += int(sum(n for k, n in counts.items() if k.startswith(ERROR)))
        self.running = None
        if self.mode == "lines":
            self._line()

    def _loop(self) -> None:
        last_line = time.monotonic()
        while not self._stop.wait(0.5):
            if self.mode == "bar":
                self._show()
            elif time.monotonic() - last_line >= LINE_INTERVAL_S:
                self._line()
                last_line = time.monotonic()

    def _now(self) -> tuple[int, int, str]:
        """Images and errors so far (finished tasks of the running chunk included), and the running tasks."""
        images, errors = self.done_images, self.done_errors
        running = self.running
        if running is not None:
            counts = running.value.counts
            images += images_in(counts)
            errors += int(sum(n for k, n in counts.items() if k.startswith(ERROR)))
        return images, errors, self._tasks()

    def _tasks(self) -> str:
        try:
            tracker = self.spark.sparkContext.statusTracker()
            stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
        except Exception:  # noqa: BLE001 - a stopping context: progress is not worth an error
            return ""
        done = sum(s.numCompletedTasks for s in stages if s is not None)
        total = sum(s.numTasks for s in stages if s is not None)
        return f"tasks {done}/{total}" if total else ""

    def _show(self, final: bool = False) -> None:
        if self._bar is None:
            return  # plain lines come from the loop and from each chunk's commit
        images, errors, tasks = self._now()
        rate = images / max(time.monotonic() - self.started, 1e-9)
        description = f"chunk {self.chunk_index + 1}/{self.chunks}" + (f" {tasks}" if tasks and not final else "")
        self._bar.update(
            self._bar.task_ids[0], completed=images, description=description,
            rate=f"{rate:.1f}/s", errors=f"{errors} errors" if errors else "",
        )  # fmt: skip

    def _line(self) -> None:
        images, errors, tasks = self._now()
        elapsed = time.monotonic() - self.started
        rate = images / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total} images ({images / self.total:.0%})" if self.total else " images"
        eta = f", about {(self.total - images) / rate:.0f} s left" if self.total and rate > 0 else ""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [f"{images}{of}", f"{rate:.1f} images/s{eta}", f"{errors} errors", f"chunk {self.chunk_index + 1}/{self.chunks}"]
        self.stream.write(f"{stamp} imgpipe: " + ", ".join(parts + ([tasks] if tasks else [])) + "\n")
        self.stream.flush()
