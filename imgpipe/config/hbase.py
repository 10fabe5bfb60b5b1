"""Config sections for the HBase source and sink (happybase over the Thrift1 gateway, or several of them).

Row keys in YAML are text; ``\\xNN`` escapes give any byte (the HBase shell's ``Bytes.toBytesBinary``
syntax), so ``row_start: "img\\x00"`` works for binary keys. Timestamps are HBase cell timestamps:
milliseconds since the epoch, or an ISO-8601 date/time (UTC if it names no zone).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal, NamedTuple, Self

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from imgpipe.config.base import Section

_COLUMN = re.compile(r"^[^:\s]+:[^\s]*$")
_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def key_bytes(text: str) -> bytes:
    r"""YAML row key -> bytes: UTF-8, with ``\xNN`` escapes for arbitrary bytes (``"a\xff"`` -> b"a\xff")."""
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))


def key_text(key: bytes) -> str:
    r"""Row key bytes -> the text ``key_bytes`` reads back as them: printable ASCII as is, any other byte
    (the backslash included) as ``\xNN``."""
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in key)


def _timestamp_ms(value: object) -> object:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"expected milliseconds since the epoch or an ISO-8601 date, but got {value!r}"
            ) from None
    else:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


TimestampMs = Annotated[int, BeforeValidator(_timestamp_ms), Field(ge=0)]


def _check_column(value: str) -> str:
    if not _COLUMN.match(value):
        raise ValueError(f"expected 'family:qualifier', but got {value!r}")
    return value


class Gateway(NamedTuple):
    """One Thrift gateway; ``str()`` gives ``host:port``, the form used in messages and the run report."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\s\[\]]+))(?::(?P<port>[0-9]{1,5}))?$")


def parse_gateway(text: str, default_port: int) -> Gateway:
    """``h1:9090``, ``h1`` (``default_port``) or ``[::1]:9090`` -> Gateway. Raises ValueError."""
    match = _HOST_PORT.match(text.strip())
    port = int(match["port"]) if match and match["port"] else default_port
    if match is None or not 1 <= port <= 65535:
        raise ValueError(f"expected 'host:port' or 'host', with a port from 1 to 65535, but got {text!r}")
    return Gateway(match["v6"] or match["host"], port)


def _check_gateway(text: str) -> str:
    parse_gateway(text, 9090)
    return text.strip()


