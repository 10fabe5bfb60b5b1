"""HBase as a Spark data source, ``spark.read.format("imgpipe-hbase")``, on the imgpipe source's own planning and scans.

    options     parsed into ``HBaseSourceConfig`` (the YAML source's validation and messages), plus ``key_type``
    partitions  ``plan_splits``: one per region split within row_start/row_stop/prefix and the pushed key filters
    read        ``read_split`` on the executors: retries, resume after the last key, min_timestamp; Arrow batches
    counters    rows scanned and Thrift retries, in accumulators that ``register`` returns

Spark's Python Data Source API (Spark >= 4.0) plans partitions in a Python worker on the driver and reads them in
Python workers on the executors; filter pushdown (``pushFilters``) exists from Spark 4.1 and is used when the
session enables it (``spark.sql.python.filterPushdown.enabled``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, cast

import pyarrow as pa
from pyspark import Accumulator
from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructType

from imgpipe import batch as B
from imgpipe.config import check_section, config_error
from imgpipe.config.hbase import HBaseSourceConfig, key_text
from imgpipe.errors import ConfigError, SourceError
from imgpipe.hbase import scan
from imgpipe.hbase.client import show_key
from imgpipe.hbase.splits import HBaseSplit, key_range, plan_splits, where

if TYPE_CHECKING:
    from pyspark.sql.datasource import Filter  # Spark >= 4.1

NAME = "imgpipe-hbase"
#: How messages name the reader's options: ``format('imgpipe-hbase'): prefx: unknown key. Did you mean 'prefix'?``
OPTIONS = f"format({NAME!r})"
KeyType = Literal["binary", "string"]
#: The Spark module that plans a read with filter pushdown; see ``_planning_with_pushdown``.
_PUSHDOWN_PLANNER = "pyspark.sql.worker.data_source_pushdown_filters"
_TEXT_KEY = pa.field(B.KEY, pa.string(), nullable=False)


@dataclass(frozen=True)
class ReadCounters:
    """What this session's ``imgpipe-hbase`` reads did, counted by the executors as they scan.

    Accumulators: a task Spark runs again (a retry, a recomputed stage) counts again.
    """

    rows: Accumulator[int]
    retried: Accumulator[int]

    @property
    def rows_scanned(self) -> int:
        """Rows the scans read from HBase, before any filter Spark applies afterwards."""
        return int(self.rows.value)

    @property
    def retries(self) -> int:
        """Thrift calls retried after a transient failure (each resumed just after the last key read)."""
        return int(self.retried.value)


_REGISTERED: dict[str, ReadCounters] = {}


def register(spark: SparkSession) -> ReadCounters:
    """Make ``spark.read.format("imgpipe-hbase")`` available in ``spark``, once per session; its counters."""
    session = str(spark._jsparkSession.sessionUUID())
    if session not in _REGISTERED:
        sc = spark.sparkContext
        counters = ReadCounters(sc.accumulator(0), sc.accumulator(0))
        # A class made here is not importable, so Spark's cloudpickle ships it by value, counters included:
        # that is how the executors' reads reach this session's accumulators.
        source = type(HBaseDataSource.__name__, (HBaseDataSource,), {"counters": counters})
        spark.dataSource.register(source)
        _REGISTERED[session] = counters
    return _REGISTERED[session]


class HBaseDataSource(DataSource):
    """``(key, image, passthrough...)`` rows of an HBase table, one partition per region split."""

    #: Set on the class ``register`` makes.
    counters: ReadCounters | None = None

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        # Checked here, in load(): a bad option fails before any query is planned.
        self.cfg, self.key_type = source_options(options)

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> StructType:
        return from_arrow_schema(arrow_schema(self.cfg, self.key_type))

    def reader(self, schema: StructType) -> DataSourceReader:
        if schema != self.schema():
            raise ConfigError(
                f"{NAME} has a fixed schema: expected {self.schema().simpleString()}, but .schema() gave "
                f"{schema.simpleString()}; leave .schema() out"
            )
        kind = PushdownReader if _planning_with_pushdown() else HBaseReader
        return kind(self.cfg, self.key_type, self.counters)


class HBaseReader(DataSourceReader):
    """Plans on the driver (a Python worker there) and scans on the executors; picklable."""

    def __init__(self, cfg: HBaseSourceConfig, key_type: KeyType, counters: ReadCounters | None) -> None:
        self.cfg, self.key_type, self.counters = cfg, key_type, counters
        #: Keys ``[start, stop)`` the scan covers (``b""`` stop: unbounded); None when no key can pass the filters.
        self.within: tuple[bytes, bytes] | None = key_range(cfg)

    def partitions(self) -> list[InputPartition]:
        if self.within is None:
            return []  # the filters exclude every key; Spark reads one empty partition (value None)
        cfg = self.cfg if self.within == key_range(self.cfg) else narrowed(self.cfg, self.within)
        return [InputPartition(split) for split in plan_splits(cfg)]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        split: HBaseSplit | None = partition.value
        if split is None:
            return
        counters = self.counters

        def count_retry(exc: BaseException) -> None:
            if counters is not None:
                counters.retried.add(1)

        for batch in scan.read_split(self.cfg, split, on_retry=count_retry):
            if counters is not None:
                counters.rows.add(batch.num_rows)
            yield batch if self.key_type == "binary" else text_keys(batch, self.cfg)


class PushdownReader(HBaseReader):
    """The reader when Spark pushes filters: key filters narrow the planned range."""

    def pushFilters(self, filters: list[Filter]) -> Iterable[Filter]:  # noqa: N802 - Spark's name
        from imgpipe.spark.pushdown import narrow  # here: Spark 4.0 has no filter classes to import

        self.within = narrow(self.within, filters)
        # Every filter goes back for Spark to check too: the range only spares the scan, it never decides a row.
        return filters


def source_options(options: Mapping[str, str]) -> tuple[HBaseSourceConfig, KeyType]:
    """Reader options -> the HBase source config, validated as the YAML source is; plus ``key_type``.

    ``passthrough`` is a JSON object (``{"m:sku": "sku"}``); ``key_type`` is ``binary`` (the row key bytes, as
    the imgpipe source gives them) or ``string`` (UTF-8 text, which lets Spark push ``startswith`` down).
    Raises ``ConfigError`` listing every bad option.
    """
    values: dict[str, Any] = {str(k).lower(): v for k, v in options.items()}
    key_type = values.pop("key_type", "binary")
    problems = []
    if key_type not in ("binary", "string"):
        problems.append(f"{OPTIONS}: key_type: expected 'binary' or 'string', but got {key_type!r}")
    if "passthrough" in values:
        try:
            values["passthrough"] = json.loads(values["passthrough"])
        except ValueError:
            problems.append(
                f"{OPTIONS}: passthrough: expected a JSON object such as '{{\"m:sku\": \"sku\"}}', "
                f"but got {values.pop('passthrough')!r}"
            )
    try:
        cfg = check_section(HBaseSourceConfig, {"type": "hbase", **values}, OPTIONS)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise config_error(OPTIONS, problems)
    return cfg, cast(KeyType, key_type)


def arrow_schema(cfg: HBaseSourceConfig, key_type: KeyType) -> pa.Schema:
    schema = scan.schema(cfg)
    return schema if key_type == "binary" else schema.set(0, _TEXT_KEY)


def narrowed(cfg: HBaseSourceConfig, within: tuple[bytes, bytes]) -> HBaseSourceConfig:
    """``cfg`` scanning only ``within``, which lies inside its own range."""
    start, stop = within
    values = {**cfg.model_dump(), "prefix": None, "row_start": key_text(start) or None, "row_stop": key_text(stop) or None}
    return check_section(HBaseSourceConfig, values, f"{OPTIONS} narrowed by pushed filters")


def text_keys(batch: pa.RecordBatch, cfg: HBaseSourceConfig) -> pa.RecordBatch:
    """``batch`` with its keys as UTF-8 text; a key that is not UTF-8 stops the read, naming it."""
    keys = batch.column(0)
    try:
        text = keys.cast(pa.string())
    except pa.ArrowInvalid:
        bad = next(k for k in keys.to_pylist() if not _is_utf8(k))
        raise SourceError(
            f"{where(cfg)}: row key {show_key(bad)} is not UTF-8 text, so key_type 'string' cannot hold it; "
            "read the table with key_type 'binary'"
        ) from None
    return pa.RecordBatch.from_arrays([text, *batch.columns[1:]], schema=batch.schema.set(0, _TEXT_KEY))


def _is_utf8(key: bytes) -> bool:
    try:
        key.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _planning_with_pushdown() -> bool:
    """Is Spark's pushdown planner asking for this reader?

    Spark 4.1+ refuses a reader that implements ``pushFilters`` while ``spark.sql.python.filterPushdown.enabled``
    is off (the default), and a reader cannot read the session's conf. But with pushdown on, and only then, Spark
    makes the reader from its pushdown planner module, so that reader is the one that may push: no conf of the
    caller is needed or changed. Where the module is not found (Spark 4.0, or renamed), nothing is pushed.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        spec = frame.f_globals.get("__spec__")
        if _PUSHDOWN_PLANNER in (frame.f_globals.get("__name__"), getattr(spec, "name", None)):
            return True
        frame = frame.f_back
    return False
