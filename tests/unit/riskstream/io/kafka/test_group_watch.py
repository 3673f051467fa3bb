from typing import Any

from riskstream.io.kafka.group_watch import (
    NO_COORDINATOR_AFTER_S,
    STUCK_AFTER_S,
    GroupWatch,
    group_stall,
)

CONNECTED = {"127.0.0.1:9092/1": {"nodeid": 1, "state": "UP"}}
GONE = {"127.0.0.1:9092/1": {"nodeid": 1, "state": "DOWN"}, "GroupCoordinator": {"nodeid": -1}}
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
