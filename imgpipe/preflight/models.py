"""Models resolved and verified on the driver (``ModelError`` before any Spark starts), then the fused pass built."""

from __future__ import annotations

from dataclasses import replace

from imgpipe.config import LoadedConfig, LoadedInference
from imgpipe.config.inference import CropConfig
from imgpipe.config.job import InferenceConfig, JobConfig
from imgpipe.config.loader import RawConfig
from imgpipe.config.sections import RunConfig
from imgpipe.pipeline import ModelInfo, Pipeline
from imgpipe.runtime.resolve import resolve_models
from imgpipe.stages.detect import Detector
from imgpipe.stages.embed import Embedder


def build_pipeline(loaded: LoadedConfig | LoadedInference, run_id: str | None = None) -> Pipeline:
    """Resolve and verify the models and assemble the fused pass.

    The run id is ``run_id``, else ``run.run_id`` from a job's config, else left empty for the job to assign.
    A job's passthrough columns are its source's; ``imgpipe.spark.infer`` (``LoadedInference``) sets its own.
    """
    if isinstance(loaded, LoadedInference):
        return _assemble(loaded.config, loaded.raw, loaded.path, run_id or "", RunConfig().max_batch_bytes)
    job = loaded.job
    # Models given by path may live next to the config file (and below it), as well as in the other allowed folders.
    pipeline = _assemble(job, loaded.raw, loaded.raw.source, run_id or job.run.run_id or "", job.run.max_batch_bytes)
    return replace(pipeline, passthrough=job.source.passthrough_columns)


def _assemble(
    sections: InferenceConfig | JobConfig, raw: RawConfig, config_path: str | None, run_id: str, max_batch_bytes: int
) -> Pipeline:
    models = resolve_models(sections, config_path=config_path, where=raw.where)
    detector = Detector.from_config(sections.detect, models.detect) if sections.detect and models.detect else None
    embedder = Embedder.from_config(sections.embed, models.embed) if sections.embed and models.embed else None
    whole = sections.crop is not None and sections.crop.whole_image
    return Pipeline(
        decode=sections.decode,
        run_id=run_id,
        detector=detector,
        # Without a crop section nothing is cut, unless objects are embedded: then the crop defaults apply.
        crop=sections.crop or (CropConfig() if embedder else None),
        embedder=embedder,
        image_embedding=embedder is not None and (detector is None or whole),
        embed_dtype=sections.embed.dtype if sections.embed else "float32",
        detect_model=ModelInfo(detector.name, detector.sha256) if detector else None,
        embed_model=ModelInfo(embedder.name, embedder.sha256) if embedder else None,
        max_batch_bytes=max_batch_bytes,
        secrets=tuple(sorted(raw.secrets)),
    )
