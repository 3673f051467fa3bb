"""The patients' data keys, kept in the compacted ``patient-keys`` topic: where the joiner
seals feature values, where the trainer, the online learner and the backtest open them, and
where ``riskstream forget`` destroys them.

Each record is keyed ``<patient_ref>:<key_id>`` and holds the data key wrapped by the
key-encryption key (:mod:`riskstream.core.patient_crypto`), so the topic alone reveals
nothing, and the keys outlive Redis restarts with no new service. Two joiners that meet a new
patient at once make two keys; both are kept, and each sealed value names its own. Forgetting
a patient writes a tombstone for each of its keys and a ``<patient_ref>:forgotten`` marker
that holds no key: once the log cleaner has run (``segment.ms`` and ``max.compaction.lag.ms``
of one day on the topic), the keys are physically gone, and the marker tells replays and
backtests which records to skip.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from riskstream.core.errors import ServiceUnavailableError
from riskstream.core.ids import now_ms
from riskstream.core.local_secrets import local_secret
from riskstream.core.patient_crypto import (
    SealError,
    key_encryption_key,
    key_id,
    new_data_key,
    open_features,
    open_original,
    seal_features,
    seal_original,
    unwrap_key,
    wrap_key,
)
from riskstream.core.pseudonyms import keyed_ref, patient_ref, pseudonym_key
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import PATIENT_KEYS
from riskstream.io.kafka.clients import DeliveryTally, codec_for
from riskstream.io.kafka.contract import Output
from riskstream.io.kafka.dead_letter import record_source
from riskstream.io.kafka.factory import idempotent_producer, reader
from riskstream.io.kafka.reading import partitions_of, watermarks
from riskstream.schemas import CodecError
from riskstream.schemas.events import DeadLetter, LabeledExample, PatientKey

log = logging.getLogger(__name__)
T = TypeVar("T")
KEK_FILE = "key-encryption.key"
KEYS_HELD = 100_000  # a map of this shape: 51 MiB of Python objects (534 B each, tracemalloc)
FOLLOW_S = 10.0  # how soon a running joiner or learner drops a forgotten patient's keys
FORGOTTEN = "forgotten"


def kek_for(settings: ClusterSettings) -> bytes:
    """The deployment's key-encryption key (RISKSTREAM_KEY_ENCRYPTION_KEY, or the local
    stack's)."""
    secret = local_secret(
        settings, settings.key_encryption_key, KEK_FILE, "RISKSTREAM_KEY_ENCRYPTION_KEY"
    )
    return key_encryption_key(secret)


@dataclass
class KeyringStats:
    keys_made: int = 0
    unreadable: int = 0  # sealed values whose key is gone (forgotten) or was never seen


