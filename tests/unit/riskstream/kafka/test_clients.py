"""The transactional producer's configuration."""

from riskstream.kafka.factory import transactional_config
from riskstream.settings import Settings


def test_the_id_is_stable_per_deployment_group_and_instance() -> None:
    settings = Settings(topic_prefix="acme.")
    config = transactional_config(settings, "riskstream-scorer", "2")
    assert config["transactional.id"] == "acme.riskstream-scorer-2"
    assert config["bootstrap.servers"] == settings.kafka_bootstrap


def test_a_worker_override_wins() -> None:
    config = transactional_config(Settings(), "g", "0", {"linger.ms": 50})
    assert config["linger.ms"] == 50
