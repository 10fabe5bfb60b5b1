"""An in-memory stand-in for a happybase Connection/Table: enough for planning, scanning and puts.

Semantics follow HBase's Thrift1 gateway as happybase sees it: keys sorted as bytes, ``[start, stop)``
scans, reverse scans that include their start row, ``timestamp=T`` meaning cells older than T, regions
naming their RegionServer host (``server_name``). ``FakeGateways`` puts several gateways in front of the
same tables, any of which can be down or die after serving some rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgpipe.config.hbase import HBaseSinkConfig, HBaseSourceConfig

Cell = tuple[bytes, int]  # value, timestamp


class FakeTable:
    def __init__(self, splits: list[bytes] = (), servers: list[bytes] | None = None) -> None:  # type: ignore[assignment]
        self.rows_: dict[bytes, dict[bytes, Cell]] = {}
        self.splits = sorted(splits)
        self.servers = servers or [b"rs1"] * (len(self.splits) + 1)  # per region, in key order
        self.scans: list[dict[str, Any]] = []
        self.fail_after: int | None = None  # raise once after this many rows have been returned
        self.returned = 0
        self.families_ = [b"f", b"r"]

    def put(self, key: bytes, data: dict[bytes, bytes], timestamp: int = 1) -> None:
        row = self.rows_.setdefault(key, {})
        for column, value in data.items():
            row[column] = (value, timestamp)

    def regions(self) -> list[dict[str, Any]]:
        edges = [b"", *self.splits, b""]
        return [
            {"start_key": a, "end_key": b, "name": b"t," + a + b",1.abc.", "id": 1, "version": 1,
             "server_name": server, "port": 16020}
            for a, b, server in zip(edges[:-1], edges[1:], self.servers, strict=True)
        ][::-1]  # unsorted on purpose: the planner must sort

    def families(self) -> dict[bytes, dict[str, Any]]:
        return {f: {} for f in self.families_}

    def _view(self, key: bytes, columns: list[bytes] | None, timestamp: int | None, ts: bool, key_only: bool) -> dict[bytes, Any]:
        out: dict[bytes, Any] = {}
        for column, (value, stamp) in self.rows_[key].items():
            if columns is not None and column not in columns:
                continue
            if timestamp is not None and stamp >= timestamp:
                continue
            value = b"" if key_only else value
            out[column] = (value, stamp) if ts else value
        return out

    def scan(self, row_start: bytes | None = None, row_stop: bytes | None = None, columns: list[bytes] | None = None,
             filter: str | None = None, timestamp: int | None = None, include_timestamp: bool = False,
             batch_size: int = 1000, limit: int | None = None, reverse: bool = False) -> Iterator[tuple[bytes, dict[bytes, Any]]]:
        self.scans.append({"start": row_start, "stop": row_stop, "reverse": reverse, "filter": filter})
        keys = sorted(self.rows_, reverse=reverse)
        start, stop = row_start or b"", row_stop or b""
        if reverse:
            keys = [k for k in keys if (not start or k <= start) and (not stop or k > stop)]
        else:
            keys = [k for k in keys if k >= start and (not stop or k < stop)]
        n = 0
        for key in keys:
            view = self._view(key, columns, timestamp, include_timestamp, bool(filter and "KeyOnly" in filter))
            if not view:
                continue
            if self.fail_after is not None and self.returned >= self.fail_after:
                self.fail_after = None
                raise ConnectionResetError("connection reset by peer (injected)")
            self.returned += 1
            yield key, view
            n += 1
            if limit is not None and n >= limit:
                return

    def rows(self, keys: list[bytes], columns: list[bytes] | None = None, timestamp: int | None = None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        out = []
        for key in keys:
            if key in self.rows_:
                view = self._view(key, columns, timestamp, False, False)
                if view:
                    out.append((key, view))
        return out

    def batch(self) -> FakeBatch:
        return FakeBatch(self)


class FakeBatch:
    def __init__(self, table: FakeTable) -> None:
        self.table, self.pending = table, []  # type: list[tuple[bytes, dict[bytes, bytes]]]

    def put(self, key: bytes, data: dict[bytes, bytes]) -> None:
        self.pending.append((key, data))

    def send(self) -> None:
        for key, data in self.pending:
            self.table.put(key, data)
        self.pending = []


class FakeConnection:
    def __init__(self, tables: dict[str, FakeTable]) -> None:
        self.tables_ = tables
        self.closed = False

    def table(self, name: str) -> FakeTable:
        return self.tables_.setdefault(name, FakeTable())

    def tables(self) -> list[bytes]:
        return [n.encode() for n in self.tables_]

    def create_table(self, name: str, families: dict[str, Any]) -> None:
        self.tables_[name] = FakeTable()
        self.tables_[name].families_ = [f.encode() for f in families]

    def close(self) -> None:
        self.closed = True


class FakeGateways:
    """Gateways in front of the same tables: ``connect(cfg)`` opens one to ``cfg.host:cfg.port`` (a seam for
    ``plan_splits``, ``read_split``, ``prepare`` and ``write_through``)."""

    def __init__(self, tables: dict[str, FakeTable]) -> None:
        self.tables = tables
        self.down: set[str] = set()
        self.dies_after: dict[str, int] = {}  # gateway -> rows (or puts) it serves, then it goes down
        self.connects: list[str] = []
        self.served: dict[str, int] = {}

    def connect(self, cfg: HBaseSourceConfig | HBaseSinkConfig) -> FakeConnection:
        name = f"{cfg.host}:{cfg.port}"
        self.connects.append(name)
        if name in self.down:
            raise ConnectionRefusedError(f"[Errno 111] Connection refused ({name})")
        return _GatewayConnection(self, name)

    def serve(self, name: str) -> None:
        """One row or put through ``name``; raises (and takes it down) once it has served its share."""
        if name in self.down:
            raise BrokenPipeError(f"[Errno 32] Broken pipe ({name})")
        if self.served.get(name, 0) >= self.dies_after.get(name, 1 << 30):
            self.down.add(name)
            raise ConnectionResetError(f"connection reset by peer ({name} died)")
        self.served[name] = self.served.get(name, 0) + 1


class _GatewayConnection(FakeConnection):
    def __init__(self, gateways: FakeGateways, name: str) -> None:
        super().__init__(gateways.tables)
        self.gateways, self.name = gateways, name

    def table(self, name: str) -> Any:
        return _GatewayTable(self.gateways, self.name, super().table(name))


class _GatewayTable:
    def __init__(self, gateways: FakeGateways, name: str, table: FakeTable) -> None:
        self.gateways, self.name, self.table = gateways, name, table

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.table, attr)

    def scan(self, **kw: Any) -> Iterator[tuple[bytes, dict[bytes, Any]]]:
        for row in self.table.scan(**kw):
            self.gateways.serve(self.name)
            yield row

    def batch(self) -> Any:
        gateways, name, table = self.gateways, self.name, self.table

        class Batch(FakeBatch):
            def send(self) -> None:
                for _ in self.pending:
                    gateways.serve(name)
                super().send()

        return Batch(table)


def source(**kw: Any) -> HBaseSourceConfig:
    where = {} if "hosts" in kw else {"host": "h"}
    return HBaseSourceConfig.model_validate({"type": "hbase", **where, "table": "t", "column": "f:img", **kw})


def sink(**kw: Any) -> HBaseSinkConfig:
    where = {} if "hosts" in kw else {"host": "h"}
    return HBaseSinkConfig.model_validate({"type": "hbase", **where, "table": "out", **kw})


def table_with_rows(splits: list[bytes], keys: list[bytes]) -> FakeTable:
    """A table split at ``splits`` whose rows hold an image cell and a passthrough cell derived from the key."""
    table = FakeTable(splits)
    for k in keys:
        table.put(k, {b"f:img": b"I" + k, b"m:src": b"S" + k})
    return table
