from typing import Any

from riskstream.io.kafka.group_watch import (
    NO_BROKER_KNOWN_AFTER_S,
    NO_COORDINATOR_AFTER_S,
    STUCK_AFTER_S,
    GroupWatch,
    addresses_lost,
    group_stall,
)

COORDINATOR = {"GroupCoordinator": {"nodeid": -1, "state": "UP", "source": "logical"}}
CONNECTED = {"127.0.0.1:9092/1": {"nodeid": 1, "state": "UP", "source": "learned"}}
GONE = {
    "127.0.0.1:9092/1": {"nodeid": 1, "state": "DOWN", "source": "learned"},
    "GroupCoordinator": {"nodeid": -1, "state": "DOWN", "source": "logical"},
}
BOOTSTRAP = {"127.0.0.1:9092/bootstrap": {"nodeid": -1, "state": "INIT", "source": "configured"}}
SETTLED: dict[str, Any] = {
    "brokers": CONNECTED,
    "cgrp": {"state": "up", "join_state": "steady"},
    "topics": {"t": {"partitions": {"0": {"desired": True, "fetch_state": "active"}}}},
}


def _with(**changes: object) -> dict[str, Any]:
    return {**SETTLED, **changes}


def test_a_settled_member_and_a_client_outside_any_group_are_not_stalled() -> None:
    assert group_stall(SETTLED) is None
    assert group_stall({"topics": {}}) is None  # assign()-ed readers: no cgrp


def test_no_coordinator_with_a_broker_connected_is_the_bugs_signature_and_counts_sooner() -> None:
    lost = {"state": "query-coord", "join_state": "init"}
    stall = group_stall(_with(cgrp=lost))
    assert stall is not None and "coordinator" in stall[0]
    assert stall[1] == NO_COORDINATOR_AFTER_S < STUCK_AFTER_S
    outage = group_stall(_with(cgrp=lost, brokers=GONE))  # the broker is away: wait longer
    assert outage is not None and "no broker" in outage[0] and outage[1] == STUCK_AFTER_S


def test_joining_and_waiting_for_offsets_say_what_they_wait_for() -> None:
    joining = group_stall(_with(cgrp={"state": "up", "join_state": "wait-join"}))
    assert joining is not None and "wait-join" in joining[0] and joining[1] == STUCK_AFTER_S
    waiting = {"partitions": {"3": {"desired": True, "fetch_state": "offset-wait"}}}
    offsets = group_stall(_with(topics={"t": waiting}))
    assert offsets is not None and "t[3]" in offsets[0]
    undesired = {"partitions": {"3": {"desired": False, "fetch_state": "offset-wait"}}}
    assert group_stall(_with(topics={"t": undesired})) is None
    internal = {"partitions": {"-1": {"desired": True, "fetch_state": "offset-wait"}}}
    assert group_stall(_with(topics={"t": internal})) is None


def test_only_an_unbroken_stall_of_one_kind_for_its_whole_span_counts() -> None:
    now = [0.0]
    watch = GroupWatch(clock=lambda: now[0])
    joining = _with(cgrp={"state": "up", "join_state": "wait-join"})
    watch.observe(joining)
    now[0] = 30.0
    watch.observe(joining)
    assert watch.stuck() is None
    watch.observe(SETTLED)  # it settled: the clock starts again at the next stall
    watch.observe(joining)
    now[0] = 69.0
    assert watch.stuck() is None
    now[0] = 71.0
    stuck = watch.stuck()
    assert stuck is not None and "wait-join" in stuck and "41 s" in stuck
    watch.reset()
    assert watch.stuck() is None
    # an outage (long allowance), then the broker back with no coordinator (short one):
    # the second kind starts its own clock
    watch.observe(_with(cgrp={"state": "query-coord"}, brokers=GONE))
    now[0] = 100.0
    watch.observe(_with(cgrp={"state": "query-coord"}))
    now[0] = 114.0
    assert watch.stuck() is None
    now[0] = 116.0
    assert (stuck := watch.stuck()) is not None and "no group coordinator" in stuck


def test_a_client_left_with_no_broker_address_is_stuck_soonest_even_in_a_steady_group() -> None:
    """What librdkafka keeps after a fenced broker's metadata listed no broker (statistics
    of a failed broker-restart run, 2026-12-05): the coordinator handle only."""
    dropped = _with(brokers=COORDINATOR)
    stall = group_stall(dropped)  # the group still reads up/steady
    assert stall is not None and "no broker address" in stall[0]
    assert stall[1] == NO_BROKER_KNOWN_AFTER_S < NO_COORDINATOR_AFTER_S
    lost = group_stall(_with(brokers=COORDINATOR, cgrp={"state": "query-coord"}))
    assert lost is not None and lost[1] == NO_BROKER_KNOWN_AFTER_S
    # a new client before its first metadata answer knows its bootstrap address; a client
    # whose broker is away still knows its address: neither is this
    assert group_stall(_with(brokers=BOOTSTRAP)) is None
    assert group_stall(_with(brokers={**CONNECTED, **COORDINATOR})) is None
    away = group_stall(_with(brokers=GONE, cgrp={"state": "query-coord"}))
    assert away is not None and away[1] == STUCK_AFTER_S
    now = [0.0]
    watch = GroupWatch(clock=lambda: now[0])
    watch.observe(dropped)
    now[0] = 5.0
    watch.observe(dropped)
    assert watch.stuck() is None
    now[0] = 10.0
    assert (stuck := watch.stuck()) is not None and "no broker address" in stuck


def test_only_learned_or_configured_brokers_count_as_addresses() -> None:
    assert addresses_lost({"brokers": COORDINATOR})  # a consumer's logical handle only
    assert addresses_lost({"brokers": {}})  # a producer's: the internal broker is not listed
    assert not addresses_lost({"brokers": GONE})  # away, but its address is kept
    assert not addresses_lost({"brokers": BOOTSTRAP})
