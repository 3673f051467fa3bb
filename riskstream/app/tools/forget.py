"""``riskstream forget``: erase one patient, as far as Kafka's append-only log allows.

The patient's feature values at rest (labeled examples) are sealed under data keys kept only
in ``patient-keys``; forgetting destroys those keys (tombstones, then the log cleaner), so
nothing sealed under them can be read again, and retraining, the online learner and the
backtest skip what was. The joiner's Redis cache of the patient is deleted, and the request
is recorded on the ``audit`` topic with the patient's references, never the id. What stays
readable until its retention ends is stated in the README ("Patient data").
"""

from __future__ import annotations

from dataclasses import dataclass

from riskstream.core.pseudonyms import patient_ref, previous_keys, pseudonym_key
from riskstream.core.worker_slices import LabelJoinerSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.model_events import default_actor, publish_audit
from riskstream.io.kafka.patient_keys import PatientKeyring, forget_patient
from riskstream.io.redis_client import CACHED_AT, as_text, connect, prediction_key, shadow_key
from riskstream.schemas import CodecError
from riskstream.schemas.events import AuditEvent, Prediction
from riskstream.stream_processors.parked_labels import ParkedLabels


@dataclass(frozen=True)
class Erasure:
    refs: tuple[str, ...]  # the patient's references, under the current and previous keys
    keys_destroyed: int
    cache_entries: int  # joiner cache entries deleted


def forget(settings: LabelJoinerSettings, patient_id: str, reason: str, actor: str = "") -> Erasure:
    """Destroy the patient's data keys, purge the joiner's cache of them and audit it."""
    keys = [pseudonym_key(settings), *previous_keys(settings)]
    refs = tuple(dict.fromkeys(patient_ref(key, patient_id) for key in keys))
    destroyed = sum(forget_patient(settings, ref) for ref in refs)
    purged = purge_joiner_cache(settings, frozenset(refs))
    publish_audit(
        settings,
        AuditEvent.record(
            actor or default_actor(),
            "forget",
            settings.model_name,
            None,
            reason,
            patient_refs=",".join(refs),
            keys_destroyed=str(destroyed),
            cache_entries_deleted=str(purged),
        ),
    )
    return Erasure(refs, destroyed, purged)


def purge_joiner_cache(settings: LabelJoinerSettings, refs: frozenset[str]) -> int:
    """Delete what the joiner's cache holds of one patient, by reference: predictions waiting
    for their label with their shadow scores, and parked labels. Returns how many entries
    went. A scan of the cache: a rare, manual command, so the joiner keeps no per-patient
    index on its hot path."""
    redis, codec = connect(settings), codec_for(settings)
    doomed: list[str] = []
    for key in redis.scan_iter(match=prediction_key(settings, "*"), count=1000):
        hit = redis.get(key)
        if hit is None:
            continue
        try:
            prediction = codec.decode_event(hit[CACHED_AT.size :], Prediction)
        except CodecError:
            continue
        if prediction.patient_ref in refs:
            doomed += [as_text(key), shadow_key(settings, prediction.request_id)]
    purged = int(redis.delete(*doomed)) if doomed else 0
    return purged + ParkedLabels(settings, redis, PatientKeyring(settings)).purge(refs)
