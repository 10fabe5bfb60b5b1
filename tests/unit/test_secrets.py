"""${ENV} values are hidden from logs, error messages, --dry-run and reports."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgpipe.cli import cli
from imgpipe.config import parse_config, secrets


def test_log_records_are_redacted(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HBASE_HOST", "hbase-behind-auth.internal")
    parse_config("source: {type: hbase, host: '${HBASE_HOST}', table: t, column: 'f:img'}\nsink: {type: parquet, path: o}\n")
    logger = logging.getLogger("imgpipe.hbase.scan")
    secrets.redact_handlers(logging.getLogger())
    caplog.handler.addFilter(secrets.RedactingFilter())
    logger.warning("cannot reach %s:%d", "hbase-behind-auth.internal", 9090)
    assert "hbase-behind-auth" not in caplog.text
    assert "cannot reach ***:9090" in caplog.text


def test_short_values_are_not_treated_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRIFT_PORT", "909")
    loaded = parse_config("source: {type: files, path: './p${THRIFT_PORT}'}\nsink: {type: parquet, path: o}\n")
    assert loaded.raw.redact("port 909") == "port 909"


def test_cli_error_messages_are_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PHOTO_ROOT", str(tmp_path / "secret-bucket-name"))
    config = tmp_path / "job.yaml"
    config.write_text(f"source: {{type: files, path: '${{PHOTO_ROOT}}'}}\nsink: {{type: parquet, path: '{tmp_path / 'o'}'}}\n")
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "secret-bucket-name" not in result.output and "***" in result.output
