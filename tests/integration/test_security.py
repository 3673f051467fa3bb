"""Credentials end to end: a broker whose only listener is SASL_SSL (SCRAM-SHA-512 over TLS,
with a CA made for this test), and a Redis that requires AUTH. Workers get in with the right
credentials through RISKSTREAM_* variables, are refused with wrong ones and say so, and no
password reaches a log, `stack status` or `config`."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer
from pydantic import SecretStr

from riskstream.app.stack.kafka_broker import SaslSslListener
from riskstream.core.settings import Settings
from riskstream.core.topics import PATIENT_RECORDS, PREDICTIONS
from riskstream.io.kafka.clients import codec_for
from tests.integration.conftest import deployment_with_champion, drain_committed, process_env
from tests.integration.servers import (
    PrivateBroker,
    PrivateRedis,
    free_port,
    http_get,
    make_test_certificates,
    metric_samples,
    metric_value,
)
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def _riskstream(*args: str) -> list[str]:
    return [sys.executable, "-m", "riskstream.app.cli.main", *args]


def _refused_runs(*runs: tuple[list[str], dict[str, str]]) -> list[str]:
    """Workers started with wrong credentials, side by side: each must give up by itself,
    with exit 1; what each said (stdout and stderr)."""
    started = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv, env in runs
    ]
    said = []
    for process in started:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 1, f"exit {process.returncode}: {err[-1500:]}"
        said.append(out + err)
    return said


def _publish_prediction(settings: Settings) -> None:
    from riskstream.models.registry import CHAMPION, Registry

    version = Registry(settings).alias_version(CHAMPION)
    prediction = {
        **SAMPLES["Prediction"],
        "event_time": int(time.time() * 1000),
        "model_version": version,
    }
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config())
    producer.produce(settings.topic(PREDICTIONS.name), value=codec.encode("Prediction", prediction))
    assert producer.flush(30) == 0


def _wait_for_records_in(port: int, processor: str, timeout: float, at_least: int = 1) -> int:
    counted = [0.0]

    def enough() -> bool:
        status, text = http_get(f"http://127.0.0.1:{port}/metrics")
        if status == 200:
            samples = metric_samples(text)
            counted[0] = (
                metric_value(samples, "riskstream_records_in_total", processor=processor) or 0
            )
        return counted[0] >= at_least

    wait_for(enough, timeout, every=0.5)
    return int(counted[0])


@pytest.fixture
def sasl_broker(stack: Settings, tmp_path: Path) -> Iterator[tuple[PrivateBroker, str]]:
    certificates = make_test_certificates(tmp_path / "tls")
    password = secrets.token_urlsafe(16)
    users = {"broker": SecretStr(secrets.token_urlsafe(16)), "scorer": SecretStr(password)}
    client = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "scorer",
        "sasl.password": password,
        "ssl.ca.location": str(certificates.ca_pem),
    }
    listener = SaslSslListener(certificates.keystore, certificates.password, users)
    broker = PrivateBroker(stack, tmp_path / "kafka-home", listener, client)
    broker.start()
    yield broker, password
    broker.broker.process.stop()


def test_a_scorer_reaches_a_sasl_ssl_broker_and_is_refused_with_a_wrong_password(
    sasl_broker: tuple[PrivateBroker, str], tmp_path: Path
) -> None:
    broker, password = sasl_broker
    settings = deployment_with_champion(broker.settings, "sec", tmp_path / "state")
    env = {**process_env(settings), "RISKSTREAM_LOG_LEVEL": "DEBUG"}
    assert env["RISKSTREAM_KAFKA_SASL_PASSWORD"] == password  # the credentials travel by env
    _assert_a_scorer_and_a_monitor_work_over_sasl_ssl(settings, env, password, tmp_path)

    # a wrong password: the worker stops at once and says what to check; a CA that did not
    # sign the broker: refused, pointing at the CA setting (the three run side by side)
    wrong = secrets.token_urlsafe(16)
    other = make_test_certificates(tmp_path / "other-ca")
    scorer_said, monitor_said, ca_said = _refused_runs(
        (_riskstream("run", "scorer"), {**env, "RISKSTREAM_KAFKA_SASL_PASSWORD": wrong}),
        (_riskstream("run", "monitor"), {**env, "RISKSTREAM_KAFKA_SASL_PASSWORD": wrong}),
        (
            _riskstream("run", "scorer"),
            {**env, "RISKSTREAM_KAFKA_SSL_CA_LOCATION": str(other.ca_pem)},
        ),
    )
    assert "Kafka refused riskstream's credentials" in scorer_said, scorer_said[-1500:]
    assert "RISKSTREAM_KAFKA_SASL_PASSWORD" in scorer_said
    assert wrong not in scorer_said and password not in scorer_said
    assert "RISKSTREAM_KAFKA_SASL_PASSWORD" in monitor_said
    assert "RISKSTREAM_KAFKA_SSL_CA_LOCATION" in ca_said

    # what people print to check a deployment never shows the password
    for command in (("stack", "status"), ("config",)):
        shown = subprocess.run(_riskstream(*command), env=env, capture_output=True, text=True)
        assert password not in shown.stdout + shown.stderr, command
    config = subprocess.run(_riskstream("config"), env=env, capture_output=True, text=True)
    assert "sasl.password" in config.stdout and "**********" in config.stdout


def _assert_a_scorer_and_a_monitor_work_over_sasl_ssl(
    settings: Settings, env: dict[str, str], password: str, tmp_path: Path
) -> None:
    """The right credentials: records in, predictions out, all over SCRAM and TLS; a Faust
    worker over the same credentials (the drift monitor, started beside the scorer: its new
    group reads from the beginning) counts those predictions. Neither logs the password."""
    log, port, monitor_log = tmp_path / "scorer.log", free_port(), tmp_path / "monitor.log"
    with log.open("w") as out, monitor_log.open("w") as monitor_out:
        scorer = subprocess.Popen(
            _riskstream("run", "scorer"), env=env, stdout=out, stderr=subprocess.STDOUT
        )
        monitor = subprocess.Popen(
            _riskstream("run", "monitor", "--ops-port", str(port)),
            env=env,
            stdout=monitor_out,
            stderr=subprocess.STDOUT,
        )
        try:
            codec = codec_for(settings)
            producer = Producer(settings.kafka_config({"linger.ms": 5}))
            for i in range(200):
                record = {**SAMPLES["PatientRecord"], "request_id": f"s{i}", "patient_id": "p"}
                value = codec.encode("PatientRecord", record)
                producer.produce(settings.topic(PATIENT_RECORDS.name), key=b"p", value=value)
            assert producer.flush(30) == 0, "records could not be published over SASL_SSL"
            predictions = drain_committed(settings, PREDICTIONS.name, "Prediction", 200, 90)
            counted = _wait_for_records_in(port, "monitor", 90, at_least=200)
        finally:
            for worker in (scorer, monitor):
                worker.send_signal(signal.SIGTERM)
            scorer.wait(30)
            monitor.wait(30)
    assert len({p["request_id"] for p in predictions}) == 200
    assert password not in log.read_text(), "the SASL password reached the worker's log"
    assert counted == 200, monitor_log.read_text()[-2000:]
    assert password not in monitor_log.read_text(), "the SASL password reached the monitor's log"


def test_workers_authenticate_to_redis_from_the_url_and_are_refused_with_a_wrong_password(
    stack: Settings, tmp_path: Path
) -> None:
    password = secrets.token_urlsafe(16)
    private = PrivateRedis(stack, tmp_path / "redis-home", password=password)
    private.start()
    try:
        settings = deployment_with_champion(
            stack, "auth", tmp_path / "state", redis_url=SecretStr(private.url)
        )
        env = process_env(settings)
        assert password in env["RISKSTREAM_REDIS_URL"]
        # without the password, this Redis refuses everything
        bare = redis.Redis.from_url(private.url.replace(f":{password}@", ""))
        with pytest.raises(redis.AuthenticationError):
            bare.ping()
        _assert_the_monitor_counts_into_the_authenticated_redis(
            settings, env, private, password, tmp_path
        )

        # a wrong password: refused at once, for each worker that uses Redis
        wrong_url = private.url.replace(password, "not-" + password[:8])
        workers = ("monitor", "joiner", "trigger")
        refusals = _refused_runs(
            *(
                (
                    _riskstream("run", worker, "--ops-port", "0"),
                    {**env, "RISKSTREAM_REDIS_URL": wrong_url},
                )
                for worker in workers
            )
        )
        for worker, said in zip(workers, refusals, strict=True):
            assert "Redis refused riskstream's credentials" in said, (worker, said[-1500:])
            assert "RISKSTREAM_REDIS_URL" in said
            assert password[:8] not in said, f"{worker} printed the password"

        for command in (("stack", "status"), ("config",)):
            shown = subprocess.run(_riskstream(*command), env=env, capture_output=True, text=True)
            assert password not in shown.stdout + shown.stderr, command
    finally:
        private.server.process.stop()


def _assert_the_monitor_counts_into_the_authenticated_redis(
    settings: Settings, env: dict[str, str], private: PrivateRedis, password: str, tmp_path: Path
) -> None:
    """The right password: the monitor counts a prediction into a window in this Redis, and
    logs no password."""
    port = free_port()
    log = tmp_path / "monitor.log"
    with log.open("w") as out:
        monitor = subprocess.Popen(
            _riskstream("run", "monitor", "--ops-port", str(port)),
            env={**env, "RISKSTREAM_LOG_LEVEL": "DEBUG"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _publish_prediction(settings)
            counted = _wait_for_records_in(port, "monitor", timeout=90)
        finally:
            monitor.send_signal(signal.SIGTERM)
            monitor.wait(30)
    assert counted >= 1, log.read_text()[-1500:]
    authed = redis.Redis.from_url(private.url)
    keys = authed.keys(settings.redis_key("*"))
    assert any(b":window" in k or b":drift" in k for k in keys), keys
    assert password not in log.read_text(), "the Redis password reached the worker's log"