@dataclass
class PatientKeyring:
    """This process's view of ``patient-keys``: read at :meth:`load`, followed by
    :meth:`refresh`; the keys it makes (:meth:`key_for`) its owner writes."""

    settings: ClusterSettings
    # ref → key id → key, the patients seen last (a deployment meets millions of patients:
    # a joiner that misses one makes it another key, and each sealed value names its own)
    keys: OrderedDict[str, dict[str, bytes]] = field(default_factory=OrderedDict)
    capacity: int = KEYS_HELD
    # only these patients' keys are kept (a trainer opening a range of examples)
    wanted: frozenset[str] | None = None
    forgotten: dict[str, int] = field(default_factory=dict)  # ref → forgotten at (ms)
    stats: KeyringStats = field(default_factory=KeyringStats)
    unwritten: list[PatientKey] = field(default_factory=list)  # made, not yet committed

    def __post_init__(self) -> None:
        self._kek: bytes | None = None
        self._consumer: Consumer | None = None
        self._read_at = float("-inf")
        self._codec = codec_for(self.settings)
        self._topic = self.settings.topic(PATIENT_KEYS.name)

    def load(self, idle_s: float = 1.0) -> PatientKeyring:
        """Read the topic from where this keyring last stopped to its end (one reader kept
        for the keyring's life: a refresh when caught up costs a watermark request)."""
        self._key()
        consumer = self._reader()
        parts = [TopicPartition(self._topic, p) for p in partitions_of(consumer, self._topic)]
        ends = {tp.partition: watermarks(consumer, tp) for tp in parts}
        quiet = self._read_at = time.monotonic()
        while self._behind(consumer, ends) and time.monotonic() - quiet < idle_s:
            for message in consumer.consume(500, 0.2):
                if message.error() is None:
                    quiet = time.monotonic()
                    self._apply(message.key(), message.value())
        return self

    refresh = load

    def follow(self, every_s: float = FOLLOW_S) -> None:
        """Refresh at most every ``every_s``: a long-running holder applies the tombstones of
        forgotten patients, so it stops sealing or opening with their keys within that. A
        broker that is away (restarting) delays the refresh, and never ends the worker."""
        if time.monotonic() - self._read_at >= every_s:
            self.refresh_if_reachable(every_s)

    def refresh_if_reachable(self, retry_s: float = FOLLOW_S) -> bool:
        """:meth:`refresh`; False, said in the log, when the broker is away (restarting): the
        keys held stay, and a worker's tick must not end for it."""
        try:
            self.refresh()
        except KafkaException as exc:
            self._read_at = time.monotonic()
            log.warning(
                "patient keys: could not read %s (%s); trying again in %.0f s",
                self._topic,
                exc,
                retry_s,
            )
            return False
        return True

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def key_for(self, patient_ref: str) -> tuple[str, bytes]:
        """The patient's newest data key (id, key). A new one is held in :attr:`unwritten`
        until the caller writes it in the same transaction as what it sealed, and calls
        :meth:`written`; :meth:`discard_unwritten` forgets keys whose transaction aborted."""
        held = self.keys.get(patient_ref)
        if held:
            self.keys.move_to_end(patient_ref)
            kid = next(reversed(held))
            return kid, held[kid]
        data_key = new_data_key()
        kid = key_id(data_key)
        wrapped = wrap_key(self._key(), patient_ref, data_key)
        self.unwritten.append(PatientKey(patient_ref, kid, wrapped, now_ms()))
        self._hold(patient_ref, kid, data_key)
        return kid, data_key

    def written(self) -> None:
        """The unwritten keys have committed."""
        self.stats.keys_made += len(self.unwritten)
        self.unwritten.clear()

    def discard_unwritten(self) -> None:
        """Forget keys made for a batch that did not commit: it is sealed anew."""
        for record in self.unwritten:
            self._drop(record.patient_ref, record.key_id)
        self.unwritten.clear()

    def seal(self, example: LabeledExample) -> LabeledExample:
        """``example`` with its features sealed under its patient's key."""
        kid, data_key = self.key_for(example.patient_ref)
        sealed = seal_features(data_key, example.patient_ref, example.features)
        return _replace(example, features={}, features_key_id=kid, sealed_features=sealed)

    def seal_letter(self, letter: DeadLetter, pseudonym: bytes) -> DeadLetter:
        """``letter`` with its original key and value sealed under the data key of the patient
        its key names (the clinics' topics are keyed by patient id); an input with no key gets
        a key of its own, which only retention ends. Its clinic is read first, for the
        monitor's segments."""
        key = letter.original_key
        ref = keyed_ref(pseudonym, key) or f"letter-{letter.dead_letter_id}"
        kid, sealed = self.seal_bytes(ref, key, letter.original_value)
        return _replace(
            letter,
            original_key=None,
            original_value=None,
            patient_ref=ref,
            original_key_id=kid,
            sealed_original=sealed,
            source=letter.source or record_source(self._codec, letter.original_value),
        )

    def seal_bytes(self, ref: str, key: bytes | None, value: bytes | None) -> tuple[str, bytes]:
        """A message's key and value, byte for byte, sealed under ``ref``'s data key: (key
        id, sealed)."""
        kid, data_key = self.key_for(ref)
        return kid, seal_original(data_key, ref, key, value)

    def open_bytes(
        self, ref: str, kid: str | None, sealed: bytes
    ) -> tuple[bytes | None, bytes | None] | None:
        """The key and value :meth:`seal_bytes` sealed; None (counted) if the key is gone."""
        return self._opened(ref, kid, sealed, open_original)

    def open_letter(self, letter: DeadLetter) -> DeadLetter | None:
        """``letter`` with its original readable; None (counted) if its key is gone. A letter
        written unsealed is returned as it is."""
        if letter.sealed_original is None:
            return letter
        opened = self.open_bytes(
            letter.patient_ref or "", letter.original_key_id, letter.sealed_original
        )
        if opened is None:
            return None
        key, value = opened
        return _replace(letter, original_key=key, original_value=value, sealed_original=None)

    def open(self, example: LabeledExample) -> LabeledExample | None:
        """``example`` with its features readable; None (counted) if its key is gone. An
        example written before sealing is returned as it is."""
        if example.sealed_features is None:
            return example
        ref, sealed = example.patient_ref, example.sealed_features
        features = self._opened(ref, example.features_key_id, sealed, open_features)
        if features is None:
            return None
        return _replace(example, features=features, sealed_features=None)

    def _opened(
        self,
        ref: str,
        kid: str | None,
        sealed: bytes,
        opener: Callable[[bytes, str, bytes], T],
    ) -> T | None:
        """What ``opener`` finds in ``sealed`` under the patient's key ``kid``; None, counted,
        when that key is gone or does not open it."""
        data_key = self.keys.get(ref, {}).get(kid or "")
        if data_key is not None:
            try:
                return opener(data_key, ref, sealed)
            except SealError:
                pass
        self.stats.unreadable += 1
        return None

    def open_all(self, examples: Iterable[LabeledExample]) -> list[LabeledExample]:
        """The examples whose features can be read, opened; a key this keyring has not seen
        yet (a patient newer than its last read) is looked for once, by a refresh."""
        batch = list(examples)
        if any(self._unknown(e) for e in batch):
            self.refresh()
        return [opened for e in batch if (opened := self.open(e)) is not None]

    def knows(self, ref: str, kid: str | None) -> bool:
        """Whether this keyring can tell what a value sealed under ``ref``'s key ``kid`` is:
        it holds the key, or the patient is forgotten. Else the key is newer than its last
        read (another writer's), and a refresh may find it."""
        return (kid or "") in self.keys.get(ref, {}) or ref in self.forgotten

    def _unknown(self, example: LabeledExample) -> bool:
        sealed = example.sealed_features is not None
        return sealed and not self.knows(example.patient_ref, example.features_key_id)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        ref, _, kid = (key or b"").decode(errors="replace").rpartition(":")
        if value is None:  # a tombstone
            self._drop(ref, kid)
            return
        try:
            record = self._codec.decode_event(value, PatientKey)
        except CodecError:
            log.warning("patient-keys: an undecodable record was skipped")
            return
        if record.forgotten:
            self.forgotten[ref] = max(self.forgotten.get(ref, 0), record.event_time)
            return
        if self.wanted is not None and record.patient_ref not in self.wanted:
            return
        try:
            data_key = unwrap_key(self._key(), record.patient_ref, record.wrapped_key)
        except SealError:
            log.warning(
                "patient-keys: a key did not open under RISKSTREAM_KEY_ENCRYPTION_KEY; "
                "is it the deployment's?"
            )
            return
        self._hold(record.patient_ref, record.key_id, data_key)

    def _drop(self, patient_ref: str, kid: str) -> None:
        held = self.keys.get(patient_ref, {})
        held.pop(kid, None)
        if not held:
            self.keys.pop(patient_ref, None)

    def _hold(self, patient_ref: str, kid: str, data_key: bytes) -> None:
        self.keys.setdefault(patient_ref, {})[kid] = data_key
        self.keys.move_to_end(patient_ref)
        while len(self.keys) > self.capacity:
            self.keys.popitem(last=False)

    def _reader(self) -> Consumer:
        if self._consumer is None:
            self._consumer = reader(self.settings)
            parts = partitions_of(self._consumer, self._topic)
            self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in parts])
        return self._consumer

    def _behind(self, consumer: Consumer, ends: dict[int, tuple[int, int]]) -> bool:
        """Whether a partition's position is short of its end (a transaction's commit
        marker is stepped past, never handed over); with no position yet, its start."""
        asked = [TopicPartition(self._topic, p) for p in ends]
        return any(
            (tp.offset if tp.offset >= 0 else ends[tp.partition][0]) < ends[tp.partition][1]
            for tp in consumer.position(asked)
        )

    def _key(self) -> bytes:
        if self._kek is None:
            self._kek = kek_for(self.settings)
        return self._kek


