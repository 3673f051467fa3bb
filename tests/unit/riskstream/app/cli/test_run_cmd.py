"""The scorer's process plan: distinct stable instances, ports that collide with no worker."""

from __future__ import annotations

from riskstream.app.cli.run_cmd import scorer_processes
from riskstream.io.ops import WORKERS, ops_port_of


def test_instances_are_distinct_and_stable() -> None:
    plan = scorer_processes("eu", 3, None, 9400)
    assert [name for name, _ in plan] == ["eu-0", "eu-1", "eu-2"]
    assert plan == scorer_processes("eu", 3, None, 9400)  # a restart keeps transactional.ids


def test_default_ports_skip_every_workers_port() -> None:
    ports = [port for _, port in scorer_processes("0", 3, None, 9400)]
    workers = {ops_port_of(9400, w) for w in WORKERS}
    assert ports[0] == ops_port_of(9400, "scorer")
    assert len(set(ports)) == 3
    assert not set(ports[1:]) & workers


def test_an_explicit_port_counts_up_and_zero_turns_all_off() -> None:
    assert [p for _, p in scorer_processes("0", 2, 7000, 9400)] == [7000, 7001]
    assert [p for _, p in scorer_processes("0", 2, 0, 9400)] == [0, 0]
    assert [p for _, p in scorer_processes("0", 2, None, 0)] == [0, 0]
