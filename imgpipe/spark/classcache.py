"""A class-data-sharing archive for the local JVM: Spark's classes mapped from disk instead of loaded one by one.

A local run's JVM spends seconds loading and linking the same few thousand classes every time (the session,
the SQL planner, the Parquet and Arrow paths). The first local run writes them to an archive in
``~/.cache/imgpipe/jvm`` as its JVM exits (``-XX:ArchiveClassesAtExit``, 5-10 s, once); every later run maps
it (``-XX:SharedArchiveFile``): measured on this project's machine, the session starts in 1.6-2.7 s instead of
4.3 s and the first job takes half the time. The archive's name holds what it depends on (the java binary, the
pyspark installation and its jars, the JVM options), so an upgrade or another virtualenv makes a new one; a
stale or unreadable archive is ignored by the JVM. ``IMGPIPE_JVM_CACHE=off`` turns it off; clusters are not
touched.

An archive holds the classes its JVM had loaded, and it is never rewritten. So only ``imgpipe run`` writes
one, and keeps it only when the run has run the pass over a chunk (``finish(keep=...)``). Earlier versions
kept what the first JVM wrote, whatever it had done: after a refused ``--resume``, a source that failed to
plan or an index build, the archive lacked the SQL planner's, Parquet's and Arrow's classes, and every later
run loaded them from the jars again (0.7 s more of a 100-image run, measured: docs/benchmarks.md). ``FORMAT``
in the name retires those archives. Writing the archive while the JVM runs instead (``VM.cds dynamic_dump``,
so that a failed run pays nothing) was measured and dropped: that archive leaves out the classes loaded but
never linked, 4,600 of them, and runs mapping it took 0.6 s longer.

Each archive is about 180 MB, and every new virtualenv or clone makes one: a run marks the archive it maps as
used (its mtime), and a run that writes a new one drops the archives of this folder unused for
``KEEP_DAYS`` days and all but the ``KEEP`` most recently used. Only files named as imgpipe names them are
touched; a JVM that still maps a dropped archive keeps its pages (Linux unlinks, it does not truncate).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pyspark
from pyspark import SparkContext

log = logging.getLogger("imgpipe.spark")

CACHE_ENV = "IMGPIPE_JVM_CACHE"
DEFAULT_DIR = Path("~/.cache/imgpipe/jvm")
#: Archives kept at most, and the days an unused one is kept.
KEEP, KEEP_DAYS = 4, 30
#: Part of every archive's key: archives written before only complete runs wrote them are not mapped.
FORMAT = 2
#: The JVM's CDS logging says nothing a user can act on (and writes to stdout).
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


@dataclass(frozen=True)
class ClassCache:
    archive: Path
    #: Where this run's JVM writes a new archive as it exits, when there is none yet.
    creating: Path | None

    def java_options(self) -> str:
        if self.creating is not None:
            return f"-XX:ArchiveClassesAtExit={self.creating} {_QUIET}"
        return f"-XX:SharedArchiveFile={self.archive} {_QUIET}"

    def finish(self, keep: bool = True) -> None:
        """After the session stopped: let a JVM that writes an archive exit, then put the archive in place, or,
        unless ``keep``, drop it. The JVM writes it as it exits whatever happened: only a kill would stop it,
        and a killed JVM leaves Spark's temporary folders behind."""
        if self.creating is None:
            return
        gateway = SparkContext._gateway
        proc = getattr(gateway, "proc", None)
        if proc is None or proc.stdin is None:
            return
        if keep:
            log.info("saving the JVM's class archive for faster starts (once): %s", self.archive)
        proc.stdin.close()  # Spark's gateway exits when its stdin closes; the archive is written as it exits
        try:
            proc.wait(timeout=180)
        finally:
            if keep and self.creating.is_file() and self.creating.stat().st_size > 0:
                os.replace(self.creating, self.archive)
            self.creating.unlink(missing_ok=True)


def class_cache(jvm_options: str, *, write: bool = True) -> ClassCache | None:
    """The archive for a local JVM started with ``jvm_options``, or None when turned off or unusable here, or
    when there is none yet and this JVM may not ``write`` it."""
    if os.environ.get(CACHE_ENV, "").lower() in ("0", "off", "false", "no"):
        return None
    java = _java()
    if java is None:
        return None
    stat = java.stat()
    # The archive only maps into a JVM with the same java and the same class path (this pyspark's jars).
    jars = Path(pyspark.__file__).parent / "jars"
    key = hashlib.sha256(
        f"{FORMAT} {java} {stat.st_size} {stat.st_mtime} {jars} {pyspark.__version__} {jvm_options}".encode()
    )
    folder = DEFAULT_DIR.expanduser()
    archive = folder / f"spark-{pyspark.__version__}-{key.hexdigest()[:12]}.jsa"
    if archive.is_file():
        _mark_used(archive)
        return ClassCache(archive, None)
    if not write:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _forget_abandoned(folder)
        prune(folder, keep=KEEP - 1)  # and the one this run writes
    except OSError:
        return None
    return ClassCache(archive, folder / f"{archive.name}.{os.getpid()}.tmp")


def _forget_abandoned(folder: Path) -> None:
    """Half-written archives of runs that were killed before their JVM could finish (an hour is plenty)."""
    for tmp in folder.glob("*.jsa.*.tmp"):
        if time.time() - tmp.stat().st_mtime > 3600:
            tmp.unlink(missing_ok=True)


def _mark_used(archive: Path) -> None:
    try:
        os.utime(archive)
    except OSError:
        pass  # another user's cache, read-only: it still maps, it just ages


def prune(folder: Path, keep: int, now: float | None = None) -> list[Path]:
    """Drop imgpipe's archives in ``folder`` unused for ``KEEP_DAYS`` days and all but the ``keep`` most recently
    used; the dropped paths."""
    now = time.time() if now is None else now
    archives = sorted(folder.glob("spark-*-*.jsa"), key=lambda p: p.stat().st_mtime, reverse=True)
    dropped = [a for i, a in enumerate(archives) if i >= keep or now - a.stat().st_mtime > KEEP_DAYS * 86400]
    for archive in dropped:
        archive.unlink(missing_ok=True)
        log.info("dropped the JVM class archive %s (unused or beyond the %d kept)", archive, KEEP)
    return dropped


def _java() -> Path | None:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else None
    if found is None or not found.is_file():
        which = shutil.which("java")
        found = Path(which) if which else None
    return Path(os.path.realpath(found)) if found is not None else None
