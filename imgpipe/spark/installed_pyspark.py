"""A worker daemon imports the installed PySpark, not Spark's zipped copy of the same files.

Spark starts its Python workers with ``PYTHONPATH`` set to ``pyspark/python/lib/pyspark.zip``, the py4j zip
and the ``spark-core`` jar. When PySpark is pip-installed those files sit inside the installed package, and the
zip holds the same sources as the package, but only as ``.py``: zipimport cannot read or write cached bytecode,
so every daemon compiles the PySpark it imports from source (0.55 CPU-s against 0.09 s from the installed
package, measured), and every forked worker compiles its own PySpark modules again. Each worker also calls
``importlib.invalidate_caches()`` on its first task, which makes every zip importer re-read its directory: the
jar alone lists 6,000 entries (0.1 s per worker, measured).

So the daemon drops, before anything imports PySpark, the path entries that are files inside the installed
PySpark's own folder: the same installation, so the same version. A Spark distribution's zip elsewhere
(``$SPARK_HOME/python/lib`` on a cluster) is left first on the path, as Spark put it, and so is the py4j zip
unless the installed py4j is the zip's own version.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping, MutableSequence
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

#: Spark names its bundled py4j ``py4j-<version>-src.zip``.
_PY4J_ZIP = re.compile(r"py4j-(?P<version>[^-]+)-src\.zip$")


def drop_zipped_pyspark(path: MutableSequence[str], importers: MutableMapping[str, Any]) -> list[str]:
    """Remove from ``path`` (and its cached importers) the zips and jars that duplicate the installed PySpark.

    Returns the entries removed, in their order; none when PySpark is not installed in a folder on ``path``."""
    folders = [entry for entry in path if os.path.isdir(entry or ".")]
    pyspark = _package_dir("pyspark", folders)
    if pyspark is None:
        return []
    py4j = _package_dir("py4j", folders)
    py4j_version = _read_version(py4j / "version.py") if py4j is not None else None
    dropped = []
    for entry in list(path):
        if not os.path.isfile(entry):
            continue
        file = Path(entry).resolve()
        if not file.is_relative_to(pyspark):
            continue
        zipped_py4j = _PY4J_ZIP.search(file.name)
        if zipped_py4j is not None and zipped_py4j["version"] != py4j_version:
            continue  # the installed py4j differs from the one this Spark was built with: keep Spark's
        path.remove(entry)
        importers.pop(entry, None)
        dropped.append(entry)
    return dropped


def _package_dir(name: str, folders: list[str]) -> Path | None:
    """The folder of package ``name`` as found on ``folders`` (never inside a zip), or None."""
    spec = PathFinder.find_spec(name, folders)
    if spec is None or spec.origin is None or not os.path.isfile(spec.origin):
        return None
    return Path(spec.origin).resolve().parent


def _read_version(file: Path) -> str | None:
    """``__version__ = "..."`` from a package's version file, without importing the package."""
    try:
        found = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", file.read_text())
    except OSError:
        return None
    return found.group(1) if found else None
