"""The folders ``imgpipe index`` and ``imgpipe dedup`` read and write, checked before any Spark starts.

The rule of ``imgpipe.outputs`` holds here too: replace only what imgpipe wrote. Each command claims its folder
with its own marker (``_imgpipe/index.json``, ``_imgpipe/dedup.json``) before it writes anything else, so a
run's output folder or another command's is never taken for its own. A folder that is not empty is written only
with ``--overwrite``, only when it holds that command's marker, and only after each name the command writes
there was checked to hold nothing but what the command puts there; then those names alone are removed.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imgpipe import __version__, outputs
from imgpipe.errors import ConfigError
from imgpipe.locations import locate
from imgpipe.preflight.paths import listdir

#: What a name in a command's folder holds: a plain FILE, a DATASET (Spark's writer), imgpipe's own STATE
#: (below ``_imgpipe/``), files matching some glob patterns, or a folder of another command (its ``Layout``).
FILE, DATASET, STATE = "file", "dataset", "state"


@dataclass(frozen=True)
class Layout:
    """What one command writes into its folder: name -> what that name holds."""

    command: str
    entries: Mapping[str, str | tuple[str, ...] | Layout]

    @property
    def marker(self) -> str:
        return f"{outputs.STATE}/{self.command}.json"


def check_run_output(output: str) -> None:
    """A local OUTPUT must hold a run's results/; remote ones are checked by Spark when it lists them."""
    where = locate(output)
    if where.is_local and not (Path(where.path) / outputs.RESULTS).is_dir():
        raise ConfigError(
            f"{output}: expected the output folder of an imgpipe run with a Parquet sink (it holds results/), "
            "but there is no results/ folder"
        )


def check_folder(
    path: str, overwrite: bool, layout: Layout, option: str, reads: Mapping[str, str | None] | None = None
) -> Path:
    """The absolute local folder to write, if it may be written; raises ``ConfigError`` otherwise.

    ``reads`` names what the command reads (``{"OUTPUT": "runs/a"}``): the folder must not overlap any of it.
    """
    where = locate(path)
    if not where.is_local or where.is_root:
        raise ConfigError(
            f"{option}: expected a local folder of its own (faiss writes and memory-maps plain files; on a "
            f"cluster, a shared mount), but got {path!r}"
        )
    for name, other in (reads or {}).items():
        if other is not None and where.overlaps(locate(other)):
            raise ConfigError(
                f"{option}: expected a folder outside {name} {other}, but {where} overlaps it: {layout.command} "
                "would write where it reads; choose another folder"
            )
    folder = Path(where.path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option}: expected a folder, but {folder} is a file")
    if listdir(str(folder)):
        ours = (folder / layout.marker).is_file()
        if not (overwrite and ours):
            hint = "pass --overwrite to replace it" if ours else f"no earlier {layout.command} wrote it; choose a new folder"
            raise ConfigError(f"{option}: {folder} already exists and is not empty; {hint}")
        problems = strangers(folder, layout)
        if problems:
            raise ConfigError(
                f"{option}: {folder} holds files imgpipe {layout.command} did not write ({'; '.join(problems)}), and "
                "imgpipe never replaces what it did not write. Move them away, or choose a new folder"
            )
    return folder


def strangers(folder: Path, layout: Layout) -> list[str]:
    """What, under the names ``layout`` writes in ``folder``, the command did not write there."""
    found: list[str] = []
    for name, holds in layout.entries.items():
        target = folder / name
        if not target.exists() or holds == STATE:
            continue
        if isinstance(holds, Layout):
            found += [f"{name}/ is not its {holds.command}"] if not (target / holds.marker).is_file() else []
            found += [f"{name}/{problem}" for problem in strangers(target, holds)]
        elif holds == FILE:
            found += [f"{name} is a folder"] if target.is_dir() else []
        elif not target.is_dir():
            found.append(f"{name} is a file")
        else:
            odd = _unmatched(target, holds) if isinstance(holds, tuple) else outputs.strangers(str(target), listdir)
            found += [f"{name}/{other}" for other in odd[:5]]
    return found


def _unmatched(folder: Path, patterns: tuple[str, ...]) -> list[str]:
    names = sorted(p.name for p in folder.iterdir())
    return [n for n in names if not any(fnmatch.fnmatchcase(n, pattern) for pattern in patterns)]


def prepare_folder(
    path: str, overwrite: bool, layout: Layout, option: str, reads: Mapping[str, str | None] | None = None
) -> Path:
    """``check_folder``, then mark the folder as this command's and remove its earlier entries."""
    folder = check_folder(path, overwrite, layout, option, reads)
    marker = folder / layout.marker
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"written_by": "imgpipe", "command": layout.command, "version": __version__}))
    for name in layout.entries:
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return folder
