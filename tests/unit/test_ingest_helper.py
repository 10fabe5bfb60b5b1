"""Finding the pre-split helper of ``imgpipe ingest``: every way it can be missing says why and what to do.

(An installed package for real: tests/integration/test_wheel.py; the helper failing without --zk against a real
HBase: tests/system/test_ingest.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe import ingest
from imgpipe.errors import SinkError

SPLITS = ingest.split_keys(4)


def refusal(monkeypatch: pytest.MonkeyPatch) -> str:
    with pytest.raises(SinkError) as exc:
        ingest.create_presplit("photos", ["f", "r"], SPLITS, zk="127.0.0.1:2181")
    message = str(exc.value)
    assert "table 'photos' must be created pre-split into 4 regions" in message
    assert "create 'photos', {NAME => 'f', VERSIONS => 1}, {NAME => 'r', VERSIONS => 1}, SPLITS => [" in message
    return message


def test_an_installed_package_says_where_to_get_the_helper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ingest.HELPER_ENV, raising=False)
    monkeypatch.setattr(ingest, "CHECKOUT_HELPER", tmp_path / "site-packages" / "scripts" / "hbase" / "create-table.sh")
    message = refusal(monkeypatch)
    assert "installed without its source checkout" in message
    assert "scripts/hbase/create-table.sh from imgpipe's source repository" in message
    assert f"set {ingest.HELPER_ENV}=" in message


def test_a_helper_variable_naming_no_file_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ingest.HELPER_ENV, str(tmp_path / "nowhere.sh"))
    assert f"${ingest.HELPER_ENV} is {tmp_path / 'nowhere.sh'}, which is not a file" in refusal(monkeypatch)


def test_no_java_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ingest.HELPER_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert f"the helper {ingest.CHECKOUT_HELPER} needs java, which is not on PATH" in refusal(monkeypatch)


def test_the_checkout_helper_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ingest.HELPER_ENV, raising=False)
    if ingest.shutil.which("java") is None:
        pytest.skip("no java here")
    assert ingest.create_table_helper() == ingest.CHECKOUT_HELPER
