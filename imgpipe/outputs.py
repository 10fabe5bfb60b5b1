"""imgpipe's own output layout, and the rule that protects everything else: replace only what imgpipe wrote.

Every folder imgpipe writes into (the Parquet sink's ``path``, the report directory) gets ``_imgpipe/output.json``
before anything else is written there. A folder is imgpipe's when it holds that marker (or the run manifest of an
older imgpipe); only then may a run replace the names imgpipe writes (``results/``, ``errors/``, ``status/``,
``summary.json``), and only when each of those holds nothing but the files Spark's writer and imgpipe put there.
The checks take a ``listdir`` function, so the driver runs them on local paths before Spark starts and through
the Hadoop filesystem once it has started.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

RESULTS = "results"
ERRORS = "errors"
STATUS = "status"
SUMMARY = "summary.json"
STATE = "_imgpipe"
MARKER = f"{STATE}/output.json"
MANIFEST = f"{STATE}/manifest.json"
#: Names imgpipe writes directly under a root; nothing else there is ever touched.
OWN_NAMES = (RESULTS, ERRORS, STATUS, SUMMARY, STATE)

#: (name, is_dir) of each entry of a folder, or None when the folder does not exist.
ListDir = Callable[[str], list[tuple[str, bool]] | None]

#: What Spark's writer leaves in a dataset folder, besides ``key=value`` partition folders.
_SPARK_FILES = ("part-*", "_SUCCESS", "_committed_*", "_started_*", ".*.crc", "_temporary", "._SUCCESS.crc")


def join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def owned(root: str, listdir: ListDir) -> bool:
    """``root`` carries imgpipe's marker (or an older imgpipe's manifest)."""
    state = listdir(join(root, STATE))
    return state is not None and any(name in ("output.json", "manifest.json") for name, _ in state)


def foreign(root: str, listdir: ListDir) -> list[str]:
    """Why a run may not write into ``root``: imgpipe's names there that imgpipe did not write ([] when safe)."""
    entries = listdir(root)
    if not entries:
        return []
    present = sorted(name for name, _ in entries if name in OWN_NAMES)
    if not present:
        return []
    if not owned(root, listdir):
        return [
            f"{root} already holds {', '.join(present)} but no {MARKER}: imgpipe did not write it, and never "
            "replaces what it did not write. Choose a new or empty folder, or move those away yourself"
        ]
    return [problem for name in (RESULTS, ERRORS, STATUS) for problem in _foreign_in_dataset(join(root, name), listdir)]


def strangers(folder: str, listdir: ListDir) -> list[str]:
    """The names in the dataset folder ``folder`` that Spark's writer did not put there, sorted."""
    return sorted(name for name, is_dir in listdir(folder) or [] if not _spark_output(name, is_dir))


def _foreign_in_dataset(folder: str, listdir: ListDir) -> list[str]:
    odd = strangers(folder, listdir)
    if not odd:
        return []
    shown = ", ".join(odd[:5]) + (" ..." if len(odd) > 5 else "")
    return [
        f"{folder} holds files imgpipe did not write ({shown}); imgpipe never replaces what it did not write. "
        "Move them away, or choose another sink.path / run.report_dir"
    ]


def _spark_output(name: str, is_dir: bool) -> bool:
    if is_dir and ("=" in name or name == "_temporary"):
        return True  # chunk=<run>-00001, partition_by folders, Spark's staging folder
    return not is_dir and any(fnmatch.fnmatchcase(name, pattern) for pattern in _SPARK_FILES)
