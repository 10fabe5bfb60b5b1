"""The run summary: written as ``summary.json`` when a run starts (status ``running``) and again when it ends
(``succeeded``, ``too_many_errors`` or ``failed`` with the error), and printed at the end of every run.

A person or a scheduler reading ``summary.json`` therefore never sees an earlier run's result as this run's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from secrets import token_hex
from typing import Any

from imgpipe.batch import STATUS_OK
from imgpipe.config.job import JobConfig
from imgpipe.runtime.resolve import looks_like_path
from imgpipe.timings import STAGES

RUNNING, SUCCEEDED, TOO_MANY_ERRORS, FAILED = "running", "succeeded", "too_many_errors", "failed"
#: The config sections that decide what a vector means; ``imgpipe search`` rebuilds its query pass from them.
INFERENCE_SECTIONS = ("decode", "detect", "crop", "embed")

# The keys of the counts the tasks keep (``imgpipe.job.tally``): ``ok``, ``error:<reason>``, ``objects:<label>``,
# ``size:<bucket>``, ``seconds:<stage>``, and the number and total seconds of tasks.
ERROR, OBJECTS, SIZE, SECONDS = "error:", "objects:", "size:", "seconds:"
TASKS, TASK_SECONDS = "tasks", "task_seconds"
#: Long-side buckets of ``images_by_size``: (label, smallest long side in the bucket).
SIZE_BUCKETS = (("<256", 0), ("256-511", 256), ("512-1023", 512), ("1024-2047", 1024), (">=2048", 2048))


def images_in(counts: dict[str, float]) -> int:
    """How many images a tally counted: every outcome, ``ok`` or ``error:<reason>``."""
    return int(sum(n for key, n in counts.items() if key == STATUS_OK or key.startswith(ERROR)))


def new_run_id() -> str:
    """A fresh run's id when the config sets none (and ``imgpipe.spark.infer``'s default): the UTC time, sortable,
    and a random suffix, because two runs can start within one second (a rerun after a quick failure)."""
    return f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{token_hex(2)}"


@dataclass
class RunReport:
    run_id: str
    source: str
    sink: str
    master: str
    status: str = RUNNING
    #: Why the run failed (status ``failed``).
    error: str | None = None
    read_tasks: int = 0
    #: What the tasks counted over every chunk of the run (processed now, or committed by an earlier,
    #: interrupted attempt); the outcome, label, size and stage figures below are read from it.
    counts: dict[str, float] = field(default_factory=dict)
    #: Images this invocation read and committed; ``--resume`` leaves out the chunks already done.
    images_processed: int = 0
    images_already_committed: int = 0
    duplicate_keys: int = 0
    #: Inputs the source left out by configuration (files whose extension is not in ``source.extensions``).
    files_skipped: int = 0
    #: Source calls retried after a transient error (HBase Thrift); the data is still read exactly once.
    source_retries: int = 0
    #: The executors the chunks' tasks ran on (``host:executor-id``) and how many tasks each finished.
    executors: dict[str, int] = field(default_factory=dict)
    #: Task attempts that failed and were run again (a lost executor, a crashed Python worker).
    tasks_retried: int = 0
    #: Per HBase Thrift gateway, this invocation's splits (finished through it), rows read and failovers away.
    gateways: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    max_error_rate: float = 0.0
    chunks_total: int = 0
    chunks_skipped: int = 0
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    #: decode/detect/crop/embed as run, model paths made absolute (see ``inference_config``).
    inference: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    spark_app_id: str | None = None
    started_at: str = ""
    finished_at: str = ""

    def _counted(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix) :]: int(n) for k, n in sorted(self.counts.items()) if k.startswith(prefix)}

    @property
    def images_ok(self) -> int:
        return int(self.counts.get(STATUS_OK, 0))

    @property
    def errors_by_reason(self) -> dict[str, int]:
        return self._counted(ERROR)

    @property
    def objects_by_label(self) -> dict[str, int]:
        return dict(sorted(self._counted(OBJECTS).items(), key=lambda item: -item[1]))

    @property
    def images_by_size(self) -> dict[str, int]:
        """Images by their long side, in pixels."""
        sizes = self._counted(SIZE)
        return {label: sizes.get(label, 0) for label, _ in SIZE_BUCKETS}

    @property
    def task_seconds(self) -> float:
        return float(self.counts.get(TASK_SECONDS, 0.0))

    @property
    def stages(self) -> dict[str, dict[str, float]]:
        """Seconds per stage summed over the tasks, and each one's share of the tasks' time (``other``: the rest)."""
        seconds = {stage: float(self.counts.get(SECONDS + stage, 0.0)) for stage in STAGES}
        seconds["other"] = max(0.0, self.task_seconds - sum(seconds.values()))
        total = self.task_seconds or 1.0
        return {stage: {"seconds": round(s, 3), "share": round(s / total, 4)} for stage, s in seconds.items()}

    @property
    def images_failed(self) -> int:
        return sum(self.errors_by_reason.values())

    @property
    def images_read(self) -> int:
        return self.images_ok + self.images_failed

    @property
    def error_rate(self) -> float:
        return self.images_failed / self.images_read if self.images_read else 0.0

    @property
    def images_per_second(self) -> float:
        """This invocation's rate: images it processed (not those already committed) over its wall time."""
        return self.images_processed / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def error_rate_exceeded(self) -> bool:
        return self.error_rate > self.max_error_rate

    def finish(self) -> None:
        """Set the final status from the counts: ``succeeded`` or ``too_many_errors``."""
        self.status = TOO_MANY_ERRORS if self.error_rate_exceeded else SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["counts"]
        data.update(images_read=self.images_read, images_ok=self.images_ok, images_failed=self.images_failed)
        data.update(errors_by_reason=self.errors_by_reason, objects_by_label=self.objects_by_label)
        data.update(images_by_size=self.images_by_size, stages=self.stages, task_seconds=round(self.task_seconds, 3))
        data["error_rate"] = round(self.error_rate, 6)
        data["images_per_second"] = round(self.images_per_second, 3)
        return data

    def to_json(self, redact: Callable[[str], str] | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        return redact(text) if redact else text

    def _executors_text(self) -> str:
        return ", ".join(f"{name} ({n} tasks)" for name, n in sorted(self.executors.items()))

    def format_text(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.errors_by_reason.items())) or "none"
        resumed = f" ({self.images_already_committed} already committed)" if self.images_already_committed else ""
        lines = [
            f"run {self.run_id}: {self.source} -> {self.sink} on {self.master}",
            f"  images read   {self.images_read}{resumed}",
            f"  images ok     {self.images_ok}",
            f"  images failed {self.images_failed} ({self.error_rate:.2%}; limit {self.max_error_rate:.2%})"
            f"  reasons: {reasons}",
            *([f"  duplicate keys {self.duplicate_keys} (each processed; listed in errors)"] if self.duplicate_keys else []),
            *([f"  files skipped {self.files_skipped} (extension not in source.extensions)"] if self.files_skipped else []),
            *([f"  source retries {self.source_retries} (transient errors, resumed)"] if self.source_retries else []),
            *[f"  gateway       {name}: {c['splits']} splits, {c['rows']} rows, {c['failovers']} failovers"
              for name, c in self.gateways.items()],
            f"  read tasks    {self.read_tasks}"
            + (f"  chunks {self.chunks_total} ({self.chunks_skipped} skipped, already done)" if self.chunks_total else ""),
            *([f"  executors     {self._executors_text()}"] if self.executors else []),
            *([f"  tasks retried {self.tasks_retried} (failed attempts Spark ran again)"] if self.tasks_retried else []),
            f"  wall time     {self.wall_seconds:.1f} s  ({self.images_per_second:.1f} images/s processed now)",
        ]
        lines += [f"  {name:<13} {path}" for name, path in self.outputs.items()]
        return "\n".join(lines)


def inference_config(job: JobConfig) -> dict[str, Any]:
    """The inference sections as plain data, so a later process (``imgpipe search``) can embed queries alike.

    Models given by path are made absolute: the search runs from another directory than the job.
    """
    data = job.model_dump(mode="json", include=set(INFERENCE_SECTIONS), exclude_none=True)
    for role in ("detect", "embed"):
        section = data.get(role)
        if section is None:
            continue
        if section.get("path"):
            section["path"] = str(Path(section["path"]).expanduser().absolute())
        if looks_like_path(str(section["model"])):
            section["model"] = str(Path(section["model"]).expanduser().absolute())
    return data
