"""The scorer as a Bytewax dataflow, one of the peers of ``bench.throughput``.

The same work as ``riskstream.stream_processors.scorer`` (``score_batch``: decode, validate,
features, predict, top-3 explanation, encode), on each batch Bytewax's Kafka input hands the
dataflow (``flat_map_batch``, up to 500 messages, as the scorer's own batches). Delivery:
Bytewax's Kafka sink is not transactional, and without a recovery store (none here, as in
Bytewax's quick start) a restarted dataflow starts its input again from the beginning, so a
crash can repeat predictions: at least once, not exactly once.

It runs in the peers' virtual environment (``make peers``) and loads the champion's bundle
from the file the benchmark names, not through MLflow.

    python -m bench.peers.bytewax_scorer IN_TOPIC OUT_TOPIC APP_ID BUNDLE
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.run import cli_main

from riskstream.core.pseudonyms import pseudonym_key
from riskstream.core.settings import load_settings
from riskstream.io.kafka.clients import codec_for
from riskstream.models.bundle import ScoringModel
from riskstream.schemas.events import Consumed
from riskstream.stream_processors.scoring import score_batch


def dataflow(in_topic: str, out_topic: str, app_id: str, bundle: str) -> Dataflow:
    settings = load_settings()
    ref_key = pseudonym_key(settings)  # the scorer's per-record pseudonym work too
    codec = codec_for(settings)
    model = ScoringModel.load(Path(bundle))
    brokers = settings.kafka_bootstrap.split(",")

    def score(messages: list[Any]) -> list[Any]:  # KafkaSourceMessage → KafkaSinkMessage
        records = [
            Consumed(
                m.key, m.value, m.topic or in_topic, m.partition or 0, m.offset or 0,
                m.timestamp[1] if m.timestamp else 0,
            )
            for m in messages
        ]  # fmt: skip
        scored = score_batch(records, model, codec, settings.model_name, pseudonym_key=ref_key)
        return [KafkaSinkMessage(key, value) for key, value, _ in scored.encoded(codec)[0]]

    flow = Dataflow(app_id)
    records = kop.input("records", flow, brokers=brokers, topics=[in_topic], batch_size=500)
    predictions = op.flat_map_batch("score", records.oks, score)
    kop.output("predictions", predictions, brokers=brokers, topic=out_topic)
    return flow


if __name__ == "__main__":
    cli_main(dataflow(*sys.argv[1:5]), workers_per_process=1)
