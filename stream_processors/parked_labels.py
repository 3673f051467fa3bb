"""The joiner's grace set: labels that came before their prediction, waiting in Redis.

A parked label is the clinic's own record (its key and value, with the patient id in both), so
it is kept sealed under the patient's data key, like a dead letter
(:mod:`riskstream.io.kafka.patient_keys`): the Redis cache holds no patient id and no outcome
in the clear, and ``riskstream forget`` makes a parked label unreadable along with everything
else of the patient. Two keys per deployment:

- a sorted set ``joiner:pending`` of members ``<partition>:<offset>`` (the label's place in
  ``ground-truth``), scored by when its grace ends. The member is the same whenever the label
  is parked again (a batch that rolled back is read again), so a label waits once;
- a hash ``joiner:parked`` from the same member to what is needed to release it: the
  request id (to look for its prediction), the patient's reference, the key id and the sealed
  bytes. Parking again overwrites it, so it always names a key that was committed.

A joiner from before 2026-12-03 parked the label itself as the member (JSON, its bytes in
hex). Such a member is released when its grace ends, as it was parked, so an upgrade loses
no label; ``riskstream forget`` does not see it in those seconds.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import GROUND_TRUTH
from riskstream.io.kafka.patient_keys import PatientKeyring
from riskstream.io.redis_client import (
    RedisClient,
    as_text,
    parked_key,
    pending_key,
    prediction_key,
)
from riskstream.schemas.events import Consumed

RELEASED_PER_TICK = 500
KEY_WAIT_S = 60.0  # past its grace, how long a label waits for a key it cannot read yet
NO_TIMESTAMP = -1  # Kafka's own "none": a parked label keeps no transport timestamp


@dataclass(frozen=True, slots=True)
class ParkedLabel:
    """One label in the grace set, sealed."""

    member: str  # "<partition>:<offset>" in ground-truth
    request_id: str
    patient_ref: str
    key_id: str
    sealed: bytes
    deadline_s: float

    @property
    def legacy(self) -> bool:
        """Parked by a joiner from before sealing: the member is the label, in the clear."""
        return _legacy(self.member)

    @property
    def location(self) -> tuple[int, int]:
        if self.legacy:
            entry = json.loads(self.member)
            return int(entry["partition"]), int(entry["offset"])
        partition, offset = self.member.split(":")
        return int(partition), int(offset)

    def payload(self) -> str:
        return json.dumps(
            {
                "request_id": self.request_id,
                "patient_ref": self.patient_ref,
                "key_id": self.key_id,
                "sealed": self.sealed.hex(),
            }
        )

    @classmethod
    def of(cls, member: str, payload: bytes | str, deadline_s: float) -> ParkedLabel:
        fields = json.loads(payload)
        return cls(
            member,
            str(fields["request_id"]),
            str(fields["patient_ref"]),
            str(fields["key_id"]),
            bytes.fromhex(fields["sealed"]),
            deadline_s,
        )


def _legacy(member: str) -> bool:
    """A member parked by a joiner from before sealing (the label as JSON), not "p:o"."""
    return member.startswith("{")


def parked_label_due(deadline_s: float, now_s: float, prediction_arrived: bool) -> bool:
    """A parked label leaves the grace set when its prediction has arrived (it joins) or its
    grace has run out (it is dead-lettered as unknown)."""
    return deadline_s <= now_s or prediction_arrived


@dataclass
class ParkedLabels:
    """The grace set of one deployment, read and written through ``redis``; labels are sealed
    and opened with ``keyring``."""

    settings: ClusterSettings
    redis: RedisClient
    keyring: PatientKeyring

    def seal(
        self, consumed: Consumed, request_id: str, patient_ref: str, deadline_s: float
    ) -> ParkedLabel:
        """``consumed`` (a label) sealed for the grace set; a new patient's key is left in the
        keyring's ``unwritten``, for the caller's transaction."""
        kid, sealed = self.keyring.seal_bytes(patient_ref, consumed.key, consumed.value)
        member = f"{consumed.partition}:{consumed.offset}"
        return ParkedLabel(member, request_id, patient_ref, kid, sealed, deadline_s)

    def park(self, labels: Collection[ParkedLabel]) -> None:
        """Into the set: the payload first, so a member never lacks one."""
        if not labels:
            return
        self.redis.hset(parked_key(self.settings), mapping={p.member: p.payload() for p in labels})
        self.redis.zadd(pending_key(self.settings), {p.member: p.deadline_s for p in labels})

    def due(self, now_s: float) -> list[ParkedLabel]:
        """The parked labels whose prediction has arrived or whose grace has run out (at most
        :data:`RELEASED_PER_TICK`, the oldest first)."""
        entries = self.redis.zrange(
            pending_key(self.settings), 0, RELEASED_PER_TICK - 1, withscores=True
        )
        if not entries:
            return []
        members = [as_text(member) for member, _ in entries]
        payloads = self.redis.hmget(parked_key(self.settings), members)
        labels = []
        for member, (_, deadline), payload in zip(members, entries, payloads, strict=True):
            if _legacy(member):  # released when its grace ends, as it was parked
                labels.append(ParkedLabel(member, "", "", "", b"", float(deadline)))
            elif payload is not None:  # else another joiner released it since the range
                labels.append(ParkedLabel.of(member, payload, float(deadline)))
        waiting = [p for p in labels if p.deadline_s > now_s and not p.legacy]
        pipe = self.redis.pipeline(transaction=False)  # one round trip, not one per label
        for label in waiting:
            pipe.exists(prediction_key(self.settings, label.request_id))
        arrived = {p.member for p, found in zip(waiting, pipe.execute(), strict=True) if found}
        due = [p for p in labels if parked_label_due(p.deadline_s, now_s, p.member in arrived)]
        if any(self._unknown(p) for p in due):  # sealed by another joiner, with a new key
            self.keyring.refresh_if_reachable()  # the broker away: they wait, as below
            # Another joiner parks a label before its transaction, with the new key, commits:
            # a label whose key is not readable yet waits for it, never past KEY_WAIT_S.
            due = [p for p in due if not self._unknown(p) or now_s >= p.deadline_s + KEY_WAIT_S]
        return due

    def opened(self, label: ParkedLabel) -> Consumed | None:
        """The label as it was consumed; None (counted by the keyring) when its patient was
        forgotten meanwhile, or its key never came (:data:`KEY_WAIT_S`)."""
        if label.legacy:
            entry = json.loads(label.member)
            opened: tuple[bytes | None, bytes | None] | None = (
                bytes.fromhex(entry["key"]) or None,
                bytes.fromhex(entry["value"]),
            )
        else:
            opened = self.keyring.open_bytes(label.patient_ref, label.key_id, label.sealed)
        if opened is None:
            return None
        key, value = opened
        partition, offset = label.location
        topic = self.settings.topic(GROUND_TRUTH.name)
        return Consumed(key, value, topic, partition, offset, NO_TIMESTAMP)

    def release(self, labels: Collection[ParkedLabel]) -> None:
        """Out of the set: the member first, so a payload never lacks a reason to be kept."""
        if not labels:
            return
        members = [p.member for p in labels]
        self.redis.zrem(pending_key(self.settings), *members)
        self.redis.hdel(parked_key(self.settings), *members)

    def purge(self, refs: Collection[str]) -> int:
        """Drop every parked label of these patients (``riskstream forget``); how many."""
        doomed = [
            label
            for member, payload in self.redis.hgetall(parked_key(self.settings)).items()
            if (label := ParkedLabel.of(as_text(member), payload, 0.0)).patient_ref in refs
        ]
        self.release(doomed)
        return len(doomed)

    def _unknown(self, label: ParkedLabel) -> bool:
        return not label.legacy and not self.keyring.knows(label.patient_ref, label.key_id)
