"""The comparison paths of the throughput benchmark, run in this process:

- (a) raw: confluent-kafka consume → produce of the same bytes, no decoding: the practical
  limit of any Python consumer on this machine;
- (b) naive: what a typical hand-written service does: poll one record, decode, validate,
  predict, encode, produce, one at a time.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from riskstream.core.ids import new_id, now_ms
from riskstream.core.pseudonyms import patient_ref, pseudonym_key
from riskstream.core.settings import Settings
from riskstream.core.topics import PATIENT_RECORDS
from riskstream.io.kafka.clients import codec_for
from riskstream.models.features import records_to_frame
from riskstream.models.registry import CHAMPION, Registry
from riskstream.schemas.patient_record import validate_record


def plain_topic(
    settings: Settings, stem: str, partitions: int = 6, *, append_time: bool = False
) -> str:
    """A topic outside the catalog. ``append_time``: the broker stamps each record as it
    appends it (LogAppendTime), for an output whose writer may copy its input's timestamps,
    as Quix Streams does; a rate read from those would be the input's."""
    name = settings.topic(stem)
    admin = AdminClient(settings.kafka_config())
    config = {"message.timestamp.type": "LogAppendTime"} if append_time else {}
    for future in admin.create_topics([NewTopic(name, partitions, 1, config=config)]).values():
        try:
            future.result()
        except Exception as exc:  # already there from an earlier run: fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    # created is not yet listed: a reader asking at once was told "topic not found" (the
    # CI run of 2026-12-02, under load); wait until the metadata has all its partitions
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = admin.list_topics(name, timeout=5).topics.get(name)
        if listed is not None and listed.error is None and len(listed.partitions) == partitions:
            break
        time.sleep(0.2)
    return name


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        settings.kafka_config(
            {
                "group.id": f"bench-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.max.bytes": 8 * 1024 * 1024,
            }
        )
    )


def raw_passthrough(settings: Settings, out: str, count: int, timeout: float = 300) -> None:
    consumer = _consumer(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 5}))
    consumer.subscribe([settings.topic(PATIENT_RECORDS.name)])
    done, deadline = 0, time.monotonic() + timeout
    while done < count and time.monotonic() < deadline:
        for m in consumer.consume(500, 0.05):
            if m.error():
                continue
            producer.produce(out, key=m.key(), value=m.value())
            done += 1
        producer.poll(0)
        consumer.commit(asynchronous=True)
    producer.flush(30)
    consumer.close()


def naive_scorer(settings: Settings, out: str, count: int, timeout: float = 300) -> None:
    codec = codec_for(settings)
    model = Registry(settings).load(CHAMPION)
    key = pseudonym_key(settings)
    consumer = _consumer(settings)
    producer = Producer(settings.kafka_config())
    consumer.subscribe([settings.topic(PATIENT_RECORDS.name)])
    done, deadline = 0, time.monotonic() + timeout
    while done < count and time.monotonic() < deadline:
        m = consumer.poll(0.1)
        if m is None or m.error():
            continue
        record = codec.decode(m.value(), "PatientRecord")
        if validate_record(record) is None:
            features = model.pipeline.transform(records_to_frame([record]))
            risk = float(model.risk(features)[0])
            contributions = model.contributions(features, top=3)[0]
            prediction = {
                "prediction_id": new_id(),
                "request_id": record["request_id"],
                "patient_ref": patient_ref(key, record["patient_id"]),
                "event_time": record["event_time"],
                "scored_at": now_ms(),
                "model_name": settings.model_name,
                "model_version": model.version,
                "risk": risk,
                "label": int(risk >= model.threshold),
                "threshold": model.threshold,
                "latency_ms": 0.0,
                "features": dict(zip(model.feature_names, map(float, features[0]), strict=True)),
                "contributions": [{"feature": f, "value": v} for f, v in contributions],
                "source_partition": m.partition() or 0,
                "source_offset": m.offset() or 0,
            }
            producer.produce(
                out, key=prediction["patient_ref"], value=codec.encode("Prediction", prediction)
            )
            producer.poll(0)
        consumer.commit(message=m, asynchronous=False)  # one record, one commit
        done += 1
    producer.flush(30)
    consumer.close()
