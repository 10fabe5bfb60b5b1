"""Sinks, one module per ``sink.type``: where results are written.

    parquet.py   Parquet through Spark's writer (results/, errors/, summary.json)
    hbase.py     cells put back per image key (layout in imgpipe.hbase.cells)

``SINKS`` maps each config ``type`` to its class; ``base.Sink`` is the shape they share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imgpipe.config.job import JobConfig
from imgpipe.sinks.base import Sink
from imgpipe.sinks.hbase import HBaseSink
from imgpipe.sinks.parquet import ParquetSink

SINKS: dict[str, Callable[[Any, JobConfig], Sink]] = {
    "parquet": ParquetSink,
    "hbase": HBaseSink,
}


def make_sink(job: JobConfig) -> Sink:
    return SINKS[job.sink.type](job.sink, job)


__all__ = ["SINKS", "Sink", "make_sink"]