def patient_key_output(record: PatientKey) -> Output[PatientKey]:
    """A new data key, to write in the transaction of what was sealed under it."""
    return Output(PATIENT_KEYS, f"{record.patient_ref}:{record.key_id}".encode(), record)


class ForgottenPatients:
    """Who was forgotten, and when (the markers of ``patient-keys``; no key is held): what a
    backtest or a replay of the clinics' own topics, which hold ids, must leave out."""

    def __init__(self, at: dict[str, int], key: bytes) -> None:
        self.at = at  # reference → forgotten at (ms)
        self._key = key  # the pseudonym key: a record keyed by a patient id is looked up too

    @classmethod
    def read(cls, settings: ClusterSettings) -> ForgottenPatients:
        """The deployment's markers, read from ``patient-keys`` now."""
        keyring = PatientKeyring(settings, wanted=frozenset())
        try:
            at = dict(keyring.load().forgotten)
        finally:
            keyring.close()
        return cls(at, pseudonym_key(settings) if at else b"")

    def __bool__(self) -> bool:
        return bool(self.at)

    def holds(self, key: str, event_time: int) -> bool:
        """Whether a record of ``key`` (a patient id, or a reference) from ``event_time``
        predates the erasure of its patient."""
        if not self.at:
            return False
        at = self.at.get(key) or self.at.get(patient_ref(self._key, key))
        return at is not None and event_time <= at


