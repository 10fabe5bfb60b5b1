"""Models travel with the job: the driver's verified model files shipped with ``SparkContext.addFile``, for
``imgpipe run`` and for ``infer`` in the caller's own session alike.

Each file goes under a name that includes its sha256 (two models called ``model.onnx`` cannot collide, and an
executor that already holds a name holds those exact bytes). The pipeline's models are rewritten to that name
and ``shipped_path``, which an executor calls to find its copy (``SparkFiles.get``); the session loader then
checks the copy's sha256 before building the first session. Executors need no cache, mirror or network.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from pyspark import SparkFiles
from pyspark.sql import SparkSession

from imgpipe.pipeline import Pipeline
from imgpipe.runtime.model import ResolvedModel, Shipped
from imgpipe.spark.session import cores_per_task, is_local, master_of

log = logging.getLogger("imgpipe.spark")


def shipped_name(model: ResolvedModel) -> str:
    return f"{model.sha256[:16]}-{Path(model.path).name}"


def shipped_path(name: str) -> str:
    """This executor's copy of a file the job shipped (runs on the executors)."""
    return SparkFiles.get(name)


def for_executors(spark: SparkSession, pipeline: Pipeline) -> Pipeline:
    """``pipeline`` as the session's executors run it: its models shipped unless the executors share this
    process's machine (a local master), and ONNX Runtime given the cores each task owns."""
    if not is_local(master_of(spark)):
        pipeline = ship_models(spark, pipeline)
    return pipeline.with_threads(cores_per_task(spark))


def ship_models(spark: SparkSession, pipeline: Pipeline) -> Pipeline:
    """``pipeline`` with every model shipped by Spark (once per application) and found through ``shipped_path``."""
    return pipeline.with_models(lambda model: _ship(spark, model))


def _ship(spark: SparkSession, model: ResolvedModel) -> ResolvedModel:
    name = shipped_name(model)
    link = _staging(spark) / name
    if not link.exists():
        _link_or_copy(Path(model.path), link)
        spark.sparkContext.addFile(str(link))
        log.info("shipping model %s (%s) to the executors as %s", model.name, model.path, name)
    return replace(model, shipped=Shipped(name, shipped_path))


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the filesystem allows (no copy of a large model); Spark ships the file under the
    link's own name. Not a symlink: Spark resolves those and would ship the target's name."""
    try:
        os.link(os.path.realpath(source), target)
    except OSError:
        shutil.copyfile(source, target)


#: Per application: Spark serves an added file from its path for the application's whole life (executors that
#: join later fetch it then), so the links stay until this process exits.
_staged: dict[str, Path] = {}


def _staging(spark: SparkSession) -> Path:
    app = spark.sparkContext.applicationId
    if app not in _staged:
        _staged[app] = Path(tempfile.mkdtemp(prefix="imgpipe-models-"))
        atexit.register(shutil.rmtree, _staged[app], True)
    return _staged[app]
