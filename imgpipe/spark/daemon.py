"""Spark's Python worker daemon, with imgpipe's heavy imports done once, before it forks the workers.

Spark starts one daemon per executor (``spark.python.daemon.module``) and forks a worker from it for each
task slot; a forked worker inherits what the daemon imported, so NumPy, OpenCV, ONNX Runtime and the pipeline
are imported once per executor instead of once per worker. Nothing here creates threads or sessions: the workers
load their models themselves, after the fork. Not onnx: the workers load edited models from ``graph_cache``, and
only a worker that finds none there (the first run on its machine, or a cache it cannot write) imports onnx.

The workers also inherit a Python in which pandas cannot be imported. Arrow's C++ converter imports pandas,
when it is installed, on the first Python list it turns into an array, to learn pandas' null values: 0.24 s
of CPU per worker per run, for a pass that never touches pandas (its batches are Arrow in and Arrow out, and
no job imgpipe runs uses a pandas UDF). A pandas import in a worker fails with ``NO_PANDAS``'s message.

And they import the installed PySpark's compiled modules, not Spark's zipped sources of the same files
(``installed_pyspark``): the daemon drops those zips from its path before it imports PySpark.

The daemon freezes what it imported (``gc.freeze()``) before it forks: PySpark's worker runs a full
``gc.collect()`` after every task, which otherwise walks the ~70,000 objects of the inherited imports each time
(35-45 ms per task, measured) and, by writing their headers, copies the pages the worker shares with the daemon.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

from imgpipe.spark.installed_pyspark import drop_zipped_pyspark

drop_zipped_pyspark(sys.path, sys.path_importer_cache)  # first: the imports below import PySpark

import cv2  # noqa: F401
import numpy  # noqa: F401
import onnxruntime  # noqa: F401
import pyarrow  # noqa: F401
from pyspark import daemon

import imgpipe.pipeline  # noqa: F401  (the stages, the runtime, pyarrow.compute)

NO_PANDAS = (
    "imgpipe's Spark workers run without pandas (imgpipe.spark.daemon): Arrow would import it on every "
    "worker's first batch. Code that needs pandas runs in a session without spark.python.daemon.module set "
    "to imgpipe.spark.daemon."
)


class WithoutPandas(MetaPathFinder):
    """Refuses ``pandas`` and its submodules: an ``ImportError``, which Arrow takes as "pandas is not installed"."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] == "pandas":
            raise ImportError(NO_PANDAS, name=fullname)
        return None


if __name__ == "__main__":
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, WithoutPandas())
    gc.freeze()
    daemon.manager()