def forget_patient(settings: ClusterSettings, patient_ref: str) -> int:
    """Tombstone every data key of the patient (the whole topic is read for them, whichever
    process made them) and mark the patient forgotten now; returns how many keys were
    destroyed."""
    keyring = PatientKeyring(settings, wanted=frozenset({patient_ref}))
    try:
        destroyed = list(keyring.load().keys.get(patient_ref, {}))
    finally:
        keyring.close()
    topic = settings.topic(PATIENT_KEYS.name)
    producer = idempotent_producer(settings, {"linger.ms": 0})
    tally = DeliveryTally()
    for kid in destroyed:
        producer.produce(topic, key=f"{patient_ref}:{kid}".encode(), on_delivery=tally)
    marker = PatientKey(patient_ref, "", b"", now_ms(), forgotten=True)
    value = codec_for(settings).encode_event(marker)
    key = f"{patient_ref}:{FORGOTTEN}".encode()
    producer.produce(topic, key=key, value=value, on_delivery=tally)
    remaining = producer.flush(30)
    if remaining or tally.failed:
        raise ServiceUnavailableError(
            "the patient's keys could not be destroyed",
            topic=topic,
            undelivered=remaining,
            errors="; ".join(tally.errors),
            hint="is Kafka up? `riskstream stack status`; then run the command again",
        )
    return len(destroyed)


E = TypeVar("E", LabeledExample, DeadLetter)


def _replace(event: E, **changes: Any) -> E:
    return dataclasses.replace(event, **changes)
