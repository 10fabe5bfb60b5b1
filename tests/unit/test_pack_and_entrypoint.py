"""``imgpipe pack`` replaces only its own archives; ``imgpipe entrypoint`` names spark-submit's file, which runs
``imgpipe run`` with spark-submit owning the session. (Building a real archive: tests/system/test_spark_cluster.py.)"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import imgpipe
from imgpipe import cli as cli_module
from imgpipe import pack
from imgpipe.cli import cli
from imgpipe.errors import ImgpipeError


def tar_gz(path: Path, *members: str) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name in members:
            data = json.dumps({"written_by": "imgpipe pack"}).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_an_archive_written_by_pack_is_recognised_from_its_first_member(tmp_path: Path) -> None:
    assert pack.is_pack(tar_gz(tmp_path / "ours.tar.gz", pack.MARKER, "bin/python"))
    assert not pack.is_pack(tar_gz(tmp_path / "theirs.tar.gz", "bin/python", pack.MARKER))
    (tmp_path / "text.tar.gz").write_text("not an archive")
    assert not pack.is_pack(tmp_path / "text.tar.gz")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("theirs.tar.gz", "was not written by `imgpipe pack`"),
        ("env.zip", "Expected an archive name ending in .tar.gz"),
        ("missing/env.tar.gz", "Expected the archive's folder to exist"),
    ],
)
def test_pack_refuses_what_it_must_not_write_and_leaves_it_alone(tmp_path: Path, name: str, message: str) -> None:
    tar_gz(tmp_path / "theirs.tar.gz", "bin/python")
    (tmp_path / "folder.tar.gz").mkdir()
    before = (tmp_path / "theirs.tar.gz").read_bytes()
    result = CliRunner().invoke(cli, ["pack", str(tmp_path / name)])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert (tmp_path / "theirs.tar.gz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.tar.gz", "theirs.tar.gz"], "no leftovers"


def test_pack_may_replace_its_own_archive_only(tmp_path: Path) -> None:
    pack.check_target(tar_gz(tmp_path / "env.tar.gz", pack.MARKER))
    pack.check_target(tmp_path / "new.tar.gz")
    (tmp_path / "folder.tar.gz").mkdir()
    with pytest.raises(pack.PackError, match="is a folder"):
        pack.check_target(tmp_path / "folder.tar.gz")


def test_pack_says_it_needs_a_venv_when_imgpipe_is_not_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)
    with pytest.raises(pack.PackError, match="Expected imgpipe installed in a virtual environment"):
        pack.pack(tmp_path / "env.tar.gz")
    assert list(tmp_path.iterdir()) == [], "nothing left behind"


def test_only_the_linked_form_needs_venv_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default archive (the interpreter carried) is a plain tar; venv-pack only builds ``--python-prefix``'s."""
    monkeypatch.setattr(pack, "_has", lambda module: module != "venv_pack")
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)  # stops the default form at its next check
    with pytest.raises(pack.PackError, match="Expected imgpipe installed in a virtual environment"):
        pack.pack(tmp_path / "env.tar.gz")
    with pytest.raises(pack.PackError, match="--python-prefix needs venv-pack"):
        pack.pack(tmp_path / "env.tar.gz", python_prefix="/usr")
    assert list(tmp_path.iterdir()) == [], "nothing left behind"


def test_entrypoint_prints_a_python_file_of_the_installed_package_alone_in_its_folder() -> None:
    result = CliRunner().invoke(cli, ["entrypoint"])
    assert result.exit_code == 0
    path = Path(result.output.strip())
    assert path.is_file() and path.suffix == ".py" and path.is_relative_to(Path(imgpipe.__file__).parent)
    # spark-submit runs it as a script, its folder first on sys.path: nothing there may shadow a module.
    assert sorted(p.name for p in path.parent.glob("*.py")) == ["__init__.py", path.name]
    assert path.stem != "imgpipe"


def test_the_entrypoint_runs_imgpipe_run_with_the_same_exit_codes(tmp_path: Path) -> None:
    entry = CliRunner().invoke(cli, ["entrypoint"]).output.strip()
    config = tmp_path / "job.yaml"
    config.write_text("source: {type: files, path: /nonexistent}\nsink: {type: parquet, path: /tmp/x}\n")
    done = subprocess.run([sys.executable, entry, str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "source.path: '/nonexistent' does not exist" in done.stderr


def test_submit_main_runs_the_job_with_spark_submits_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    config = tmp_path / "job.yaml"
    config.write_text(f"source: {{type: files, path: '{photos}'}}\nsink: {{type: parquet, path: '{tmp_path}/out'}}\n")
    calls: list[dict[str, Any]] = []

    def run_job(loaded: object, pipeline: object, **kwargs: Any) -> object:
        calls.append(kwargs)
        raise ImgpipeError("stopped before Spark")

    monkeypatch.setattr("imgpipe.job.run_job", run_job)
    monkeypatch.setattr(sys, "argv", ["imgpipe_submit.py", str(config), "--resume"])
    with pytest.raises(SystemExit) as exited:
        cli_module.submit_main()
    assert exited.value.code == 1
    assert len(calls) == 1 and calls[0]["resume"] is True and calls[0]["submitted"] is True
