"""Several real Thrift gateways on one HBase (started by scripts/hbase/start.sh): splits spread over them, a gateway
stopped mid-run, and framed/compact gateways read and written through the matching options.

On a standalone cluster these tests would run the same configs with ``spark.master`` set to the cluster's; what
they would add there is that both workers read (the report's executors), which needs the packed environment of
issue 12 for workers that cannot import imgpipe.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import happybase
import pytest
from pyspark.sql import SparkSession

from imgpipe import batch as B
from imgpipe.config.hbase import HBaseSinkConfig, HBaseSourceConfig
from imgpipe.errors import SinkError, SourceError
from imgpipe.hbase.cells import decode_cells, prepare
from imgpipe.hbase.splits import plan_splits
from tests.helpers import photo_count, photo_paths
from tests.spark_helpers import read_rows, run_config
from tests.system.conftest import HBaseService, scanning_through

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def second_gateway(hbase: HBaseService) -> Iterator[int]:
    """A second buffered/binary gateway, ``thrift2``, on its own port: its port."""
    port = hbase.start_gateway("thrift2")
    yield port
    hbase.script("stop.sh", "thrift", "--name", "thrift2")


@pytest.fixture(scope="module")
def framed_compact(hbase: HBaseService) -> Iterator[int]:
    """A gateway with framed transport and the compact protocol, ``thriftfc``: its port."""
    port = hbase.start_gateway("thriftfc", "--transport", "framed", "--protocol", "compact")
    yield port
    hbase.script("stop.sh", "thrift", "--name", "thriftfc")


def two_gateways(hbase: HBaseService, table: str, second: int, extra: str = "") -> str:
    return (
        f"source: {{type: hbase, hosts: ['{hbase.host}:{hbase.port}', '{hbase.host}:{second}'], table: {table}, "
        f"column: 'f:img'{extra}}}\n"
    )


def test_thrift1_regions_name_their_server_and_splits_spread_over_its_gateways(
    hbase: HBaseService, photos_table: str, second_gateway: int
) -> None:
    cfg = HBaseSourceConfig.model_validate(
        {"type": "hbase", "hosts": [f"{hbase.host}:{hbase.port}", f"{hbase.host}:{second_gateway}"],
         "table": photos_table, "column": "f:img"}
    )  # fmt: skip
    splits = plan_splits(cfg)
    assert {s.server for s in splits} == {"127.0.0.1"}, "getTableRegions names the RegionServer's host"
    firsts = [s.gateways[0] for s in splits]
    assert sorted(firsts) == sorted([f"127.0.0.1:{hbase.port}", f"127.0.0.1:{second_gateway}"] * 2), firsts


def test_hbase_to_parquet_through_two_gateways_counts_splits_per_gateway(
    spark: SparkSession, hbase: HBaseService, photos_table: str, second_gateway: int, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = two_gateways(hbase, photos_table, second_gateway) + f"sink: {{type: parquet, path: '{out}'}}\n"
    report = run_config(spark, config)

    keys = [r[B.KEY] for r in read_rows(out / "results")]
    assert len(keys) == len(set(keys)) == photo_count() == report.images_read
    gateways = json.loads((out / "summary.json").read_text())["gateways"]
    assert set(gateways) == {f"127.0.0.1:{hbase.port}", f"127.0.0.1:{second_gateway}"}
    assert [g["splits"] for g in gateways.values()] == [2, 2], gateways
    assert sum(g["rows"] for g in gateways.values()) == photo_count()
    assert all(g["rows"] > 0 and g["failovers"] == 0 for g in gateways.values()), gateways


@pytest.fixture(scope="module")
def long_table(hbase: HBaseService) -> tuple[str, list[bytes]]:
    """4000 rows: a region's scan takes seconds even with the Python workers warm before the first task."""
    return hbase.two_region_table("long", 4000)


