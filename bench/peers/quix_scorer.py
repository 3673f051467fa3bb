"""The scorer as a Quix Streams application, one of the peers of ``bench.throughput``.

The same work per record as ``riskstream.stream_processors.scorer`` (``score_batch``: decode,
validate, features, predict, top-3 explanation, encode), called the way Quix Streams runs
user code: one message at a time through a ``StreamingDataFrame`` (its API has no batch of
messages across keys). Delivery: Quix's own ``processing_guarantee="exactly-once"`` (Kafka
transactions, committed every ``commit_interval``), the scorer's guarantee.

It runs in the peers' virtual environment (``make peers``: Quix Streams pins a
confluent-kafka older than riskstream's), and loads the champion's bundle from the file the
benchmark names, not through MLflow.

    python -m bench.peers.quix_scorer IN_TOPIC OUT_TOPIC APP_ID BUNDLE
"""

from __future__ import annotations

import sys
from pathlib import Path

from quixstreams import Application, message_context

from riskstream.core.pseudonyms import pseudonym_key
from riskstream.core.settings import load_settings
from riskstream.io.kafka.clients import codec_for
from riskstream.models.bundle import ScoringModel
from riskstream.schemas.events import Consumed
from riskstream.stream_processors.scoring import score_batch


def main(in_topic: str, out_topic: str, app_id: str, bundle: str) -> None:
    settings = load_settings()
    ref_key = pseudonym_key(settings)  # the scorer's per-record pseudonym work too
    codec = codec_for(settings)
    model = ScoringModel.load(Path(bundle))
    app = Application(
        broker_address=settings.kafka_bootstrap,
        consumer_group=app_id,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        state_dir=str((settings.state_dir / "quix" / app_id).resolve()),
        use_changelog_topics=False,  # a stateless application: no state to change-log
        loglevel="WARNING",
    )
    source = app.topic(in_topic, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(out_topic, key_serializer="bytes", value_serializer="bytes")

    def score(value: bytes, key: bytes, timestamp: int, headers: object) -> bytes | None:
        where = message_context()
        record = Consumed(key, value, where.topic, where.partition, where.offset, timestamp)
        scored = score_batch([record], model, codec, settings.model_name, pseudonym_key=ref_key)
        served, _ = scored.encoded(codec)
        return served[0][1] if served else None

    sdf = app.dataframe(source).apply(score, metadata=True)
    sdf = sdf.filter(lambda value: value is not None)
    sdf.to_topic(sink)
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:5])
