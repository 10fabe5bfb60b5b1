"""``imgpipe ingest`` against a real standalone HBase: pre-split table, even keys, read back whole."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from imgpipe.cli import cli
from imgpipe.cli.ingest import ingest as ingest_command
from imgpipe.config.hbase import HBaseSourceConfig
from imgpipe.ingest import ingest, row_key
from imgpipe.hbase.scan import read_split
from imgpipe.hbase.splits import plan_splits
from tests.system.conftest import HBaseService

pytestmark = pytest.mark.system

EXTENSIONS = {".jpg", ".png", ".bmp"}


def read_back(hbase: HBaseService, table: str) -> tuple[int, dict[bytes, bytes]]:
    config = HBaseSourceConfig.model_validate(
        {"type": "hbase", "host": hbase.host, "port": hbase.port, "table": table, "column": "f:img"}
    )
    splits = plan_splits(config)
    rows = pa.Table.from_batches([b for s in splits for b in read_split(config, s)])
    return len(splits), dict(zip(rows.column("key").to_pylist(), rows.column("image").to_pylist()))


def test_ingest_shared_images_into_four_regions(hbase: HBaseService, shared_images: Path) -> None:
    files = sorted(p for p in shared_images.rglob("*") if p.suffix.lower() in EXTENSIONS)
    table = f"ingest_{uuid.uuid4().hex[:8]}"
    result = ingest(shared_images, hbase.host, hbase.port, table, "f:img", regions=4, zk=hbase.zk)
    assert (result.rows, result.regions, result.created) == (len(files), 4, True)
    n_splits, images = read_back(hbase, table)
    assert n_splits == 4
    assert images == {row_key(p.relative_to(shared_images).as_posix()): p.read_bytes() for p in files}

    again = ingest(shared_images, hbase.host, hbase.port, table, "f:img", regions=4, zk=hbase.zk)
    assert (again.rows, again.created) == (len(files), False)  # rerun: same keys, nothing new
    assert len(read_back(hbase, table)[1]) == len(files)


def test_ingest_parquet_through_the_cli(hbase: HBaseService, tmp_path: Path) -> None:
    data = pa.table({"id": ["a", "b", "c"], "bytes": [b"1", b"22", b"333"]})
    pq.write_table(data, tmp_path / "part-0.parquet")
    table = f"ingest_{uuid.uuid4().hex[:8]}"
    args = [str(tmp_path), "--hbase", f"{hbase.host}:{hbase.port}", "--table", table, "--column", "f:img",
            "--regions", "2", "--key-column", "id", "--image-column", "bytes", "--zk", hbase.zk]  # fmt: skip
    result = CliRunner().invoke(ingest_command, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 images" in result.output and "2 regions, created" in result.output
    assert read_back(hbase, table)[1] == {row_key("a"): b"1", row_key("b"): b"22", row_key("c"): b"333"}


def test_without_zk_the_helper_failure_says_what_ingest_accepts(
    hbase: HBaseService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMGPIPE_HBASE_ZK", raising=False)
    monkeypatch.delenv("IMGPIPE_HBASE_CREATE_TABLE", raising=False)
    monkeypatch.setenv("HBASE_RUN_DIR", str(tmp_path / "no-hbase-here"))  # the real helper finds no instance
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"bytes")
    table = f"ingest_{uuid.uuid4().hex[:8]}"
    args = ["ingest", str(tmp_path / "photos"), "--hbase", f"{hbase.host}:{hbase.port}", "--table", table,
            "--column", "f:img", "--regions", "2"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "ingest has no --dir option: pass --zk HOST:PORT, or set HBASE_RUN_DIR" in result.output
    assert f"create '{table}', {{NAME => 'f', VERSIONS => 1}}, SPLITS => ['8000']" in result.output