class HBaseConnection(Section):
    #: One Thrift gateway, ``host`` and ``port``; or several, ``hosts: ["h1:9090", "h2:9090"]`` (not both).
    host: str | None = Field(default=None, min_length=1)
    #: The gateway port, also for ``hosts`` entries that give none.
    port: int = Field(default=9090, ge=1, le=65535)
    hosts: list[Annotated[str, AfterValidator(_check_gateway)]] = Field(default_factory=list)
    #: Thrift transport and protocol; they must match the gateways' (hbase.regionserver.thrift.framed/.compact).
    transport: Literal["buffered", "framed"] = "buffered"
    protocol: Literal["binary", "compact"] = "binary"
    table: str = Field(min_length=1)
    #: Socket timeout of each Thrift call; a hung gateway fails the call instead of the whole task.
    timeout_s: float = Field(default=120.0, gt=0)
    #: Consecutive failed attempts (connection reset, gateway restart, region move) before giving up.
    retries: int = Field(default=5, ge=0)
    #: First wait between attempts; doubled on each failure up to ``max_backoff_s``.
    backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)

    @field_validator("hosts")
    @classmethod
    def _distinct_hosts(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("host") is not None:  # host and port come first: validated already
            raise ValueError("give either host (one gateway) or hosts (a list of 'host:port'), not both")
        port = info.data.get("port", 9090)  # absent if invalid
        seen: dict[Gateway, str] = {}
        for text in value:
            gateway = parse_gateway(text, port)
            if gateway in seen:
                raise ValueError(f"expected each gateway once, but {text!r} names {seen[gateway]!r} again")
            seen[gateway] = text
        return value

    @model_validator(mode="after")
    def _one_way_to_gateways(self) -> Self:
        if self.host is None and not self.hosts:
            raise ValueError("expected host (one Thrift gateway) or hosts (a list of 'host:port'), but got neither")
        return self

    @property
    def gateways(self) -> tuple[Gateway, ...]:
        """Every configured gateway, in config order (``host``/``port`` alone is one)."""
        if self.host is not None:
            return (Gateway(self.host, self.port),)
        return tuple(parse_gateway(text, self.port) for text in self.hosts)

    def through(self, gateway: Gateway) -> Self:
        """These settings for one gateway only: what a single connection is opened with."""
        return self.model_copy(update={"host": gateway.host, "port": gateway.port, "hosts": []})

    def show_gateways(self) -> str:
        """``h1:9090,h2:9090`` for messages and run reports; a long list is cut after three."""
        names = [str(g) for g in self.gateways]
        return ",".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class HBaseSourceConfig(HBaseConnection):
    """Images stored as cells of an HBase table, read region by region (one Spark task per split)."""

    type: Literal["hbase"]
    #: The cell holding the encoded image, ``family:qualifier``.
    column: str
    #: Key range ``[row_start, row_stop)``; mutually exclusive with ``prefix``.
    row_start: str | None = None
    row_stop: str | None = None
    prefix: str | None = None
    #: Extra cells copied into the output unchanged (raw bytes): ``{"m:source": source_url}``.
    passthrough: dict[str, str] = Field(default_factory=dict)
    #: Only rows whose image cell was written in ``[min_timestamp, max_timestamp)``: "images added since".
    min_timestamp: TimestampMs | None = None
    max_timestamp: TimestampMs | None = None
    #: Cut each region into this many key ranges (more, smaller tasks for big regions).
    splits_per_region: int = Field(default=1, ge=1, le=1024)
    #: Rows per scanner round trip. The Thrift gateway holds a whole batch in its heap: keep it small
    #: for image cells (16 x 1 MB images = 16 MB per call).
    scan_batch_size: int = Field(default=16, ge=1, le=10_000)

    @field_validator("column")
    @classmethod
    def _column(cls, value: str) -> str:
        return _check_column(value)

    @field_validator("passthrough")
    @classmethod
    def _passthrough(cls, value: dict[str, str]) -> dict[str, str]:
        for column, name in value.items():
            _check_column(column)
            if name in ("key", "image") or not name:
                raise ValueError(f"passthrough output name {name!r} for {column!r} clashes with key/image")
        if len(set(value.values())) != len(value):
            raise ValueError("passthrough output names must be unique")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> HBaseSourceConfig:
        if self.prefix is not None and (self.row_start is not None or self.row_stop is not None):
            raise ValueError("give either prefix or row_start/row_stop, not both")
        if self.row_start and self.row_stop and key_bytes(self.row_start) >= key_bytes(self.row_stop):
            raise ValueError(f"row_start {self.row_start!r} must sort before row_stop {self.row_stop!r}")
        lo, hi = self.min_timestamp, self.max_timestamp
        if lo is not None and hi is not None and lo >= hi:
            raise ValueError(f"min_timestamp ({lo}) must be before max_timestamp ({hi})")
        if self.column in self.passthrough:
            raise ValueError(f"the image column {self.column!r} cannot also be a passthrough column")
        return self

    @property
    def family(self) -> str:
        return self.column.split(":", 1)[0]

    @property
    def passthrough_columns(self) -> tuple[str, ...]:
        """Output names of the passthrough cells, in config order."""
        return tuple(self.passthrough.values())


class HBaseSinkConfig(HBaseConnection):
    """Results written back per image key; the cell layout is documented in ``imgpipe.hbase.cells``."""

    type: Literal["hbase"]
    family: str = Field(default="r", pattern=r"^[^:\s]+$")
    #: Create the table (or nothing: a missing family is always an error) when it does not exist.
    create: bool = False
    #: Rows per ``mutateRows`` call.
    batch_size: int = Field(default=64, ge=1, le=10_000)

    @property
    def default_report_dir(self) -> str:
        """Where summary.json, errors/, status/ and the manifest go unless run.report_dir says otherwise."""
        return f"./imgpipe-runs/{self.table}"
