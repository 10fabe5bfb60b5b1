"""SparkSession from the ``spark:`` section (and spark-submit's settings, when it started us). The only place a
session is built.

Precedence, lowest first: imgpipe's defaults, then the YAML's ``spark.*``, then what spark-submit was given
(``--master``, ``--conf``, spark-defaults.conf): a scheduler's command line has the last word.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from imgpipe.config.sections import PYSPARK_PYTHON, SparkConfig
from imgpipe.errors import ImgpipeError
from imgpipe.pack import ALIAS, PYTHON
from imgpipe.spark.classcache import ClassCache, class_cache
from imgpipe.spark.errors import describe_failure
from imgpipe.spark.quiet import jvm_stderr_filtered, log4j_config

log = logging.getLogger("imgpipe.spark")

#: JVM options for a local run's one JVM (driver and executor): the C1 compiler alone and a serial GC cost
#: about half the JVM's CPU seconds of a short batch run (measured: docs/benchmarks.md), CPU its Python
#: workers need; a long run on a cluster keeps the JVM's defaults in its executors.
LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
DRIVER_OPTIONS = "spark.driver.extraJavaOptions"
#: Spark's own minimum off-heap allowance of an executor JVM, on top of the Python workers' memory.
JVM_OVERHEAD = 384 << 20


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def master_of(spark: SparkSession) -> str:
    """The master the session really runs on (spark-submit's, when it started us)."""
    return str(spark.sparkContext.master)


def spark_conf(
    cfg: SparkConfig, master: str | None = None, *, verbose: bool = False, classes: ClassCache | None = None
) -> dict[str, str]:
    """Our defaults first, then every ``spark.*`` key from the YAML, which wins (JVM options are joined).
    ``master``: the real master when it is not ``cfg.master`` (spark-submit's); ``classes``: the local JVM's
    class archive (``imgpipe.spark.classcache``)."""
    master = master or cfg.master
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
    if is_local(master):
        # Executors must import imgpipe from the interpreter running the driver, not the system python3.
        conf["spark.pyspark.python"] = sys.executable
        conf["spark.pyspark.driver.python"] = sys.executable
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.ui.enabled"] = "false"
    driver = [] if verbose else [f"-Dlog4j2.configurationFile={log4j_config()}"]
    driver += [LOCAL_JVM_OPTIONS] if is_local(master) else []
    driver += [classes.java_options()] if classes is not None else []
    user = {k: _conf_value(v) for k, v in cfg.conf.items()}
    if driver:
        # The user's options come last: the JVM takes the last of two settings of one flag.
        conf[DRIVER_OPTIONS] = " ".join([*driver, user.pop(DRIVER_OPTIONS, "")]).strip()
    conf.update(user)
    if not is_local(master):
        conf.update(_cluster_conf(cfg, user))
    return conf


def _cluster_conf(cfg: SparkConfig, yaml_conf: dict[str, str]) -> dict[str, str]:
    """On a cluster: the packed environment, and memory outside the JVM for the Python workers."""
    conf: dict[str, str] = {}
    if cfg.pack is not None:
        archive = f"{_absolute(cfg.pack)}#{ALIAS}"
        earlier = yaml_conf.get("spark.archives")
        conf["spark.archives"] = f"{earlier},{archive}" if earlier else archive
        conf[PYSPARK_PYTHON] = PYTHON
    if "spark.executor.memoryOverhead" not in yaml_conf:
        conf["spark.executor.memoryOverhead"] = f"{memory_overhead(cfg, yaml_conf) >> 20}m"
    return conf


def memory_overhead(cfg: SparkConfig, conf: dict[str, str]) -> int:
    """Bytes outside the executor's heap: one Python worker per task slot, plus Spark's JVM allowance."""
    slots = max(1, int(conf.get("spark.executor.cores", "1")) // max(1, int(conf.get("spark.task.cpus", "1"))))
    return slots * cfg.python_memory_per_task + JVM_OVERHEAD


def _absolute(path: str) -> str:
    """A local archive path as an absolute one (Spark resolves relative ones against its own working folder)."""
    if "://" in path or path.startswith("file:"):
        return path
    return os.path.abspath(os.path.expanduser(path))


def _conf_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def build_session(
    cfg: SparkConfig, *, verbose: bool = False, submitted: bool = False, classes: ClassCache | None = None
) -> SparkSession:
    """The session for a run; its JVM's start-up lines are kept from the terminal unless ``verbose``.
    ``submitted``: spark-submit started this process; its master and settings win over the YAML's."""
    given = _submitted_conf() if submitted else {}
    master = given.get("spark.master", cfg.master)
    conf = {"spark.app.name": cfg.app_name, **spark_conf(cfg, master, verbose=verbose, classes=classes)}
    conf = {k: v for k, v in conf.items() if k not in given}
    if cfg.pack is not None and is_local(master):
        log.info("spark.pack is ignored on %s: local executors run this process's Python", master)
    # PySpark takes the executors' Python from this variable when the context starts, not from the conf key.
    # Unset on a cluster without spark.pack or spark.pyspark.python: executors run their own python3 then.
    if PYSPARK_PYTHON in conf:
        os.environ["PYSPARK_PYTHON"] = conf[PYSPARK_PYTHON]
    if is_local(master):
        # Without it Spark resolves the hostname and may bind to an interface other than loopback.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder if submitted else SparkSession.builder.master(cfg.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    if SparkContext._gateway is None:
        _import_while_the_jvm_starts(PYSPARK_FIRST_CALL_IMPORTS)
    if verbose:
        session = builder.getOrCreate()
    else:
        with jvm_stderr_filtered():
            session = builder.getOrCreate()
    session.sparkContext.setLogLevel("INFO" if verbose else "WARN")
    return session


#: What PySpark imports on its first call into a new JVM: its py4j argument converters ask
#: ``pyspark.testing.utils`` whether NumPy is there, and that module imports pandas (0.26 s, measured in
#: docs/benchmarks.md), while the JVM's start is already over and the session waits.
PYSPARK_FIRST_CALL_IMPORTS = ("pyspark.testing.utils",)


def _import_while_the_jvm_starts(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in a background thread: for the JVM's first 0.7 s this process only waits for it."""

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - PySpark imports it again when it needs it, and reports any error
                log.debug("could not import %s ahead of the JVM", name, exc_info=True)

    threading.Thread(target=load, name="imgpipe-imports", daemon=True).start()


def _submitted_conf() -> dict[str, str]:
    """What spark-submit was given (it passes its settings to this process as JVM system properties)."""
    return dict(SparkConf().getAll())


@contextmanager
def spark_job(
    cfg: SparkConfig,
    what: str,
    *,
    verbose: bool = False,
    submitted: bool = False,
    archive_if: Callable[[], bool] | None = None,
) -> Iterator[SparkSession]:
    """A session for one command, stopped afterwards; a failure becomes an ``ImgpipeError`` naming its root cause.

    A local JVM this process starts maps the class archive of ``imgpipe.spark.classcache``. Where there is none
    yet, a command given ``archive_if`` writes it, and keeps it if the command ended without an error and
    ``archive_if()`` then holds: the JVM did the work whose classes later runs need."""
    ours = not submitted and SparkContext._gateway is None and is_local(cfg.master)
    classes = class_cache(LOCAL_JVM_OPTIONS, write=archive_if is not None) if ours else None
    if ours:
        atexit.register(release_jvm)
    spark = build_session(cfg, verbose=verbose, submitted=submitted, classes=classes)
    completed = False
    try:
        yield spark
        completed = True
    except ImgpipeError:
        raise
    except Exception as exc:
        raise ImgpipeError(f"{what} failed: {describe_failure(exc)}") from exc
    finally:
        stop(spark)
        if classes is not None:
            classes.finish(keep=completed and archive_if is not None and archive_if())


#: The logger of a local executor's task failures (the executor runs in the driver's JVM).
EXECUTOR_LOG = "org.apache.spark.executor.Executor"


def stop(spark: SparkSession) -> None:
    """``spark.stop()`` without waiting for PySpark's accumulator server to notice it should end.

    Once the JVM has sent accumulator updates (imgpipe's counts travel that way), the server's handler polls its
    socket in one-second steps and ``shutdown()`` waits for the step to end: up to a second at the end of every
    run, measured at 0.9 s. The server is a daemon thread on a loopback socket; it is told to end and left to
    do so in the background while the JVM stops as usual."""
    sc = spark.sparkContext
    server = getattr(sc, "_accumulatorServer", None)
    if server is not None:
        sc._accumulatorServer = None  # type: ignore[assignment]
        threading.Thread(target=server.shutdown, name="imgpipe-accumulator-stop", daemon=True).start()
    with _quiet_killed_workers(sc):
        spark.stop()


@contextmanager
def _quiet_killed_workers(sc: SparkContext) -> Iterator[None]:
    """Tasks still running as the session stops (a run refused during planning while its warm-up loads the
    models) have their Python workers killed, and a local executor logs each as "Python worker exited
    unexpectedly (crashed)" at ERROR, above the run's own error. By then the outcome is decided: say nothing.
    The level comes back afterwards, for a later session in the same JVM."""
    if sc._jvm is None or not is_local(sc.master or ""):
        yield
        return
    log4j = sc._jvm.org.apache.logging.log4j
    configurator, before = log4j.core.config.Configurator, log4j.LogManager.getLogger(EXECUTOR_LOG).getLevel()
    configurator.setLevel(EXECUTOR_LOG, log4j.Level.OFF)
    try:
        yield
    finally:
        configurator.setLevel(EXECUTOR_LOG, before)


def release_jvm() -> None:
    """Close the JVM's py4j server and connections, so that it exits promptly once this process has gone.

    Registered at exit by ``spark_job`` for a JVM it started. A JVM exits when its stdin closes, and HotSpot
    then waits up to 300 ms for threads blocked in native calls: py4j's accept and socket reads are such
    threads. A caller that reads imgpipe's output (a pipe the JVM shares) waits for the JVM too: its exit took
    0.37-0.44 s, and 0.06-0.07 s once the gateway is shut down (measured: docs/benchmarks.md)."""
    gateway = SparkContext._gateway
    if gateway is None:
        return
    try:
        gateway.shutdown()
    except Exception:  # noqa: BLE001 - the JVM is already gone (it wrote its class archive and exited)
        log.debug("the JVM's gateway was already closed", exc_info=True)


def cores_per_task(session: SparkSession) -> int:
    """ONNX Runtime threads per task: the cores each task owns, so tasks x threads never oversubscribe."""
    return max(1, int(session.conf.get("spark.task.cpus", "1") or 1))
