"""The Kafka client profiles: what each sets."""

import pytest
from confluent_kafka import OFFSET_END, TopicPartition

from riskstream.core.settings import Settings
from riskstream.io.kafka.clients import next_batch, start_offsets
from riskstream.io.kafka.contract import Cadence
from riskstream.io.kafka.factory import transactional_config
from tests.unit.riskstream.io.kafka.fakes import FakeConsumer, FakeMessage, kafka_error


def test_the_id_is_stable_per_deployment_group_and_instance() -> None:
    settings = Settings(topic_prefix="acme.")
    config = transactional_config(settings, "riskstream-scorer", "2")
    assert config["transactional.id"] == "acme.riskstream-scorer-2"
    assert config["bootstrap.servers"] == settings.kafka_bootstrap


def test_a_worker_override_wins() -> None:
    config = transactional_config(Settings(), "g", "0", {"linger.ms": 50})
    assert config["linger.ms"] == 50


# -- the other profiles, and that no client is made anywhere else ---------------------------


def test_each_profile_sets_what_its_use_needs() -> None:
    from riskstream.io.kafka.factory import group_config, idempotent_config, reader_config

    settings = Settings(topic_prefix="acme.")
    group = group_config(settings, "riskstream-joiner")
    assert group["group.id"] == "acme.riskstream-joiner"
    assert group["enable.auto.commit"] is False and group["isolation.level"] == "read_committed"
    assert idempotent_config(settings)["enable.idempotence"] is True
    one, two = reader_config(settings), reader_config(settings)
    assert one["group.id"] != two["group.id"]  # never shares, so never rebalances a group
    assert one["enable.auto.commit"] is False and one["isolation.level"] == "read_committed"
    assert (
        reader_config(settings, {"isolation.level": "read_uncommitted"})["isolation.level"]
        == "read_uncommitted"
    )


def test_a_group_consumer_prefetches_little_unless_the_deployment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskstream.io.kafka.factory import PREFETCH_KBYTES, group_config

    assert group_config(Settings(), "g")["queued.max.messages.kbytes"] == PREFETCH_KBYTES
    assert PREFETCH_KBYTES < 65536  # librdkafka's default, which a lagging worker keeps full
    monkeypatch.setenv("RISKSTREAM_KAFKA_QUEUED_MAX_MESSAGES_KBYTES", "32768")
    assert group_config(Settings(), "g")["queued.max.messages.kbytes"] == "32768"


def test_a_full_prefetch_queue_is_fetched_again_within_10_ms_unless_the_deployment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskstream.io.kafka.factory import group_config

    assert group_config(Settings(), "g")["fetch.queue.backoff.ms"] == 10
    monkeypatch.setenv("RISKSTREAM_KAFKA_FETCH_QUEUE_BACKOFF_MS", "1000")
    assert group_config(Settings(), "g")["fetch.queue.backoff.ms"] == "1000"


def test_a_transaction_refused_while_the_last_one_completes_is_asked_again_after_5_ms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskstream.io.kafka.factory import transactional_config

    config = transactional_config(Settings(), "g", "0")
    assert config["retry.backoff.ms"] == 5 and config["transactional.id"] == "g-0"
    monkeypatch.setenv("RISKSTREAM_KAFKA_RETRY_BACKOFF_MS", "100")
    assert transactional_config(Settings(), "g", "0")["retry.backoff.ms"] == "100"


def test_a_dead_group_member_is_noticed_in_10_s_unless_the_deployment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskstream.io.kafka.factory import group_config

    assert group_config(Settings(), "g")["session.timeout.ms"] == 10_000
    monkeypatch.setenv("RISKSTREAM_KAFKA_SESSION_TIMEOUT_MS", "45000")
    assert group_config(Settings(), "g")["session.timeout.ms"] == "45000"


def test_no_kafka_client_is_built_outside_the_factory() -> None:
    import os
    import re
    from pathlib import Path

    import riskstream

    root = Path(riskstream.__file__).parent
    # os.walk, not rglob: riskstream/models, /schemas, ... are links to the top-level folders
    files = [
        Path(folder, name)
        for folder, _, names in os.walk(root, followlinks=True)
        for name in names
        if name.endswith(".py")
    ]
    assert any("stream_processors" in str(f) for f in files)
    made = re.compile(r"\b(Producer|Consumer|AdminClient)\(")
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in files
        if path.name != "factory.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if made.search(line) and not line.lstrip().startswith(("class ", "#"))
    ]
    assert found == []


class _Starts:
    """A consumer whose broker fails ``failures`` times before it answers: committed offset 7
    on partition 0, none on partition 1 (whose end is 42)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def _maybe_fail(self) -> None:
        if self.failures:
            self.failures -= 1
            raise kafka_error(retriable=True)

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self._maybe_fail()
        return [TopicPartition(p.topic, p.partition, 7 if p.partition == 0 else -1001)
                for p in partitions]  # fmt: skip

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        self._maybe_fail()
        return 0, 42


ASSIGNED = [TopicPartition("t", 0), TopicPartition("t", 1)]


def _offsets(found: list[TopicPartition]) -> list[tuple[int, int]]:
    return [(p.partition, p.offset) for p in found]


def test_new_partitions_start_at_the_committed_offset_else_at_the_end_now() -> None:
    found = start_offsets(_Starts(0), ASSIGNED, "w")  # type: ignore[arg-type]
    assert _offsets(found) == [(0, 7), (1, 42)]


def test_a_broker_that_cannot_answer_yet_is_asked_again() -> None:
    found = start_offsets(_Starts(2), ASSIGNED, "w", within_s=30)  # type: ignore[arg-type]
    assert _offsets(found) == [(0, 7), (1, 42)]


def test_a_broker_that_never_answers_leaves_the_end_of_the_first_fetch_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    found = start_offsets(_Starts(10**6), ASSIGNED, "w", within_s=0)  # type: ignore[arg-type]
    assert _offsets(found) == [(0, OFFSET_END), (1, OFFSET_END)]
    assert "could not say where its partitions start" in caplog.text


def _consumer_with(count: int) -> FakeConsumer:
    return FakeConsumer(queued=[FakeMessage(i) for i in range(count)])


def test_a_batch_is_what_arrived_within_the_linger_at_low_load() -> None:
    consumer = _consumer_with(40)
    batch = next_batch(consumer, Cadence(size=100, backlog_size=1000), "w")  # type: ignore[arg-type]
    assert len(batch) == 40


def test_a_batch_that_fills_grows_to_the_backlog_size_and_no_further() -> None:
    consumer = _consumer_with(5000)
    batch = next_batch(consumer, Cadence(size=100, backlog_size=1050), "w")  # type: ignore[arg-type]
    assert [m.offset() for m in batch] == list(range(1050))
    assert len(consumer.queued) == 5000 - 1050  # the rest is the next batch's


def test_a_backlog_batch_stops_where_the_fetched_records_end() -> None:
    consumer = _consumer_with(250)
    assert len(next_batch(consumer, Cadence(size=100, backlog_size=1000), "w")) == 250  # type: ignore[arg-type]


def test_without_a_backlog_size_a_batch_never_passes_its_size() -> None:
    consumer = _consumer_with(500)
    assert len(next_batch(consumer, Cadence(size=100), "w")) == 100  # type: ignore[arg-type]
