"""Several Thrift gateways without HBase: config, split-to-gateway assignment, failover of scans, puts and planning."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from imgpipe.cli import cli
from imgpipe.config import parse_config
from imgpipe.config.hbase import Gateway, HBaseSourceConfig
from imgpipe.errors import ConfigError, SinkError, SourceError
from imgpipe.hbase import gateways as gw
from imgpipe.hbase.cells import prepare, write_through
from imgpipe.hbase.scan import read_split
from imgpipe.hbase.splits import HBaseSplit, plan_splits
from imgpipe.report import RunReport
from tests.unit.fake_hbase import FakeGateways, FakeTable, sink, source, table_with_rows
from tests.unit.test_hbase_cells import result_batch

H1, H2, H3 = Gateway("rs1", 9090), Gateway("rs2", 9090), Gateway("rs3", 9091)


@pytest.fixture(autouse=True)
def no_remembered_failures() -> Iterator[None]:
    gw.forget_failures()
    yield
    gw.forget_failures()


def no_dns(host: str) -> frozenset[str]:
    return frozenset()


# ------------------------------------------------------------------------------------------------ config


def hbase_yaml(lines: str) -> str:
    return f"source:\n  type: hbase\n{lines}  table: t\n  column: 'f:img'\nsink: {{type: parquet, path: /tmp/o}}\n"


def test_hosts_accept_host_port_bare_hosts_and_ipv6() -> None:
    cfg = parse_config(hbase_yaml("  hosts: ['rs1:9090', rs2, '[::1]:9091']\n  port: 9095\n")).job.source
    assert cfg.gateways == (Gateway("rs1", 9090), Gateway("rs2", 9095), Gateway("::1", 9091))
    assert [str(g) for g in cfg.gateways] == ["rs1:9090", "rs2:9095", "[::1]:9091"]
    assert parse_config(hbase_yaml("  host: rs1\n")).job.source.gateways == (Gateway("rs1", 9090),)


def test_bad_gateway_entries_are_config_errors_with_their_lines() -> None:
    text = hbase_yaml("  hosts:\n    - rs1:9090\n    - 'rs2:99999'\n    - 'rs3:'\n  transport: framd\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "job.yaml")
    message = str(caught.value)
    assert "job.yaml:5: source.hosts[1]: expected 'host:port'" in message and "'rs2:99999'" in message
    assert "job.yaml:6: source.hosts[2]" in message and "'rs3:'" in message
    assert "job.yaml:7: source.transport: Input should be 'buffered' or 'framed'" in message


def test_imgpipe_run_refuses_a_bad_gateway_with_exit_2_before_spark(tmp_path: Path) -> None:
    config = tmp_path / "job.yaml"
    config.write_text(hbase_yaml("  hosts: ['rs1:9090', 'rs2:0']\n").replace("/tmp/o", str(tmp_path / "o")))
    result = CliRunner().invoke(cli, ["run", str(config)])
    assert result.exit_code == 2, result.output
    assert f"{config}:3: source.hosts[1]: expected 'host:port'" in result.output and "'rs2:0'" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("  hosts: [rs1, 'rs1:9090']\n", "source.hosts: expected each gateway once, but 'rs1:9090' names 'rs1' again"),
        ("  host: rs0\n  hosts: [rs1]\n", "source.hosts: give either host (one gateway) or hosts"),
        ("", "source: expected host (one Thrift gateway) or hosts"),
        ("  hosts: []\n", "source: expected host (one Thrift gateway) or hosts"),
    ],
)
def test_gateways_given_twice_both_ways_or_not_at_all_are_refused(lines: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_config(hbase_yaml(lines))


def test_sink_takes_hosts_and_transport_too() -> None:
    text = "source: {type: files, path: /tmp/in}\nsink: {type: hbase, hosts: [rs1, rs2], table: out, protocol: compact}"
    cfg = parse_config(text).job.sink
    assert cfg.gateways == (H1, H2) and cfg.protocol == "compact" and cfg.transport == "buffered"


# -------------------------------------------------------------------------------------------- assignment


def test_each_split_reads_through_the_gateway_on_its_region_server() -> None:
    orders = gw.assign(["rs2", "rs1", "rs3", "rs2"], [H1, H2, H3], resolve=no_dns)
    assert [o[0] for o in orders] == [H2, H1, H3, H2]
    assert all(sorted(o) == sorted([H1, H2, H3]) for o in orders), "every gateway is in each failover order"


def test_splits_on_hosts_without_a_gateway_even_out_the_load() -> None:
    # rs1 holds 3 regions (local), rs9 runs no gateway: its 5 splits go to the less loaded gateways.
    orders = gw.assign(["rs1", "rs1", "rs1", "rs9", "rs9", "rs9", "rs9", "rs9", ""], [H1, H2, H3], resolve=no_dns)
    load = Counter(o[0] for o in orders)
    assert load == {H1: 3, H2: 3, H3: 3}
    assert [o[0] for o in orders[:3]] == [H1, H1, H1]


def test_several_gateways_on_one_host_share_its_splits() -> None:
    a, b = Gateway("127.0.0.1", 9090), Gateway("127.0.0.1", 9091)
    orders = gw.assign(["127.0.0.1"] * 4, [a, b], resolve=no_dns)
    assert [o[0] for o in orders] == [a, b, a, b]
    assert [o[1] for o in orders] == [b, a, b, a]


def test_failover_orders_rotate_so_a_dead_gateways_splits_spread() -> None:
    orders = gw.assign(["rs1"] * 4, [H1, H2, H3], resolve=no_dns)
    assert [o[1] for o in orders] == [H2, H3, H2, H3]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("RS1.example.com.", "rs1.example.com", True),
        ("rs1", "rs1.example.com", True),
        ("rs1.a.com", "rs1.b.com", False),
        ("rs1", "rs10.example.com", False),
        ("10", "10.0.0.5", False),
    ],
)
def test_host_names_match_without_case_trailing_dot_or_domain(a: str, b: str, same: bool) -> None:
    assert gw.same_name(a, b) is same


def test_hosts_match_by_address_when_names_differ() -> None:
    addresses = {"rs2.example.com": frozenset({"10.0.0.2"}), "10.0.0.2": frozenset({"10.0.0.2"})}
    by_ip = Gateway("10.0.0.2", 9090)
    orders = gw.assign(["rs2.example.com"], [H1, by_ip], resolve=lambda h: addresses.get(h, frozenset()))
    assert orders[0][0] == by_ip


def test_read_order_drops_gateways_no_longer_configured() -> None:
    # A resumed run whose hosts changed: the planned rs2 is gone, rs1 stays first, the new rs3 follows.
    assert gw.read_order(["rs1:9090", "rs2:9090"], [H1, H3], 9090, 0) == (H1, H3)
    assert gw.read_order([], [H1, H2, H3], 9090, 1) == (H2, H3, H1)


def test_a_gateway_that_failed_here_lately_is_tried_last() -> None:
    failover = gw.Failover([H1, H2])
    assert failover.fail() == H2
    assert gw.demote_failed([H1, H2, H3]) == (H2, H3, H1)
    assert gw.demote_failed([H1, H2, H3], now=gw._failed_at[H1] + gw.DEMOTED_S) == (H1, H2, H3)


# --------------------------------------------------------------------------------------- planning, scans


def test_splits_carry_their_region_server_and_gateways() -> None:
    table = table_with_rows([b"4", b"8"], [b"1", b"5", b"9"])
    table.servers = [b"rs2", b"rs1", b"rs2"]
    gateways = FakeGateways({"t": table})
    splits = plan_splits(source(hosts=["rs1", "rs2"]), connect=gateways.connect)
    assert [s.server for s in splits] == ["rs2", "rs1", "rs2"]
    assert [s.gateways[0] for s in splits] == ["rs2:9090", "rs1:9090", "rs2:9090"]
    assert HBaseSplit.from_unit(splits[0].to_unit()) == splits[0]


def test_a_manifest_unit_from_before_gateways_still_reads() -> None:
    old = [3, "34", "", "t,4,1.abc.", "t rows [4, end)"]
    assert HBaseSplit.from_unit(old) == HBaseSplit(3, b"4", b"", "t,4,1.abc.", "t rows [4, end)")


def test_planning_goes_through_the_next_gateway_when_one_is_down() -> None:
    gateways = FakeGateways({"t": table_with_rows([b"4"], [b"1", b"5"])})
    gateways.down.add("rs1:9090")
    assert len(plan_splits(source(hosts=["rs1", "rs2"]), connect=gateways.connect)) == 2
    assert gateways.connects == ["rs1:9090", "rs2:9090"]


def test_planning_names_every_gateway_when_none_answers() -> None:
    gateways = FakeGateways({"t": FakeTable()})
    gateways.down |= {"rs1:9090", "rs2:9090"}
    with pytest.raises(SourceError, match=r"cannot plan the scan: rs1:9090: ConnectionRefusedError.*; rs2:9090: Conn"):
        plan_splits(source(hosts=["rs1", "rs2"]), connect=gateways.connect)


def scan_all(cfg_hosts: list[str], gateways: FakeGateways, **kw: object) -> tuple[list[bytes], dict[str, float]]:
    cfg = source(hosts=cfg_hosts, backoff_s=0, **kw)
    counts: dict[str, float] = {}
    keys = [
        k
        for split in plan_splits(cfg, connect=gateways.connect)
        for batch in read_split(
            cfg, split, max_batch_rows=3, connect=gateways.connect, sleep=lambda s: None, counts=counts
        )
        for k in batch.column("key").to_pylist()
    ]
    return keys, counts


def test_a_gateway_dying_mid_scan_sends_the_scan_on_resuming_after_the_last_key() -> None:
    keys = [f"k{i:02d}".encode() for i in range(30)]
    table = table_with_rows([b"k10", b"k20"], keys)
    table.servers = [b"rs1", b"rs2", b"rs1"]
    gateways = FakeGateways({"t": table})
    gateways.dies_after["rs1:9090"] = 14  # the first region (10 rows) and 4 rows of the third

    read, counts = scan_all(["rs1", "rs2"], gateways)

    assert read == keys, "every key exactly once, in order"
    assert table.scans[-1]["start"] == b"k23\x00", "resumed just after the last key read through rs1"
    assert gw.per_gateway(counts, [H1, H2]) == {
        "rs1:9090": {"splits": 1, "rows": 14, "failovers": 1},
        "rs2:9090": {"splits": 2, "rows": 16, "failovers": 0},
    }


def test_a_gateway_down_from_the_start_costs_one_failed_connect_per_process() -> None:
    table = table_with_rows([b"k3", b"k6"], [f"k{i}".encode() for i in range(9)])
    gateways = FakeGateways({"t": table})
    gateways.down.add("rs1:9090")
    read, counts = scan_all(["rs1", "rs2"], gateways)
    assert len(read) == 9
    assert gateways.connects.count("rs1:9090") == 2, "planning, then the first split; later splits start on rs2"
    assert counts["splits:rs2:9090"] == 3 and counts["failovers:rs1:9090"] == 1


def test_planning_stops_after_two_timeouts_and_hints_at_the_transport() -> None:
    tried: list[str] = []

    def hangs(cfg: HBaseSourceConfig) -> None:
        tried.append(f"{cfg.host}:{cfg.port}")
        raise TimeoutError("timed out")

    with pytest.raises(SourceError) as caught:
        plan_splits(source(hosts=["rs1", "rs2", "rs3:9091", "rs4"]), connect=hangs)
    assert tried == ["rs1:9090", "rs2:9090"]
    assert "rs2:9090: TimeoutError: timed out; 2 more not tried after 2 timeouts" in str(caught.value)
    assert "than transport: buffered, protocol: binary here" in str(caught.value)


def test_refused_connections_get_no_transport_hint() -> None:
    gateways = FakeGateways({"t": FakeTable()})
    gateways.down.add("rs1:9090")
    with pytest.raises(SourceError) as caught:
        plan_splits(source(hosts=["rs1"]), connect=gateways.connect)
    assert "Connection refused" in str(caught.value) and "transport" not in str(caught.value)


def test_a_scan_gives_up_after_its_retries_across_gateways_with_a_transport_hint() -> None:
    gateways = FakeGateways({"t": table_with_rows([], [b"a"])})
    cfg = source(hosts=["rs1", "rs2"], retries=3, backoff_s=0)
    (split,) = plan_splits(cfg, connect=gateways.connect)
    gateways.down |= {"rs1:9090", "rs2:9090"}
    with pytest.raises(SourceError, match="gave up after 3 retries .*last through rs2:9090"):
        list(read_split(cfg, split, connect=gateways.connect, sleep=lambda s: None))
    assert gateways.connects[1:] == ["rs1:9090", "rs2:9090", "rs1:9090", "rs2:9090"]


# ------------------------------------------------------------------------------------------------ puts


def rows_in(table: FakeTable) -> list[bytes]:
    return sorted(table.rows_)


def test_sink_tasks_spread_over_the_gateways() -> None:
    gateways = FakeGateways({"out": FakeTable()})
    cfg = sink(hosts=["rs1", "rs2", "rs3:9091"])
    for task in range(6):
        list(write_through(cfg, [result_batch([1])], connect=gateways.connect, task=task))
    assert Counter(gateways.connects) == {"rs1:9090": 2, "rs2:9090": 2, "rs3:9091": 2}


def test_sink_fails_over_and_resends_the_chunk_through_the_next_gateway() -> None:
    out = FakeTable()
    gateways = FakeGateways({"out": out})
    gateways.dies_after["rs1:9090"] = 4
    cfg = sink(hosts=["rs1", "rs2"], batch_size=2, backoff_s=0)
    batches: list[pa.RecordBatch] = [result_batch([1, 0, 2]), result_batch([0, 1, 1])]
    written = list(write_through(cfg, batches, connect=gateways.connect, sleep=lambda s: None))
    assert len(written) == 2
    assert len(rows_in(out)) == 3  # both batches hold the same three keys: rewritten, idempotent
    assert gateways.connects == ["rs1:9090", "rs2:9090"]
    # rs1 wrote the first batch (3 puts) and died within the next chunk; rs2 got that chunk again and the last.
    assert gateways.served == {"rs1:9090": 4, "rs2:9090": 3}


def test_sink_prepare_goes_through_any_gateway_and_keeps_its_own_errors() -> None:
    gateways = FakeGateways({})
    gateways.down.add("rs1:9090")
    with pytest.raises(SinkError, match="table 'out' does not exist"):
        prepare(sink(hosts=["rs1", "rs2"]), connect=gateways.connect)
    prepare(sink(hosts=["rs1", "rs2"], create=True), connect=gateways.connect)
    assert "out" in gateways.tables


def test_the_run_report_lists_each_gateway() -> None:
    report = RunReport(run_id="r", source="hbase", sink="parquet", master="local")
    report.gateways = gw.per_gateway({"splits:rs1:9090": 2, "rows:rs1:9090": 8, "failovers:rs2:9090": 1}, [H1, H2])
    assert report.to_dict()["gateways"] == {
        "rs1:9090": {"splits": 2, "rows": 8, "failovers": 0},
        "rs2:9090": {"splits": 0, "rows": 0, "failovers": 1},
    }
    assert "  gateway       rs2:9090: 0 splits, 0 rows, 1 failovers" in report.format_text()
