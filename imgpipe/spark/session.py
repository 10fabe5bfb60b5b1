"""SparkSession from the ``spark:`` section. The only place a session is built."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark import SparkContext
from pyspark.sql import SparkSession

from imgpipe.config.sections import SparkConfig
from imgpipe.errors import ImgpipeError
from imgpipe.spark.classcache import ClassCache, class_cache
from imgpipe.spark.errors import describe_failure
from imgpipe.spark.quiet import jvm_stderr_filtered, log4j_config

#: JVM options for a local run's one JVM (driver and executor): the C1 compiler alone and a serial GC cost
#: about half the JVM's CPU seconds of a short batch run (measured: docs/benchmarks.md), CPU its Python
#: workers need; a long run on a cluster keeps the JVM's defaults in its executors.
LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
DRIVER_OPTIONS = "spark.driver.extraJavaOptions"


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def spark_conf(cfg: SparkConfig, *, verbose: bool = False, classes: ClassCache | None = None) -> dict[str, str]:
    """Our defaults first, then every ``spark.*`` key from the YAML, which wins (JVM options are joined)."""
    conf: dict[str, str] = {
        # Images are large: Spark's default of 10000 rows per Arrow batch would hold gigabytes per task.
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(cfg.max_records_per_batch),
        "spark.sql.execution.arrow.maxBytesPerBatch": str(cfg.max_bytes_per_batch),
        # Reused workers keep ONNX sessions loaded across tasks.
        "spark.python.worker.reuse": "true",
        # Workers are forked from a daemon that has already imported NumPy, OpenCV, ONNX Runtime and imgpipe.
        "spark.python.daemon.module": "imgpipe.spark.daemon",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
    }
    if is_local(cfg.master):
        # Executors must import imgpipe from the interpreter running the driver, not the system python3.
        conf["spark.pyspark.python"] = sys.executable
        conf["spark.pyspark.driver.python"] = sys.executable
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.ui.enabled"] = "false"
    driver = [] if verbose else [f"-Dlog4j2.configurationFile={log4j_config()}"]
    driver += [LOCAL_JVM_OPTIONS] if is_local(cfg.master) else []
    driver += [classes.java_options()] if classes is not None else []
    user = {k: _conf_value(v) for k, v in cfg.conf.items()}
    if driver:
        # The user's options come last: the JVM takes the last of two settings of one flag.
        conf[DRIVER_OPTIONS] = " ".join([*driver, user.pop(DRIVER_OPTIONS, "")]).strip()
    conf.update(user)
    return conf


def _conf_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def build_session(cfg: SparkConfig, *, verbose: bool = False, classes: ClassCache | None = None) -> SparkSession:
    """The session for a run; its JVM's start-up lines are kept from the terminal unless ``verbose``."""
    conf = spark_conf(cfg, verbose=verbose, classes=classes)
    os.environ.setdefault("PYSPARK_PYTHON", conf.get("spark.pyspark.python", sys.executable))
    if is_local(cfg.master):
        # Without it Spark resolves the hostname and may bind to an interface other than loopback.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(cfg.master).appName(cfg.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    if verbose:
        session = builder.getOrCreate()
    else:
        with jvm_stderr_filtered():
            session = builder.getOrCreate()
    session.sparkContext.setLogLevel("INFO" if verbose else "WARN")
    return session


@contextmanager
def spark_job(cfg: SparkConfig, what: str, *, verbose: bool = False) -> Iterator[SparkSession]:
    """A session for one command, in a JVM of its own, stopped afterwards; a failure becomes an ``ImgpipeError``
    naming its root cause. A local JVM maps the class archive (``imgpipe.spark.classcache``), or writes it."""
    fresh = SparkContext._gateway is None  # a JVM this process started earlier is not ours to end
    classes = class_cache(LOCAL_JVM_OPTIONS) if fresh and is_local(cfg.master) else None
    spark = build_session(cfg, verbose=verbose, classes=classes)
    try:
        yield spark
    except ImgpipeError:
        raise
    except Exception as exc:
        raise ImgpipeError(f"{what} failed: {describe_failure(exc)}") from exc
    finally:
        spark.stop()
        if classes is not None:
            classes.finish()


def cores_per_task(session: SparkSession) -> int:
    """ONNX Runtime threads per task: the cores each task owns, so tasks x threads never oversubscribe."""
    return max(1, int(session.conf.get("spark.task.cpus", "1") or 1))
