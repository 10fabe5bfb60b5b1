"""The interpreter imgpipe pack carries: a Python prefix that runs from wherever it is unpacked, with no Python
installed there and nothing inherited from the machine that built it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from imgpipe.pack import PackError
from imgpipe.pack_interpreter import LEFT_OUT, VERSION, carry_interpreter

PROBE = """
import json, sys, ssl, sqlite3, ctypes, lzma, bz2, zlib, probe_mod
maps = [line.split()[-1] for line in open("/proc/self/maps") if "libpython" in line]
print(json.dumps({"prefix": sys.prefix, "base": sys.base_prefix, "probe": probe_mod.WHERE, "libpython": maps[:1]}))
"""


def test_the_carried_python_runs_from_where_it_was_moved_with_its_own_packages(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    packages = venv / "lib" / VERSION / "site-packages"
    packages.mkdir(parents=True)
    (packages / "probe_mod.py").write_text("WHERE = __file__\n")
    built = tmp_path / "built"
    assert carry_interpreter(venv, built).startswith("CPython 3.")
    moved = tmp_path / "elsewhere" / "environment"
    moved.parent.mkdir()
    built.rename(moved)

    done = subprocess.run([str(moved / "bin" / "python"), "-c", PROBE], env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["prefix"] == seen["base"] == str(moved)
    assert seen["probe"] == str(moved / "lib" / VERSION / "site-packages" / "probe_mod.py")
    assert all(path.startswith(str(moved)) for path in seen["libpython"]), seen["libpython"]
    left = {p.name for p in (moved / "lib" / VERSION).iterdir()}
    assert not left & (set(LEFT_OUT) - {"site-packages"}), "tests, IDLE, Tk and ensurepip stay behind"


def test_a_venv_without_packages_is_a_pack_error_before_anything_is_copied(tmp_path: Path) -> None:
    built = tmp_path / "built"
    with pytest.raises(PackError, match="Expected the runtime venv's packages at .*, but there is no such folder"):
        carry_interpreter(tmp_path / "not-a-venv", built)
    assert not built.exists()
