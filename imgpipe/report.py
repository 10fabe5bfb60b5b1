"""The run summary: printed at the end of every run and written as JSON next to the output."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunReport:
    run_id: str
    source: str
    sink: str
    master: str
    read_tasks: int = 0
    images_read: int = 0
    images_ok: int = 0
    images_failed: int = 0
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_keys: int = 0
    #: Source calls retried after a transient error (HBase Thrift); the data is still read exactly once.
    source_retries: int = 0
    wall_seconds: float = 0.0
    max_error_rate: float = 0.0
    chunks_total: int = 0
    chunks_skipped: int = 0
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""

    @property
    def error_rate(self) -> float:
        return self.images_failed / self.images_read if self.images_read else 0.0

    @property
    def images_per_second(self) -> float:
        return self.images_read / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def error_rate_exceeded(self) -> bool:
        return self.error_rate > self.max_error_rate

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_rate"] = round(self.error_rate, 6)
        data["images_per_second"] = round(self.images_per_second, 3)
        data["status"] = "error_rate_exceeded" if self.error_rate_exceeded else "succeeded"
        return data

    def to_json(self, redact: Any = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        return redact(text) if redact else text

    def format_text(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.errors_by_reason.items())) or "none"
        lines = [
            f"run {self.run_id}: {self.source} -> {self.sink} on {self.master}",
            f"  images read   {self.images_read}",
            f"  images ok     {self.images_ok}",
            f"  images failed {self.images_failed} ({self.error_rate:.2%}; limit {self.max_error_rate:.2%})"
            f"  reasons: {reasons}",
            *([f"  duplicate keys {self.duplicate_keys} (each processed; listed in errors)"] if self.duplicate_keys else []),
            *([f"  source retries {self.source_retries} (transient errors, resumed)"] if self.source_retries else []),
            f"  read tasks    {self.read_tasks}"
            + (f"  chunks {self.chunks_total} ({self.chunks_skipped} skipped, already done)" if self.chunks_total else ""),
            f"  wall time     {self.wall_seconds:.1f} s  ({self.images_per_second:.1f} images/s)",
        ]
        lines += [f"  {name:<13} {path}" for name, path in self.outputs.items()]
        return "\n".join(lines)
