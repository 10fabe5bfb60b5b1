"""The run summary: written as ``summary.json`` when a run starts (status ``running``) and again when it ends
(``succeeded``, ``too_many_errors`` or ``failed`` with the error), and printed at the end of every run.

A person or a scheduler reading ``summary.json`` therefore never sees an earlier run's result as this run's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from imgpipe.batch import STATUS_OK

RUNNING, SUCCEEDED, TOO_MANY_ERRORS, FAILED = "running", "succeeded", "too_many_errors", "failed"


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
    #: Every image of the run (processed now, or committed by an earlier, interrupted attempt) by outcome:
    #: ``ok`` and ``error:<reason>``, as the tasks counted them (``imgpipe.job.tally``).
    outcomes: dict[str, int] = field(default_factory=dict)
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
    wall_seconds: float = 0.0
    max_error_rate: float = 0.0
    chunks_total: int = 0
    chunks_skipped: int = 0
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""

    @property
    def images_ok(self) -> int:
        return self.outcomes.get(STATUS_OK, 0)

    @property
    def errors_by_reason(self) -> dict[str, int]:
        return {key.split(":", 1)[1]: n for key, n in sorted(self.outcomes.items()) if key.startswith("error:")}

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
        data.update(images_read=self.images_read, images_ok=self.images_ok, images_failed=self.images_failed)
        data["errors_by_reason"] = self.errors_by_reason
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
            f"  read tasks    {self.read_tasks}"
            + (f"  chunks {self.chunks_total} ({self.chunks_skipped} skipped, already done)" if self.chunks_total else ""),
            *([f"  executors     {self._executors_text()}"] if self.executors else []),
            *([f"  tasks retried {self.tasks_retried} (failed attempts Spark ran again)"] if self.tasks_retried else []),
            f"  wall time     {self.wall_seconds:.1f} s  ({self.images_per_second:.1f} images/s processed now)",
        ]
        lines += [f"  {name:<13} {path}" for name, path in self.outputs.items()]
        return "\n".join(lines)
