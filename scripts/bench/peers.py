"""The Ray Data and Daft peers: their virtual environments, and one timed run of each in a subprocess.

Each peer gets its own venv under ``.bench-venvs/<peer>`` (gitignored; reused when present) with imgpipe
installed editable plus the peer's package, so their pins never touch imgpipe's own .venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import REPO, Measurement, log, run_json

VENVS = REPO / ".bench-venvs"
#: The versions the issue measured; the pins live here only.
PACKAGES = {"ray-data": ["ray[data]==2.60.0"], "daft": ["daft==0.7.26"]}
MODULES = {"ray-data": "bench.peer_ray", "daft": "bench.peer_daft"}


def peer_python(peer: str) -> Path:
    """The peer's interpreter, creating its venv first if it is missing or incomplete."""
    venv = VENVS / peer
    python = venv / "bin" / "python"
    marker = venv / ".bench-ready"
    if marker.exists() and marker.read_text() == repr(PACKAGES[peer]):
        return python
    log(f"creating {venv} with imgpipe and {' '.join(PACKAGES[peer])} (once; reused afterwards)")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", str(REPO), *PACKAGES[peer]], check=True)
    marker.write_text(repr(PACKAGES[peer]))
    return python


def peer_run(peer: str, parquet: Path, out: Path, cores: int, timeout: float = 3600) -> Measurement:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(peer_python(peer)), "-m", MODULES[peer], str(parquet), str(out), str(cores)]
    result, wall = run_json(cmd, timeout=timeout)
    assert result["failed"] == 0, f"Expected no failed images from {peer}, but got {result['failed']}"
    return {"seconds": float(result["seconds"]), "images": float(result["images"]),
            "objects": float(result["objects"]), "whole_s": wall, "init_s": float(result["init_s"])}  # fmt: skip
