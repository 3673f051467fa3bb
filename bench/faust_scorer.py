"""The scorer as a faust-streaming agent, for the measured Faust vs confluent-kafka choice.

Same work per record as ``riskstream.stream_processors.scorer`` (``score_batch``: decode, validate,
features, predict, explanations, encode), batched with ``take_events``; predictions go out
through Faust's producer with at-least-once acknowledgement (Faust's exactly-once mode
would need a transactional producer per partition, which costs more still).

    python -m bench.faust_scorer IN_TOPIC OUT_TOPIC APP_ID
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import faust

from riskstream.core.pseudonyms import pseudonym_key
from riskstream.core.settings import load_settings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.faust_worker import records_of
from riskstream.models.registry import CHAMPION, Registry
from riskstream.stream_processors.scoring import score_batch


def main(in_topic: str, out_topic: str, app_id: str) -> None:
    settings = load_settings()
    ref_key = pseudonym_key(settings)  # the scorer's per-record pseudonym work too
    codec = codec_for(settings)
    model = Registry(settings).load(CHAMPION)
    datadir = (settings.state_dir / "faust" / app_id).resolve()  # not the working dir
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
        stream_buffer_maxsize=8192,
        datadir=str(datadir),
    )
    source = app.topic(in_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    sink = app.topic(out_topic, key_type=bytes, value_type=bytes, value_serializer="raw")

    @app.agent(source)
    async def score(stream: Any) -> None:  # a faust Stream; its stub lacks take_events
        async for events in stream.take_events(500, within=0.05):
            batch = score_batch(
                records_of(events), model, codec, settings.model_name, pseudonym_key=ref_key
            )
            for key, value, _ in batch.encoded(codec)[0]:
                await sink.send(key=key, value=value)

    logging.basicConfig(level=logging.WARNING)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(*sys.argv[1:4])
