"""Config sections for the HBase source and sink."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imgpipe.config.base import Section


class HBaseSourceConfig(Section):
    type: Literal["hbase"]
    host: str
    port: int = Field(default=9090, ge=1, le=65535)
    table: str
    column: str


class HBaseSinkConfig(Section):
    type: Literal["hbase"]
    host: str
    port: int = Field(default=9090, ge=1, le=65535)
    table: str
    family: str = "r"
