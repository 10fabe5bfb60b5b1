"""Sources, one module per ``source.type``: where images are read.

    files.py     a folder or glob of image files (Spark's binaryFile)
    parquet.py   a Parquet dataset with an image-bytes column (spark.read.parquet)
    hbase.py     an HBase table, one task per region split (happybase in the tasks)

``SOURCES`` maps each config ``type`` to its class; ``base.Source`` is the shape they share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imgpipe.config.job import JobConfig
from imgpipe.sources.base import Source
from imgpipe.sources.files import FilesSource
from imgpipe.sources.hbase import HBaseSource
from imgpipe.sources.parquet import ParquetSource

SOURCES: dict[str, Callable[[Any, JobConfig], Source]] = {
    "files": FilesSource,
    "parquet": ParquetSource,
    "hbase": HBaseSource,
}


def make_source(job: JobConfig) -> Source:
    return SOURCES[job.source.type](job.source, job)


__all__ = ["SOURCES", "Source", "make_source"]
