"""Models resolved and verified on the driver (``ModelError`` before any Spark starts), then the fused pass built."""

from __future__ import annotations

from imgpipe.config import LoadedConfig
from imgpipe.config.inference import CropConfig
from imgpipe.pipeline import ModelInfo, Pipeline
from imgpipe.runtime.resolve import resolve_models
from imgpipe.stages.detect import Detector
from imgpipe.stages.embed import Embedder


def build_pipeline(loaded: LoadedConfig, run_id: str | None = None) -> Pipeline:
    """Resolve and verify the models and assemble the fused pass.

    The run id is ``run_id``, else ``run.run_id`` from the config, else left empty for the job to assign.
    """
    job = loaded.job
    # Models given by path may live next to the config file (and below it), as well as in the other allowed folders.
    models = resolve_models(job, config_path=loaded.raw.source, where=loaded.where)
    detector = Detector.from_config(job.detect, models.detect) if job.detect and models.detect else None
    embedder = Embedder.from_config(job.embed, models.embed) if job.embed and models.embed else None
    whole = job.crop is not None and job.crop.whole_image
    return Pipeline(
        decode=job.decode,
        run_id=run_id or job.run.run_id or "",
        passthrough=job.source.passthrough_columns,
        detector=detector,
        # Without a crop section nothing is cut, unless objects are embedded: then the crop defaults apply.
        crop=job.crop or (CropConfig() if embedder else None),
        embedder=embedder,
        image_embedding=embedder is not None and (detector is None or whole),
        embed_dtype=job.embed.dtype if job.embed else "float32",
        detect_model=ModelInfo(detector.name, detector.sha256) if detector else None,
        embed_model=ModelInfo(embedder.name, embedder.sha256) if embedder else None,
        max_batch_bytes=job.run.max_batch_bytes,
        secrets=tuple(sorted(loaded.raw.secrets)),
    )
