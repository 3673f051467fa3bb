"""The Faust app: credentials from the librdkafka options a deployment sets, and the Faust
internals it relies on."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
from pydantic import SecretStr

from riskstream.core.errors import ConfigError
from riskstream.core.settings import Settings
from riskstream.io.kafka.faust_app import broker_credentials, faust_app


def _settings(**extra: str) -> Settings:
    return Settings(kafka_extra={k: SecretStr(v) for k, v in extra.items()})


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(_settings()) == {}
    assert broker_credentials(_settings(**{"security.protocol": "PLAINTEXT"})) == {}


def test_sasl_ssl_scram_maps_user_password_mechanism_and_ca() -> None:
    creds = broker_credentials(
        _settings(
            **{
                "security.protocol": "SASL_SSL",
                "sasl.mechanisms": "SCRAM-SHA-512",
                "sasl.username": "scorer",
                "sasl.password": "s3cret",
            }
        )
    )["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("scorer", "s3cret")
    assert creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.protocol.value == "SASL_SSL"
    assert isinstance(creds.ssl_context, ssl.SSLContext)
    assert creds.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_plaintext_has_no_tls_context() -> None:
    creds = broker_credentials(
        _settings(
            **{
                "security.protocol": "sasl_plaintext",
                "sasl.mechanism": "PLAIN",
                "sasl.username": "u",
                "sasl.password": "p",
            }
        )
    )["broker_credentials"]
    assert creds.protocol.value == "SASL_PLAINTEXT"
    assert creds.ssl_context is None


def test_verification_can_be_turned_off_as_in_librdkafka() -> None:
    creds = broker_credentials(
        _settings(**{"security.protocol": "ssl", "enable.ssl.certificate.verification": "false"})
    )["broker_credentials"]
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.context.verify_mode == ssl.CERT_NONE


def test_an_unknown_protocol_is_refused_with_the_setting_to_fix() -> None:
    with pytest.raises(ConfigError, match="security protocol") as info:
        broker_credentials(_settings(**{"security.protocol": "kerberos"}))
    assert "RISKSTREAM_KAFKA_SECURITY_PROTOCOL" in str(info.value)


def test_every_bootstrap_server_becomes_a_faust_broker_url(tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap="k1:9092, k2:9093", topic_prefix="t.", state_dir=tmp_path / "state"
    )
    app = faust_app(settings, "riskstream-monitor")
    assert [str(url) for url in app.conf.broker] == ["kafka://k1:9092", "kafka://k2:9093"]
    assert app.conf.id == "t.riskstream-monitor"
    assert app.conf.datadir == (tmp_path / "state" / "faust" / "t.riskstream-monitor").resolve()
    assert app.conf.datadir.is_dir()


# -- the commit path and the Faust internals it relies on --------------------------------


def test_commits_the_offset_after_the_last_applied_record_and_never_backwards() -> None:
    from faust.types import TP

    from riskstream.io.kafka.faust_app import offsets_to_commit

    a, b, c = TP("t", 0), TP("t", 1), TP("t", 2)
    processed = {("t", 0): 41, ("t", 1): 9, ("t", 2): 5, ("gone", 0): 99}
    committed: dict = {a: 10, b: 50, c: None}
    # a: ahead of the commit; b: behind it (a rebalance restored a later commit); c: first
    assert offsets_to_commit([a, b, c], processed, committed) == {a: 42, c: 6}
    assert offsets_to_commit([a], {}, committed) == {}


def test_the_faust_internals_riskstream_overrides_are_still_there() -> None:
    """faust-streaming is pinned below the next minor release; these are the members the
    runner overrides or calls, so a release that moves them fails here, not in production."""
    import inspect

    import faust
    from faust.transport.drivers import aiokafka

    assert (
        "transport"
        in inspect.signature(aiokafka.AIOKafkaConsumerThread._create_worker_consumer).parameters
    )
    assert inspect.iscoroutinefunction(aiokafka.Consumer._commit)
    assert callable(aiokafka.Consumer._new_consumer_thread)
    assert aiokafka.Transport.Consumer is aiokafka.Consumer
    assert callable(faust.App._new_transport)
    from faust.transport.consumer import Consumer

    assert issubclass(aiokafka.Consumer, Consumer)
    init = inspect.getsource(Consumer.__init__)
    for member in ("_committed_offset", "_acked", "_acked_index", "_gap"):
        assert f"self.{member} = " in init, member


def test_faust_forgets_the_acked_offsets_a_commit_has_passed() -> None:
    from riskstream.io.kafka.faust_app import forget_acked_below

    acked, index = [3, 4, 5, 9, 10, 12], {3, 4, 5, 9, 10, 12}
    forget_acked_below(acked, index, 10)
    assert acked == [10, 12] and index == {10, 12}
    forget_acked_below(acked, index, 0)  # nothing below: nothing dropped
    assert acked == [10, 12] and index == {10, 12}
