"""The GPU Spark gave the running task, for the model sessions (``imgpipe.runtime.sessions.on_device``).

With ``spark.executor.resource.gpu.amount`` and ``spark.task.resource.gpu.amount`` set, Spark assigns each task
GPU addresses from the executor's discovery script; a fractional amount (``0.125``) shares one GPU between
tasks. Local mode assigns none, and the sessions use the provider's default device.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager

from pyspark import TaskContext

from imgpipe.runtime.sessions import on_device

log = logging.getLogger("imgpipe.spark")

GPU = "gpu"


def task_gpu() -> int | None:
    """The index of the first GPU assigned to this task, or None (no task, no GPU, or an address that is not
    an index: the sessions then use the default device, and the log says why)."""
    context = TaskContext.get()
    gpu = context.resources().get(GPU) if context is not None else None
    if gpu is None or not gpu.addresses:
        return None
    address = gpu.addresses[0]
    try:
        return int(address)
    except ValueError:
        log.warning(
            "Spark gave this task GPU %r, which is not a device index; its models run on CUDA's default device. "
            "Make the executors' GPU discovery script report indices (0, 1, ...)", address,
        )
        return None


def on_task_gpu() -> AbstractContextManager[None]:
    """Inside, the model sessions run on the task's GPU (what each task edge wraps its pass in)."""
    return on_device(task_gpu())
