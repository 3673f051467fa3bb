"""Noticing a consumer whose group membership is stuck, so its runtime can replace it.

librdkafka 2.16 can leave a consumer out of its group for good after the broker went away.
In a fresh-clone CI run (2026-12-03), and in 1 of 6 and 1 of 8 local runs of the broker
restart under load, the scorer's session timed out during a 3 s restart ("revoking
assignment and rejoining group") and the consumer then polled nothing, with no error, until
the test gave up (690 of 3,000 records scored; its thread's stack: in ``poll``). With this
watch, the statistics showed why: the group stayed in ``query-coord`` (no coordinator found)
long after the broker was back. The same family as librdkafka issues 5456 and 5511, which
riskstream works around elsewhere. The statistics come every 5 s; a membership unsettled for
longer than its kind allows is treated as lost, and the runtime builds a new consumer: its
group protocol starts afresh, and the committed offsets say where to resume, so nothing is
lost or repeated.

A second way to lose a consumer in the same fault (statistics recorded in a failed run of
that test under load, 2026-12-05): a broker that has just restarted is fenced until it has
caught up with the cluster's metadata, and its metadata answers meanwhile list no broker.
librdkafka (2.10 on) then drops every broker it knew, and with re-bootstrap off (see
``kafka_config``) it has no address left to ask: the statistics list only the logical
``GroupCoordinator`` handle, the partitions have no leader, and nothing is fetched again,
while the group may still read ``up``/``steady`` (librdkafka issue 5301). No wait helps
there, so it counts as stuck after two statistics reports; the new consumer bootstraps from
the configured addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

# A rebalance after a broker restart settles within the 10 s session plus a few seconds
# (3-13 s in the fault tests); 40 s is three times the slowest seen. A coordinator lookup
# takes milliseconds once a broker answers: 15 s with a broker connected and no coordinator
# is three times the slowest lookup under load, and the bug's signature.
STUCK_AFTER_S = 40.0
NO_COORDINATOR_AFTER_S = 15.0
# A client with no broker address left never gets one back: two reports, 5 s apart, show
# it is not one metadata answer in passing.
NO_BROKER_KNOWN_AFTER_S = 10.0
# learned from metadata, or configured (bootstrap); the others are logical coordinator handles
ADDRESSED_SOURCES = frozenset({"learned", "configured"})
WAITING_FOR_OFFSETS = frozenset({"offset-query", "offset-wait"})


def addresses_lost(stats: Mapping[str, Any]) -> bool:
    """Whether a client's statistics list no broker it can reach by address: none learned
    from metadata, none configured (only logical coordinator handles, or nothing, since the
    internal broker is never listed)."""
    brokers = stats.get("brokers", {}).values()
    return not any(b.get("source") in ADDRESSED_SOURCES for b in brokers)


def group_stall(stats: Mapping[str, Any]) -> tuple[str, float] | None:
    """Why a group consumer's membership is not settled, from one librdkafka statistics
    report, and how long that may last before it counts as stuck; None when it is settled,
    or the client is not in a group."""
    group = stats.get("cgrp")
    if not group:
        return None
    brokers = stats.get("brokers", {}).values()
    if brokers and addresses_lost(stats):  # a report without brokers says nothing
        return "no broker address left (librdkafka dropped them all)", NO_BROKER_KNOWN_AFTER_S
    if group.get("state") != "up":
        connected = any(b.get("nodeid", -1) >= 0 and b.get("state") == "UP" for b in brokers)
        if connected:  # the cluster answers, yet no coordinator: what the bug looks like
            return f"no group coordinator (state {group.get('state')})", NO_COORDINATOR_AFTER_S
        return f"no broker connected (group state {group.get('state')})", STUCK_AFTER_S
    if group.get("join_state") != "steady":
        return f"joining the group ({group.get('join_state')})", STUCK_AFTER_S
    waiting = [
        f"{topic}[{partition}]"
        for topic, body in stats.get("topics", {}).items()
        for partition, p in body.get("partitions", {}).items()
        if partition != "-1" and p.get("desired") and p.get("fetch_state") in WAITING_FOR_OFFSETS
    ]
    if waiting:
        return f"waiting for the offsets of {', '.join(sorted(waiting)[:3])}", STUCK_AFTER_S
    return None


class GroupWatch:
    """How long the membership has been unsettled in one way, from the statistics reports."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.since: float | None = None
        self.stall: tuple[str, float] | None = None

    def observe(self, stats: Mapping[str, Any]) -> None:
        stall = group_stall(stats)
        if stall is None:
            self.since = None
        elif self.since is None or self.stall is None or self.stall[1] != stall[1]:
            self.since = self.clock()  # a stall of another kind starts its own clock
        self.stall = stall

    def stuck(self) -> str | None:
        """Why, once the membership has been unsettled longer than its kind allows."""
        if self.since is None or self.stall is None:
            return None
        why, allowed = self.stall
        lasted = self.clock() - self.since
        return f"{why} for {lasted:.0f} s" if lasted >= allowed else None

    def reset(self) -> None:
        """A new consumer: its own reports start the clock again."""
        self.since = None
        self.stall = None
