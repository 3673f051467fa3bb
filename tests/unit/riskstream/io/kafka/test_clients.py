"""The Kafka client profiles: what each sets."""

import pytest

from riskstream.core.settings import Settings
from riskstream.io.kafka.factory import transactional_config


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
