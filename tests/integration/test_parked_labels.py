"""The joiner's grace set against the real broker and Redis: a label parked again replaces
itself; a joiner that meets a label sealed under a key it cannot read yet (another joiner's,
in a transaction not yet committed) waits for the key instead of dropping the label; a
forgotten patient's label no longer opens."""

from __future__ import annotations

import json
import time

import pytest

from riskstream.core.settings import Settings
from riskstream.core.topics import GROUND_TRUTH, PATIENT_KEYS
from riskstream.io.kafka.clients import publish_events
from riskstream.io.kafka.patient_keys import PatientKeyring
from riskstream.io.redis_client import connect, parked_key, pending_key, prediction_key
from riskstream.schemas.events import Consumed
from riskstream.stream_processors.parked_labels import ParkedLabels

pytestmark = pytest.mark.integration
DEPLOYMENT = {"stem": "pk", "topics": True, "topic_partitions": 1}


def _label(settings: Settings, offset: int) -> Consumed:
    topic = settings.topic(GROUND_TRUTH.name)
    return Consumed(b"p-1", b"the clinic's bytes for p-1", topic, 0, offset, 0)


def test_a_label_waits_for_a_key_it_cannot_read_yet_and_opens_once_it_commits(
    deployment: Settings,
) -> None:
    redis = connect(deployment)
    sealing = ParkedLabels(deployment, redis, PatientKeyring(deployment))
    deadline = time.time() + 60
    first = sealing.seal(_label(deployment, 7), "rq-7", "ref-1", deadline)
    sealing.keyring.discard_unwritten()  # that batch rolled back: sealed again, new key
    again = sealing.seal(_label(deployment, 7), "rq-7", "ref-1", deadline)
    assert again.key_id != first.key_id
    sealing.park([first])
    sealing.park([again])
    assert redis.zcard(pending_key(deployment)) == redis.hlen(parked_key(deployment)) == 1
    assert b"p-1" not in b"".join(redis.hvals(parked_key(deployment)))

    other = ParkedLabels(deployment, redis, PatientKeyring(deployment).load())
    assert other.due(time.time()) == []  # no prediction yet, grace not over
    redis.set(prediction_key(deployment, "rq-7"), b"cached")
    # its prediction is here, but the key's transaction has not committed: it waits
    assert other.due(time.time()) == []
    (key,) = sealing.keyring.unwritten
    publish_events(deployment, PATIENT_KEYS.name, [(f"ref-1:{key.key_id}".encode(), key)])
    sealing.keyring.written()
    (due,) = other.due(time.time())  # the refresh found the committed key
    opened = other.opened(due)
    assert opened is not None and opened.value == b"the clinic's bytes for p-1"
    assert opened.key == b"p-1" and (opened.partition, opened.offset) == (0, 7)
    other.release([due])
    assert redis.zcard(pending_key(deployment)) == redis.hlen(parked_key(deployment)) == 0

    other.keyring.forgotten["ref-1"] = int(time.time() * 1000)  # as `riskstream forget` does
    other.keyring.keys.pop("ref-1")
    assert other.opened(due) is None and other.keyring.stats.unreadable == 1


def test_a_label_parked_by_a_joiner_from_before_sealing_is_released_as_it_was(
    deployment: Settings,
) -> None:
    """An upgrade finds members that are the labels themselves (JSON, bytes in hex): each
    leaves when its grace ends, with the bytes it came with."""
    redis = connect(deployment)
    member = json.dumps(
        {"value": b"old label bytes".hex(), "key": b"p-9".hex(), "partition": 0, "offset": 3}
    )
    redis.zadd(pending_key(deployment), {member: time.time() + 1.5})
    parked = ParkedLabels(deployment, redis, PatientKeyring(deployment))
    assert parked.due(time.time()) == []  # its grace is not over
    (due,) = parked.due(time.time() + 2)
    opened = parked.opened(due)
    assert opened is not None and opened.value == b"old label bytes" and opened.key == b"p-9"
    assert (opened.partition, opened.offset) == (0, 3)
    parked.release([due])
    assert redis.zcard(pending_key(deployment)) == 0
