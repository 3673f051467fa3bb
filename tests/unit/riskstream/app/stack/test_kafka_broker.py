"""The cluster id handed to Kafka's StorageTool, and the layout of a local cluster."""

import base64
from pathlib import Path

import pytest

from riskstream.app.stack.kafka_broker import (
    NodeAddress,
    cluster_bootstrap,
    cluster_id_from,
    local_nodes,
    node_addresses,
    replication_properties,
    started_nodes,
)
from riskstream.core.errors import StackError
from riskstream.core.settings import Settings


def test_an_id_whose_base64_would_start_with_a_dash_starts_with_a_letter() -> None:
    raw = bytes([0xF8]) + bytes(15)  # 111110.. is base64 digit 62, "-"
    assert base64.urlsafe_b64encode(raw).decode().startswith("-")
    cluster_id = cluster_id_from(raw)
    assert cluster_id[0].isalpha()
    assert len(cluster_id) == 22


@pytest.mark.parametrize("first", range(256))
def test_no_first_byte_gives_an_id_argparse_reads_as_an_option(first: int) -> None:
    cluster_id = cluster_id_from(bytes([first]) + bytes(range(15)))
    assert cluster_id[0] not in "-_"


def test_other_bytes_are_kept() -> None:
    raw = bytes(range(16))
    assert base64.urlsafe_b64decode(cluster_id_from(raw) + "==") == raw


def test_a_short_id_is_refused() -> None:
    with pytest.raises(StackError):
        cluster_id_from(b"short")


def test_a_cluster_steps_ports_by_two_from_the_first_address() -> None:
    nodes = node_addresses("127.0.0.1:9092", 9093, 3)
    assert [(n.node_id, n.port, n.controller_port) for n in nodes] == [
        (1, 9092, 9093),
        (2, 9094, 9095),
        (3, 9096, 9097),
    ]
    assert cluster_bootstrap(nodes) == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"


def test_a_bootstrap_that_names_every_node_places_them() -> None:
    nodes = node_addresses("h:1000, h:2000,h:3000", 5000, 3)
    assert [n.port for n in nodes] == [1000, 2000, 3000]
    assert [n.controller_port for n in nodes] == [5000, 5002, 5004]
    assert {n.host for n in nodes} == {"h"}


def test_overlapping_ports_are_refused_with_what_to_move() -> None:
    with pytest.raises(StackError) as caught:
        node_addresses("127.0.0.1:9092", 9094, 3)  # node 2's client port is 9094
    assert "RISKSTREAM_STACK_CONTROLLER_PORT" in (caught.value.hint or "")


def test_a_single_node_is_its_own_quorum_with_one_copy() -> None:
    assert node_addresses("127.0.0.1:9092", 9093, 1) == [NodeAddress(1, "127.0.0.1", 9092, 9093)]
    assert replication_properties(1)["default.replication.factor"] == "1"
    assert replication_properties(1)["min.insync.replicas"] == "1"


def test_a_single_node_stops_without_a_controlled_shutdown() -> None:
    """A lone node's controlled shutdown leaves every partition leaderless while its
    transaction coordinator still writes markers, which Kafka 4.3 then skips (KAFKA-20734)."""
    assert replication_properties(1)["controlled.shutdown.enable"] == "false"
    assert replication_properties(3)["controlled.shutdown.enable"] == "true"


def test_three_nodes_keep_three_copies_and_need_two_in_sync() -> None:
    props = replication_properties(3)
    assert props["default.replication.factor"] == "3"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"


def test_a_node_writes_every_voter_and_its_own_id(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, stack_brokers=3)
    node = local_nodes(settings)[1]
    node.write_properties()
    props = dict(
        line.split("=", 1) for line in node.properties.read_text().splitlines() if "=" in line
    )
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert node.home == (tmp_path / "kafka" / "node-2").resolve()
    assert node.libs == (tmp_path / "kafka" / "libs").resolve()
    assert node.process.pidfile.name == "kafka-2.pid"


def test_every_node_of_a_cluster_gets_the_same_cluster_id(tmp_path: Path) -> None:
    nodes = local_nodes(Settings(state_dir=tmp_path, stack_brokers=3))
    assert len({node.cluster_id() for node in nodes}) == 1


def test_down_finds_the_nodes_up_started_whatever_size_is_asked_now(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for i in (1, 2, 3):
        (run / f"kafka-{i}.pid").write_text("999999\n")
    found = started_nodes(Settings(state_dir=tmp_path))  # stack_brokers is 1 here
    assert [n.name for n in found] == ["kafka-1", "kafka-2", "kafka-3"]
    (run / "kafka.pid").write_text("999999\n")
    assert next(n.name for n in started_nodes(Settings(state_dir=tmp_path))) == "kafka"
    for pid in run.glob("*.pid"):
        pid.unlink()
    assert [n.name for n in started_nodes(Settings(state_dir=tmp_path))] == ["kafka"]
