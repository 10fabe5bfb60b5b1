"""The CPython that ``imgpipe pack`` carries in its archive, so that executors need no Python of their own.

The archive is a relocatable Python prefix: this venv's base interpreter (its binary, ``libpython`` when it is
a shared build), its standard library, and the runtime venv's ``site-packages`` as the prefix's own::

    bin/python          a sh wrapper: finds the folder it was unpacked into, puts lib/ first on the loader's path
    bin/python3.11      the interpreter itself
    lib/libpython3.11.so.1.0
    lib/python3.11/     the standard library (no tests, IDLE, Tk or ensurepip), lib-dynload, site-packages

CPython finds its prefix by looking for ``lib/python3.X/os.py`` above the executable, so the unpacked folder
works wherever Spark puts it. The binary's own library path names the prefix it was built for; the loader
takes ``LD_LIBRARY_PATH`` first, hence the wrapper. What the executors need is then the OS: Linux of the same
architecture, glibc at least as new as the build machine's manylinux wheels need, and the shared libraries
that the standard library's extension modules link to (libssl, libffi, zlib, ...; any Linux with Java has
them). ``imgpipe pack --python-prefix`` keeps the older, smaller form: a venv linked to a Python the
executors have.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

from imgpipe.errors import PackError

VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"
#: Parts of the standard library a batch job never imports: left out of the archive (about half its size).
LEFT_OUT = ("site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__phello__")

WRAPPER = f"""#!/bin/sh
# imgpipe pack: runs the CPython carried in this archive, wherever the archive was unpacked.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P)
unset PYTHONHOME
LD_LIBRARY_PATH="$here/../lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" exec "$here/{VERSION}" "$@"
"""


def carry_interpreter(venv: Path, dest: Path) -> str:
    """Build the prefix at ``dest`` from this process's base Python and ``venv``'s packages; what it carries."""
    binary = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    stdlib = Path(sysconfig.get_path("stdlib"))  # the base install's, also from inside a venv
    dynload = Path(str(sysconfig.get_config_var("DESTSHARED") or stdlib / "lib-dynload"))
    packages = _site_packages(venv)  # before any copying
    if not (stdlib / "os.py").is_file() or not dynload.is_dir():
        raise PackError(
            f"Expected this Python's standard library at {stdlib} (and {dynload}) to carry it, but it is not there; "
            "pack with --python-prefix PREFIX to link to a Python the executors have instead"
        )
    lib = dest / "lib"
    target = lib / VERSION
    shutil.copytree(stdlib, target, symlinks=True, ignore=_left_out(stdlib))
    if not (target / "lib-dynload").is_dir():
        shutil.copytree(dynload, target / "lib-dynload", symlinks=True)
    shutil.copytree(packages, target / "site-packages", symlinks=True)
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(binary, dest / "bin" / VERSION)
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        name = str(sysconfig.get_config_var("INSTSONAME"))
        shutil.copy2(Path(str(sysconfig.get_config_var("LIBDIR"))) / name, lib / name)
    wrapper = dest / "bin" / "python"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    (dest / "bin" / "python3").symlink_to("python")
    return f"CPython {sys.version.split()[0]} from {sys.base_prefix}"


def _left_out(stdlib: Path) -> Callable[[str, list[str]], list[str]]:
    def ignore(folder: str, names: list[str]) -> list[str]:
        if Path(folder) == stdlib:
            return [n for n in names if n in LEFT_OUT or n.startswith("config-")]
        return []

    return ignore


def _site_packages(venv: Path) -> Path:
    found = venv / "lib" / VERSION / "site-packages"
    if not found.is_dir():
        raise PackError(f"Expected the runtime venv's packages at {found}, but there is no such folder")
    return found
