import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from redis.crc import key_slot

from riskstream.core.settings import MASK, Settings, is_secret_option, mask_url_password


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("RISKSTREAM_"):
            monkeypatch.delenv(key)


def test_defaults_match_the_documented_values() -> None:
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert s.state_dir == Path(".riskstream")
    assert s.topic_prefix == ""
    assert s.model_name == "diabetes-risk"
    assert s.resolved_mlflow_uri.startswith("sqlite:///")
    assert s.resolved_mlflow_uri.endswith(".riskstream/mlflow/mlflow.db")
    assert not s.kafka_is_external and not s.redis_is_external


def test_environment_is_read_with_the_riskstream_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_KAFKA_BOOTSTRAP", "broker:29092")
    monkeypatch.setenv("RISKSTREAM_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("RISKSTREAM_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    s = Settings()
    assert s.kafka_bootstrap == "broker:29092"
    assert s.kafka_is_external
    assert not s.redis_is_external
    assert s.topic("predictions") == "staging.predictions"
    assert s.redis_key("window", 3) == "staging.riskstream:window:3"
    assert s.resolved_mlflow_uri == "http://mlflow:5000"


def test_kafka_passthrough_maps_env_names_to_librdkafka_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("RISKSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("RISKSTREAM_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("RISKSTREAM_KAFKA_SSL_CA_LOCATION", "/etc/ca.pem")
    monkeypatch.setenv("RISKSTREAM_KAFKA_LOG_LEVEL", "3")
    config = Settings().kafka_config({"group.id": "g"})
    assert config.pop("logger").name == "librdkafka"  # its lines go through Python logging
    assert config == {
        "bootstrap.servers": "127.0.0.1:9092",
        "metadata.recovery.strategy": "none",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.password": "hunter2",
        "ssl.ca.location": "/etc/ca.pem",
        "log_level": "3",
        "group.id": "g",
    }


def test_secrets_never_appear_in_printouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("RISKSTREAM_REDIS_URL", "redis://:s3cret@cache:6380/1")
    s = Settings()
    shown = " ".join(s.display().values()) + repr(s) + str(s)
    assert "hunter2" not in shown
    assert "s3cret" not in shown
    assert s.display()["kafka: sasl.password"] == MASK
    assert s.display()["redis_url"] == f"redis://:{MASK}@cache:6380/1"


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().topic_prefix = "x"  # type: ignore[misc]


def test_topic_prefix_must_be_topic_safe() -> None:
    with pytest.raises(ValidationError):
        Settings(topic_prefix="a b")


def test_stack_managed_overrides_address_detection() -> None:
    s = Settings(kafka_bootstrap="127.0.0.1:19092", stack_managed=True)
    assert not s.kafka_is_external
    assert Settings(stack_managed=False).redis_is_external


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("sasl.password", True),
        ("ssl.key.password", True),
        ("ssl.key.pem", True),
        ("sasl.oauthbearer.client.secret", True),
        ("security.protocol", False),
        ("ssl.ca.location", False),
        ("sasl.username", False),
    ],
)
def test_secret_option_detection(name: str, secret: bool) -> None:
    assert is_secret_option(name) is secret


def test_mask_url_password_keeps_urls_without_one() -> None:
    assert mask_url_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert mask_url_password("redis://u:p@h:1/2") == f"redis://u:{MASK}@h:1/2"


def test_worker_environment_round_trips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from riskstream.core.settings import load_settings

    original = load_settings(
        kafka_bootstrap="k:1",
        kafka_extra={"sasl.password": SecretStr("pw"), "log_level": SecretStr("3")},
        topic_prefix="p.",
        topic_partitions=4,
        state_dir=tmp_path,
        model_name="m",
        mlflow_tracking_uri="http://mlflow:5000",
    )
    for key, value in original.worker_environment().items():
        monkeypatch.setenv(key, value)
    again = load_settings()
    names = ("topic_prefix", "topic_partitions", "state_dir", "redis_url", "model_name")
    for name in ("kafka_bootstrap", "mlflow_tracking_uri", *names):
        assert getattr(again, name) == getattr(original, name), name
    assert again.kafka_config() == original.kafka_config()


def test_clients_do_not_rebootstrap_unless_the_deployment_asks() -> None:
    """Re-bootstrapping makes librdkafka 2.16 hang coordinator requests after an outage."""
    assert Settings().kafka_config()["metadata.recovery.strategy"] == "none"
    chosen = Settings(kafka_extra={"metadata.recovery.strategy": SecretStr("rebootstrap")})
    assert chosen.kafka_config()["metadata.recovery.strategy"] == "rebootstrap"


def test_a_slot_group_shares_one_cluster_slot_per_deployment() -> None:
    blue, green = Settings(topic_prefix="blue."), Settings(topic_prefix="green.")
    keys = [blue.redis_slot_key("window", *parts) for parts in (("epoch",), ("window", "v3", 60))]
    assert keys[0] == "blue.riskstream:{blue.window}:epoch"
    assert key_slot(keys[0].encode()) == key_slot(keys[1].encode())
    # another deployment's store hashes by its own tag (here to another slot)
    assert key_slot(green.redis_slot_key("window", "epoch").encode()) != key_slot(keys[0].encode())
    assert blue.redis_slot_key("window", "epoch").startswith(blue.redis_key())


def test_workers_inherit_the_cluster_mode() -> None:
    assert Settings(redis_cluster=True).worker_environment()["RISKSTREAM_REDIS_CLUSTER"] == "true"
    assert Settings().worker_environment()["RISKSTREAM_REDIS_CLUSTER"] == "false"


def test_every_setting_reaches_a_child_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No hand-kept list: each field, changed from its default, is read back the same by a
    process given worker_environment() (the registry reader's child is built from it)."""
    from riskstream.core.settings import load_settings

    changed = load_settings(
        state_dir=tmp_path,
        retrain_search="off",
        monitor_window_s=7,
        drift_psi_low=0.123,
        shadow=False,
        redis_url=SecretStr("redis://u:pw@h:1/2"),
        promotion_evidence="live",
        schema_registry_url="http://registry:8081",
    )
    for key in [k for k in os.environ if k.startswith("RISKSTREAM_")]:
        monkeypatch.delenv(key)
    for key, value in changed.worker_environment().items():
        monkeypatch.setenv(key, value)
    again = load_settings()
    for name in type(changed).model_fields:
        assert getattr(again, name) == getattr(changed, name), name
