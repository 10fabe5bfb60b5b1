"""``imgpipe pack``: this install of imgpipe and its runtime dependencies as one archive the executors unpack.

    this venv --(PEX: resolved from the installed distributions, no index, no pyspark)--> a runtime-only venv
              --(imgpipe.pack_interpreter: with this Python's interpreter and standard library)--> OUT.tar.gz
              --(or, with --python-prefix: venv-pack, the interpreter linked at that prefix)--> OUT.tar.gz

Spark ships the archive with ``spark.archives=OUT.tar.gz#environment`` and runs ``./environment/bin/python`` on
the executors (``spark.pack`` in the config does both). Why venv-pack rather than a PEX file or conda-pack, and
what was measured: docs/cluster.md. The archive's first member, ``imgpipe-pack.json``, marks it as imgpipe's:
``pack`` replaces an earlier archive of its own and refuses any other file.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from imgpipe import __version__
from imgpipe.errors import PackError as PackError  # raised by both pack modules; imgpipe.pack.PackError stays
from imgpipe.pack_interpreter import VERSION, carry_interpreter

MARKER = "imgpipe-pack.json"
#: The cluster's Spark puts its own pyspark (and py4j) on the Python workers' path; the archive leaves them out.
EXCLUDED = ("pyspark",)
#: Where ``spark.pack`` unpacks the archive on each executor, and the Python inside it.
ALIAS = "environment"
PYTHON = f"./{ALIAS}/bin/python"


@dataclass(frozen=True)
class Packed:
    path: Path
    size: int
    seconds: float
    #: The interpreter prefix the archive's ``bin/python`` links to (executors need this Python there), or
    #: None when the archive carries its own interpreter.
    python_prefix: str | None
    #: What runs on the executors, in words.
    interpreter: str


def pack(out: Path, *, python_prefix: str | None = None) -> Packed:
    """Build ``out`` from the running interpreter's environment; replaces only an earlier ``imgpipe pack`` archive."""
    began = time.monotonic()
    check_target(out)
    if python_prefix is not None and not _has("venv_pack"):
        raise PackError("imgpipe pack --python-prefix needs venv-pack: pip install 'imgpipe[pack]'")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        env = work / "env"
        runtime_venv(env)
        partial = work / out.name
        if python_prefix is None:
            carried = work / "carried"
            interpreter = carry_interpreter(env, carried)
            (carried / MARKER).write_text(json.dumps(describe(None, interpreter), indent=2) + "\n")
            _tar(carried, partial)
        else:
            interpreter = f"{python_prefix}/bin/{VERSION} (linked)"
            (env / MARKER).write_text(json.dumps(describe(python_prefix, interpreter), indent=2) + "\n")
            _venv_pack(env, partial, python_prefix)
        os.chmod(partial, 0o644)
        os.replace(partial, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Packed(out, out.stat().st_size, time.monotonic() - began, python_prefix, interpreter)


def check_target(out: Path) -> None:
    """``out`` is new, or an archive that ``imgpipe pack`` wrote; anything else is left alone."""
    if not out.parent.is_dir():
        raise PackError(f"Expected the archive's folder to exist, but {out.parent} does not")
    if not out.name.endswith((".tar.gz", ".tgz")):
        raise PackError(f"Expected an archive name ending in .tar.gz, but got {out.name!r}")
    if out.is_dir():
        raise PackError(f"Expected a file name for the archive, but {out} is a folder")
    if out.exists() and not is_pack(out):
        raise PackError(f"{out} exists and was not written by `imgpipe pack`; choose another name (it is left as it is)")


def is_pack(path: Path) -> bool:
    """The file is a gzipped tar whose first member is imgpipe's marker (read without unpacking the rest)."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            first = archive.next()
    except (OSError, tarfile.TarError, EOFError):
        return False
    return first is not None and first.name.lstrip("./") == MARKER


def describe(python_prefix: str | None, interpreter: str) -> dict[str, object]:
    return {
        "written_by": "imgpipe pack",
        "imgpipe": __version__,
        "python": platform.python_version(),
        "python_prefix": python_prefix,
        "interpreter": interpreter,
        "platform": platform.platform(),
        "excluded": list(EXCLUDED),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def runtime_venv(dest: Path) -> None:
    """A venv holding imgpipe and its runtime dependencies only, copied from this environment's installs."""
    if not _has("pex"):
        raise PackError("imgpipe pack needs PEX: pip install 'imgpipe[pack]'")
    if sys.prefix == sys.base_prefix:
        raise PackError(
            f"Expected imgpipe installed in a virtual environment to pack, but {sys.executable} is not in one; "
            "install imgpipe into a venv (python3 -m venv env && env/bin/pip install 'imgpipe[pack]') and pack from there"
        )
    excludes = [arg for name in EXCLUDED for arg in ("--exclude", name)]
    cmd = [
        sys.executable, "-m", "pex.cli", "venv", "create", "--venv-repository", sys.prefix, "--dir", str(dest),
        # Copies, not links into PEX's cache: the archive must hold the files themselves.
        "--site-packages-copies", "imgpipe", *excludes,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackError(f"building the runtime environment failed (exit {done.returncode}): {done.stderr[-2000:]}")


def _tar(folder: Path, out: Path) -> None:
    """``folder``'s contents at the archive's root, the marker first (is_pack reads only the first member)."""
    with tarfile.open(out, "w:gz", compresslevel=4) as archive:
        archive.add(folder / MARKER, arcname=MARKER)
        for entry in sorted(folder.iterdir()):
            if entry.name != MARKER:
                archive.add(entry, arcname=entry.name)


def _venv_pack(env: Path, out: Path, python_prefix: str) -> None:
    import venv_pack

    packed = venv_pack.Env(str(env))
    # The marker first, so is_pack() reads a few KiB instead of the whole archive.
    packed.files = sorted(packed.files, key=lambda f: f.target != MARKER)
    try:
        packed.pack(output=str(out), python_prefix=python_prefix, compress_level=4)
    except venv_pack.VenvPackException as exc:
        raise PackError(f"venv-pack could not pack {env}: {exc}") from exc


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
