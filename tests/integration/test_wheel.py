"""A wheel built from this checkout, installed into a fresh venv, runs the demo config from another directory.

Only the wheel's own files stand in for imgpipe there: the venv reaches the dependencies (pyspark, onnxruntime,
...) through a plain path line to this checkout's site-packages, which Python does not scan for ``.pth`` files,
so the editable install of the checkout stays inactive. The environment holds nothing but PATH, a fresh HOME
(no model cache), JAVA_HOME and IMGPIPE_MODEL_MIRROR.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO, SHARED_MODELS
from tests.spark_helpers import read_rows

pytestmark = pytest.mark.wheel

DEMO_PHOTOS = 11


@dataclass(frozen=True)
class Installed:
    bin: Path
    site: Path
    env: dict[str, str]
    elsewhere: Path

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], cwd=self.elsewhere, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip


def _source_tree(target: Path) -> Path:
    """The files git would commit (tracked plus untracked, ignored ones left out): no stale build/ or .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(src.read_bytes())
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    source = _source_tree(work / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(work / "dist"), str(source)],
        check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (work / "dist").glob("imgpipe-*.whl")
    venv.create(work / "venv", with_pip=False)
    python = work / "venv" / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip())
    (site / "checkout-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    home = work / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "IMGPIPE_MODEL_MIRROR": str(SHARED_MODELS)}
    if "JAVA_HOME" in os.environ:
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    return Installed(python.parent, site, env, elsewhere)


def test_imgpipe_comes_from_the_wheel_not_the_checkout(installed: Installed) -> None:
    done = installed.run(installed.bin / "python", "-c", "import imgpipe; print(imgpipe.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed.site), done.stdout


def test_models_list_reads_the_packaged_registry(installed: Installed) -> None:
    done = installed.run(installed.bin / "imgpipe", "models", "list")
    assert done.returncode == 0, done.stderr
    registry = done.stdout.splitlines()[0].removeprefix("registry:").strip()
    assert Path(registry).is_relative_to(installed.site)
    assert "yolox-nano" in done.stdout and "mobilenetv2-int8" in done.stdout


def test_the_label_files_are_installed_with_the_registry(installed: Installed) -> None:
    code = (
        "from imgpipe.runtime.registry import PACKAGED_LABELS, load_registry\n"
        "print(sorted(n for n, f in load_registry().files.items() if (PACKAGED_LABELS / f.file).is_file()))"
    )
    done = installed.run(installed.bin / "python", "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['coco-classes']"


def test_ingest_from_the_package_says_where_to_get_its_helper(installed: Installed) -> None:
    code = "from imgpipe.ingest import create_table_helper\ntry:\n    create_table_helper()\nexcept Exception as e:\n    print(e)"
    done = installed.run(installed.bin / "python", "-c", code)
    assert done.returncode == 0, done.stderr
    assert "installed without its source checkout" in done.stdout
    assert "scripts/hbase/create-table.sh from imgpipe's source repository" in done.stdout


def test_the_demo_config_runs_from_another_directory(installed: Installed) -> None:
    built = installed.run(installed.bin / "python", "-m", "imgpipe.demo", "demo-data/photos")
    assert built.returncode == 0, built.stderr
    done = installed.run(installed.bin / "imgpipe", "run", REPO / "configs" / "demo.yaml", timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    output = installed.elsewhere / "demo-output"
    summary = json.loads((output / "summary.json").read_text())
    assert summary["images_ok"] == DEMO_PHOTOS, summary
    rows = read_rows(output / "results")
    assert len(rows) == DEMO_PHOTOS and all(r["status"] == "ok" for r in rows)
    assert any(o["label_name"] == "cat" for r in rows for o in r["objects"] or [])
    # The models came through the mirror into the fresh HOME's cache, not from any cache of this machine.
    assert (Path(installed.env["HOME"]) / ".cache" / "imgpipe" / "models" / "yolox_nano.onnx").is_file()
