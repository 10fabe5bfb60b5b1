"""The folders ``imgpipe index`` and ``imgpipe dedup`` read and write, checked before any Spark starts.

A folder is replaced only with ``--overwrite``, only when it holds an earlier result of the same command (its
marker file), and then only that command's own files and folders are removed: nothing imgpipe did not write.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from imgpipe.errors import ConfigError
from imgpipe.locations import locate


def check_run_output(output: str) -> None:
    """A local OUTPUT must hold a run's results/; remote ones are checked by Spark when it lists them."""
    where = locate(output)
    if where.is_local and not (Path(where.path) / "results").is_dir():
        raise ConfigError(
            f"{output}: expected the output folder of an imgpipe run with a Parquet sink (it holds results/), "
            "but there is no results/ folder"
        )


def check_folder(path: str, overwrite: bool, marker: str, option: str) -> Path:
    """The absolute local folder to write, if it may be written; raises ``ConfigError`` otherwise."""
    where = locate(path)
    if not where.is_local:
        raise ConfigError(
            f"{option}: expected a local folder (faiss writes and memory-maps plain files; on a cluster, a shared "
            f"mount), but got {path!r}"
        )
    folder = Path(where.path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option}: expected a folder, but {folder} is a file")
    if folder.is_dir() and any(folder.iterdir()):
        ours = (folder / marker).is_file()
        if not (overwrite and ours):
            hint = "pass --overwrite to replace it" if ours else "choose a new folder"
            raise ConfigError(f"{option}: {folder} already exists and is not empty; {hint}")
    return folder


def prepare_folder(path: str, overwrite: bool, marker: str, entries: Sequence[str], option: str) -> Path:
    """``check_folder``, then remove this command's earlier ``entries`` and create the folder."""
    folder = check_folder(path, overwrite, marker, option)
    for name in entries:
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
