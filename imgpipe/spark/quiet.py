"""The JVM's start-up chatter, kept from the user's terminal unless ``-v``.

Spark's own log lines are shaped by ``log4j2.properties`` beside this module. What the JVM prints before any
logging exists (``WARNING: Using incubator modules``, which Spark's launcher always asks for) can only be
dropped from its stderr: while the JVM starts, file descriptor 2 is a pipe whose reader forwards every other
line to the real stderr, for the rest of the JVM's life.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

#: Lines the JVM prints at start-up that say nothing a user can act on.
STARTUP_NOISE = (b"WARNING: Using incubator modules",)


def log4j_config() -> str:
    """``file:`` URL of imgpipe's log4j2 configuration (a real file inside the installed package)."""
    return "file:" + str(resources.files("imgpipe.spark").joinpath("log4j2.properties"))


@contextmanager
def jvm_stderr_filtered(noise: tuple[bytes, ...] = STARTUP_NOISE) -> Iterator[None]:
    """Processes started inside this block write their stderr through a filter that drops ``noise`` lines."""
    read_end, write_end = os.pipe()
    real = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    threading.Thread(target=_forward, args=(read_end, real, noise), name="jvm-stderr", daemon=True).start()
    try:
        yield
    finally:
        os.dup2(real, 2)  # this process writes to the terminal again; the JVM keeps the pipe


def _forward(read_end: int, real: int, noise: tuple[bytes, ...]) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        for line in iter(pipe.readline, b""):
            if not line.startswith(noise):
                os.write(real, line)