def test_a_gateway_stopped_mid_scan_every_key_once_and_failovers_counted(
    spark: SparkSession, hbase: HBaseService, long_table: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    table, keys = long_table
    doomed = hbase.start_gateway("thrift3")
    out = tmp_path / "out"
    config = (
        two_gateways(hbase, table, doomed, ", scan_batch_size: 1, backoff_s: 0.2")
        + f"sink: {{type: parquet, path: '{out}'}}\nspark: {{max_records_per_batch: 1}}\n"
    )
    stopped: list[float] = []

    def stop_mid_scan() -> None:
        deadline = time.monotonic() + 120
        while not scanning_through(doomed) and time.monotonic() < deadline:
            time.sleep(0.02)  # planning goes through the first gateway: a connection to thrift3 is a scan
        time.sleep(0.2)  # its first row is read within milliseconds; the 2000 rows take seconds
        hbase.stop_gateway("thrift3")
        stopped.append(time.monotonic())

    stopper = threading.Thread(target=stop_mid_scan, daemon=True)
    stopper.start()
    try:
        report = run_config(spark, config)
    finally:
        stopper.join(timeout=150)
        hbase.script("stop.sh", "thrift", "--name", "thrift3")
    assert stopped, "thrift3 was never stopped"

    read = [r[B.KEY] for r in read_rows(out / "results")]
    assert sorted(read) == keys and report.images_ok == len(keys), "every key exactly once"
    lost, kept = report.gateways[f"127.0.0.1:{doomed}"], report.gateways[f"127.0.0.1:{hbase.port}"]
    assert lost["failovers"] == 1 and lost["splits"] == 0 and kept["splits"] == 2, report.gateways
    assert 0 < lost["rows"] < 200, f"thrift3 was stopped mid-scan: {report.gateways}"
    assert lost["rows"] + kept["rows"] == len(keys), "the rows read through thrift3 were not read again"
    assert report.source_retries >= 1


# ------------------------------------------------------------------------------- framed transport, compact protocol


def small_table(hbase: HBaseService, images: dict[bytes, bytes]) -> str:
    name = f"fc_{uuid.uuid4().hex[:8]}"
    conn = happybase.Connection(hbase.host, hbase.port)
    try:
        conn.create_table(name, {"f": {}})
        for key, image in images.items():
            conn.table(name).put(key, {b"f:img": image})
    finally:
        conn.close()
    return name


def test_framed_compact_gateway_read_and_written_through_matching_options(
    spark: SparkSession, hbase: HBaseService, framed_compact: int, tmp_path: Path
) -> None:
    images = {p.name.encode(): p.read_bytes() for p in photo_paths()[:3]}
    source, results = small_table(hbase, images), f"fc_out_{uuid.uuid4().hex[:8]}"
    options = f"host: {hbase.host}, port: {framed_compact}, transport: framed, protocol: compact"
    config = (
        f"source: {{type: hbase, {options}, table: {source}, column: 'f:img'}}\n"
        f"sink: {{type: hbase, {options}, table: {results}, create: true}}\n"
        f"run: {{report_dir: '{tmp_path / 'report'}'}}\n"
    )
    report = run_config(spark, config)

    assert report.images_ok == 3 and report.gateways[f"127.0.0.1:{framed_compact}"]["rows"] == 3
    conn = happybase.Connection(hbase.host, framed_compact, transport="framed", protocol="compact")
    try:
        written = {key: decode_cells(cells) for key, cells in conn.table(results).scan()}
    finally:
        conn.close()
    assert sorted(written) == sorted(images)
    assert all(cells["status"] == "ok" and cells["width"] for cells in written.values()), written


def test_a_transport_mismatch_is_a_clear_error_both_ways(hbase: HBaseService, framed_compact: int) -> None:
    # A buffered/binary client: the framed/compact gateway closes the socket at the first call.
    source = HBaseSourceConfig.model_validate(
        {"type": "hbase", "host": hbase.host, "port": framed_compact, "table": "any", "column": "f:img"}
    )
    with pytest.raises(SourceError) as caught:
        plan_splits(source)
    assert "read 0 bytes" in str(caught.value)
    assert "transport: buffered, protocol: binary here" in str(caught.value)
    assert "needs transport: framed / protocol: compact" in str(caught.value)

    # A framed client: the buffered gateway waits for the rest of a message that never comes.
    sink = HBaseSinkConfig.model_validate(
        {"type": "hbase", "host": hbase.host, "port": hbase.port, "table": "any", "transport": "framed", "timeout_s": 2}
    )
    began = time.monotonic()
    with pytest.raises(SinkError, match="timed out .*transport: framed, protocol: binary here"):
        prepare(sink)
    assert time.monotonic() - began < 30
