"""Spark's Python worker daemon, with imgpipe's heavy imports done once, before it forks the workers.

Spark starts one daemon per executor (``spark.python.daemon.module``) and forks a worker from it for each
task slot; a forked worker inherits what the daemon imported, so NumPy, OpenCV, ONNX Runtime, onnx and the
pipeline are imported once per executor instead of once per worker. Nothing here creates threads or sessions:
the workers load their models themselves, after the fork.
"""

from __future__ import annotations

import cv2  # noqa: F401
import numpy  # noqa: F401
import onnx  # noqa: F401
import onnxruntime  # noqa: F401
import pyarrow  # noqa: F401
from pyspark import daemon

import imgpipe.pipeline  # noqa: F401  (the stages, the runtime, pyarrow.compute)

if __name__ == "__main__":
    daemon.manager()
