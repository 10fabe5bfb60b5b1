"""Running jobs in tests on one shared local Spark session (local[2,3]: 2 cores, 3 attempts per task)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from pyspark.sql import SparkSession

from imgpipe.config import LoadedConfig, parse_config
from imgpipe.config.sections import SparkConfig
from imgpipe.preflight import build_pipeline, check_paths
from imgpipe.report import RunReport
from imgpipe.job import run_on
from imgpipe.spark.session import build_session


def own_process_env(**extra: str) -> dict[str, str]:
    """The environment of a test's own child process that starts a local Spark: this interpreter for its
    Python workers, loopback for its JVM, plus ``extra``."""
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1", **extra}


def local_session() -> SparkSession:
    return build_session(SparkConfig(master="local[2,3]", conf={"spark.sql.shuffle.partitions": 4}))


def run_config(spark: SparkSession, text: str, overrides: tuple[str, ...] = (), resume: bool = False) -> RunReport:
    loaded: LoadedConfig = parse_config(text, "test.yaml", overrides)
    check_paths(loaded, resume=resume)
    return run_on(spark, loaded, build_pipeline(loaded), resume=resume)


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    return ds.dataset(str(path), format="parquet", partitioning="hive").to_table().to_pylist()
