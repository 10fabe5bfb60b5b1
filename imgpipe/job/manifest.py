"""The run manifest: chunks, the unit of resumption. A run is a list of chunks, each committed on its own.

The driver plans chunks once (input files, or HBase region splits, grouped) and writes the plan to
``<report_dir>/_imgpipe/manifest.json``. Each chunk's output goes to its own directory
(``results/chunk=<run_id>-00007``) through Spark's writer, so a chunk is either fully committed or
absent, and rewriting it replaces it. After each commit the chunk is marked done in the manifest
(written to a temporary name and renamed). ``imgpipe run --resume`` reloads the manifest, skips done
chunks, and rewrites the others: every key ends up exactly once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import SparkSession

from imgpipe.errors import ImgpipeError
from imgpipe.spark import fs


@dataclass
class Manifest:
    run_id: str
    fingerprint: str
    chunks: list[list[Any]]
    done: list[int] = field(default_factory=list)

    def chunk_name(self, index: int) -> str:
        return f"chunk={self.run_id}-{index:05d}"

    def to_json(self) -> str:
        return json.dumps(
            {"run_id": self.run_id, "fingerprint": self.fingerprint, "chunks": self.chunks, "done": self.done}
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(data["run_id"], data["fingerprint"], data["chunks"], list(data.get("done", [])))


def new_run_id() -> str:
    """A fresh run's id when the config sets none: the UTC start time, sortable."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def manifest_path(report_dir: str) -> str:
    return report_dir.rstrip("/") + "/_imgpipe/manifest.json"


def fingerprint(parts: dict[str, Any]) -> str:
    """What must not change between a run and its resume: source, sink and models."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def group(units: list[Any], size: int) -> list[list[Any]]:
    return [units[i : i + size] for i in range(0, len(units), size)] or [[]]


def load_for_resume(spark: SparkSession, report_dir: str, expected: str) -> Manifest:
    text = fs.read_text(spark, manifest_path(report_dir))
    if text is None:
        raise ImgpipeError(
            f"--resume: no manifest at {manifest_path(report_dir)}; there is no interrupted run to resume here"
        )
    manifest = Manifest.from_json(text)
    if manifest.fingerprint != expected:
        raise ImgpipeError(
            f"--resume: run {manifest.run_id} at {report_dir} was started with a different source, sink or "
            "model; run without --resume (and mode: overwrite) to start afresh"
        )
    return manifest


def save(spark: SparkSession, report_dir: str, manifest: Manifest) -> None:
    fs.write_text(spark, manifest_path(report_dir), manifest.to_json())
