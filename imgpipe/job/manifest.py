"""The run manifest: chunks, the unit of resumption. A run is a list of chunks, each committed on its own.

The driver plans chunks once (input files, or HBase region splits, grouped) and writes the plan to
``<report_dir>/_imgpipe/manifest.json``. Each chunk's output goes to its own directory
(``results/chunk=<run_id>-00007``) through Spark's writer, so a chunk is either fully committed or
absent, and rewriting it replaces it. After each commit the chunk is marked done in the manifest
(written to a temporary name and renamed), with the chunk's counts. ``imgpipe run --resume`` reloads the
manifest, skips done chunks, and rewrites the others: every key ends up exactly once.

The manifest also keeps a hash of every setting that changes results (``settings``): a resume with any of
them changed would mix two kinds of output under one run id, so it is refused, naming the keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from imgpipe import outputs
from imgpipe.config.job import JobConfig
from imgpipe.errors import ConfigError
from imgpipe.runtime.sessions import CPU
from imgpipe.spark import fs

#: Options that change how fast a run goes, never what it writes: free to change on ``--resume``. Not the
#: execution providers: on an H200, CUDA found another class than the CPU for one near-threshold object and
#: embeddings at cosine 0.98 (docs/benchmarks.md, "GPU"), so a run resumed on another provider would mix two
#: kinds of output.
SPEED_ONLY = frozenset(
    {"batch_size", "intra_op_threads", "timeout_s", "retries", "backoff_s", "max_backoff_s",
     "scan_batch_size", "max_bytes_per_partition", "splits_per_region", "transport", "protocol"}
)  # fmt: skip


@dataclass
class Manifest:
    run_id: str
    #: Setting (dotted YAML path) -> hash of its value, for every setting that changes results.
    settings: dict[str, str]
    chunks: list[list[Any]]
    done: list[int] = field(default_factory=list)
    #: Counts of each committed chunk (``imgpipe.job.tally``), by chunk index.
    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Inputs the source left out by configuration (files with other extensions).
    skipped: int = 0
    #: Spark SQL type of the source's keys, for datasets built on the driver (the errors).
    key_type: str = "string"
    #: Images the plan holds, where the source could tell (for progress).
    images: int | None = None

    def chunk_name(self, index: int) -> str:
        return f"chunk={self.run_id}-{index:05d}"

    def commit(self, index: int, counts: dict[str, float]) -> None:
        self.done.append(index)
        self.counts[str(index)] = counts

    def to_json(self) -> str:
        return json.dumps(
            {"run_id": self.run_id, "settings": self.settings, "chunks": self.chunks, "done": self.done,
             "counts": self.counts, "skipped": self.skipped, "key_type": self.key_type, "images": self.images}
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(
            data["run_id"], dict(data.get("settings", {})), data["chunks"], list(data.get("done", [])),
            dict(data.get("counts", {})), int(data.get("skipped", 0)), str(data.get("key_type", "string")),
            data.get("images"),
        )  # fmt: skip


def manifest_path(report_dir: str) -> str:
    return outputs.join(report_dir, outputs.MANIFEST)


def result_settings(job: JobConfig, models: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Every setting that changes what a run writes, by dotted YAML path: the source, decode, detect, crop,
    embed and sink sections (passthrough and layout included), the models' sha256 and a fixed run id."""
    sections = {"source": job.source, "decode": job.decode, "detect": job.detect, "crop": job.crop,
                "embed": job.embed, "sink": job.sink}  # fmt: skip
    flat: dict[str, Any] = {}
    for name, section in sections.items():
        _flatten(name, section.model_dump(mode="json") if section is not None else None, flat)
    _flatten("models", models, flat)
    if job.run.run_id is not None:
        flat["run.run_id"] = job.run.run_id
    on_gpu = {name for name, stage in (("detect", job.detect), ("embed", job.embed))
              if stage is not None and any(p != CPU for p in stage.providers)}  # fmt: skip
    return {key: value for key, value in flat.items() if not _speed_only(key, on_gpu)}


def _speed_only(key: str, on_gpu: set[str]) -> bool:
    section, _, option = key.partition(".")
    # On a GPU, a model call's batch is padded to batch_size (imgpipe.runtime.sessions.run_chunks), and cuDNN
    # picks its kernels by that shape: the size can change the results' last bits there.
    if option == "batch_size" and section in on_gpu:
        return False
    return key.rsplit(".", 1)[-1] in SPEED_ONLY


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    else:
        out[prefix] = value


def hashed(settings: dict[str, Any]) -> dict[str, str]:
    """Each value as a short hash: the manifest can be compared without holding hosts or credentials."""
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16] for k, v in settings.items()}


def group(units: list[Any], size: int) -> list[list[Any]]:
    return [units[i : i + size] for i in range(0, len(units), size)] or [[]]


def load_for_resume(spark: SparkSession, report_dir: str, settings: dict[str, Any]) -> Manifest:
    """The interrupted run's manifest. Raises ``ConfigError`` (exit 2) if any result setting changed since."""
    text = fs.read_text(spark, manifest_path(report_dir))
    if text is None:
        raise ConfigError(
            f"--resume: no manifest at {manifest_path(report_dir)}; there is no interrupted run to resume here"
        )
    manifest = Manifest.from_json(text)
    now = hashed(settings)
    changed = sorted(k for k in set(now) | set(manifest.settings) if now.get(k) != manifest.settings.get(k))
    if changed:
        shown = ", ".join(f"{k} (now {json.dumps(settings.get(k))})" for k in changed[:10])
        more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
        raise ConfigError(
            f"--resume: run {manifest.run_id} at {report_dir} was started with other settings, and its chunks "
            f"would not match the rest: {shown}{more}. Resume with the settings it started with, or run without "
            "--resume (mode: overwrite replaces the earlier output) to start afresh"
        )
    return manifest


def save(spark: SparkSession, report_dir: str, manifest: Manifest) -> None:
    fs.write_text(spark, manifest_path(report_dir), manifest.to_json())
