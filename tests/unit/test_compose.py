"""No Docker engine runs here, so compose.yaml is checked against the settings instead."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from riskstream.app.stack.kafka_broker import (
    pinned_version,
    replication_properties,
    split_host_port,
)
from riskstream.core.settings import ENV_PREFIX, KAFKA_PASSTHROUGH_PREFIX, Settings
from riskstream.io.ops import WORKERS  # every worker `run all` starts has a service

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _host_port(service: dict[str, Any]) -> int:
    (mapping,) = service["ports"]
    return int(mapping.split(":")[1])


def test_services_exist_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "redis", "mlflow", "schema-registry", *WORKERS):
        assert name in services, name
    for name in ("kafka", "redis", "mlflow", "schema-registry"):
        assert "healthcheck" in services[name], name


def test_every_worker_and_the_champion_job_write_through_the_schema_registry(
    compose: dict[str, Any],
) -> None:
    registry = compose["services"]["schema-registry"]
    assert registry["image"].startswith("confluentinc/cp-schema-registry:")
    assert registry["depends_on"]["kafka"]["condition"] == "service_healthy"
    listener = registry["environment"]["SCHEMA_REGISTRY_LISTENERS"]
    port = int(listener.rsplit(":", 1)[1])
    assert _host_port(registry) == port
    assert "kafka:19092" in registry["environment"]["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"]
    assert f"localhost:{port}" in " ".join(registry["healthcheck"]["test"])
    for name in (*WORKERS, "champion"):
        service = compose["services"][name]
        url = service["environment"]["RISKSTREAM_SCHEMA_REGISTRY_URL"]
        assert url == f"http://schema-registry:{port}", name
        assert service["depends_on"]["schema-registry"]["condition"] == "service_healthy", name


def test_kafka_is_a_pinned_kraft_image_matching_the_local_stack(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    image, tag = kafka["image"].split(":")
    assert image == "apache/kafka"
    assert tag == pinned_version()
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]


def test_the_single_kafka_node_shuts_down_as_the_local_stacks_does(
    compose: dict[str, Any],
) -> None:
    """One node, one copy: no controlled shutdown, or a committing transaction can hang."""
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 1
    wanted = replication_properties(1)["controlled.shutdown.enable"]
    assert env["KAFKA_CONTROLLED_SHUTDOWN_ENABLE"] == wanted


def test_host_ports_agree_with_the_settings_defaults(compose: dict[str, Any]) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    services = compose["services"]
    assert _host_port(services["kafka"]) == split_host_port(defaults.kafka_bootstrap, 0)[1]
    redis_port = int(defaults.redis_url.get_secret_value().rsplit(":", 1)[1].split("/")[0])
    assert _host_port(services["redis"]) == redis_port
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"HOST://{defaults.kafka_bootstrap}" in advertised


def test_workers_run_their_processor_after_healthy_services(compose: dict[str, Any]) -> None:
    for name in WORKERS:
        worker = compose["services"][name]
        assert worker["command"] == ["run", name]
        assert worker["build"] == "."
        for dependency in ("kafka", "redis", "mlflow"):
            assert worker["depends_on"][dependency]["condition"] == "service_healthy"


def test_worker_variables_are_real_settings_and_reach_compose_services(
    compose: dict[str, Any],
) -> None:
    fields = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
    env = compose["services"]["scorer"]["environment"]
    for key in env:
        assert key in fields or key.startswith(KAFKA_PASSTHROUGH_PREFIX), key
    kafka_env = compose["services"]["kafka"]["environment"]
    assert env["RISKSTREAM_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka"
    assert f"//{env['RISKSTREAM_KAFKA_BOOTSTRAP']}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["RISKSTREAM_REDIS_URL"].startswith("redis://redis:6379")
    assert env["RISKSTREAM_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "5000:5000" in compose["services"]["mlflow"]["ports"][0]


def test_every_long_running_service_has_a_healthcheck_on_its_own_ops_port(
    compose: dict[str, Any],
) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in ("kafka", "redis", "mlflow", *WORKERS):
        assert "healthcheck" in compose["services"][name], name
    for place, name in enumerate(WORKERS):
        test = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert f"localhost:{defaults.ops_port + place}/health" in test, name


def test_a_bootstrap_job_gives_the_scorers_a_champion_before_they_start(
    compose: dict[str, Any],
) -> None:
    champion = compose["services"]["champion"]
    assert champion["command"] == ["model", "train", "--if-no-champion"]
    assert champion["depends_on"]["mlflow"]["condition"] == "service_healthy"
    for name in WORKERS:
        depends = compose["services"][name]["depends_on"]
        assert depends["champion"]["condition"] == "service_completed_successfully", name


DEPLOY = COMPOSE.parent / "deploy"


def test_prometheus_scrapes_every_worker_at_its_ops_port(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert (
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in prometheus["volumes"]
    )
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    targets = {c["labels"]["worker"]: c["targets"] for c in job["static_configs"]}
    first = Settings().ops_port
    assert targets == {w: [f"{w}:{first + i}"] for i, w in enumerate(WORKERS)}
    for worker in WORKERS:  # the port each worker's own healthcheck asks
        assert f"localhost:{first + WORKERS.index(worker)}/health" in " ".join(
            compose["services"][worker]["healthcheck"]["test"]
        )


def test_grafana_provisions_the_dashboard_kept_in_the_repository(compose: dict[str, Any]) -> None:
    import json

    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "riskstream.yml").read_text()
    )
    assert mounts[provider["providers"][0]["options"]["path"]] == "./deploy/grafana/dashboards"
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "riskstream.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for covered in ("records in", "lag", "latency", "psi", "performance", "alerts", "version"):
        assert covered in titles, covered


def test_the_console_service_demands_a_token(compose: dict[str, Any]) -> None:
    console = compose["services"]["console"]
    assert console["command"][:1] == ["ui"] and "0.0.0.0" in console["command"]
    assert ":?" in console["environment"]["RISKSTREAM_UI_TOKEN"]  # compose refuses without


def test_every_worker_and_the_champion_job_share_the_model_cache(compose: dict[str, Any]) -> None:
    """The trainer writes a registered version where every worker's registry reader looks
    first: the cache under the state dir, one volume for all of them."""
    state = compose["x-riskstream-env"]["RISKSTREAM_STATE_DIR"]
    assert "model-cache" in compose["volumes"]
    for name in (*WORKERS, "champion"):
        mounts = compose["services"][name].get("volumes", [])
        assert f"model-cache:{state}/model-cache" in mounts, name


def test_every_worker_gets_the_pseudonym_key_and_compose_refuses_without(
    compose: dict[str, Any],
) -> None:
    """A compose deployment's broker is not on the machine: no local key is made for it."""
    workers = [
        name
        for name, service in compose["services"].items()
        if "RISKSTREAM_KAFKA_BOOTSTRAP" in (service.get("environment") or {})
    ]
    assert "scorer" in workers and "joiner" in workers
    for name in workers:
        for secret in ("RISKSTREAM_PSEUDONYM_KEY", "RISKSTREAM_KEY_ENCRYPTION_KEY"):
            key = compose["services"][name]["environment"][secret]
            assert key.startswith(f"${{{secret}:?"), (name, secret)
