"""Where the local Redis Cluster's masters live, and which servers `down` stops."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from riskstream.app.stack.redis_server import RedisServer, cluster_masters, started_servers
from riskstream.core.errors import StackError
from riskstream.core.settings import Settings


def _settings(tmp_path: Path, url: str = "redis://127.0.0.1:7000/0") -> Settings:
    return Settings(state_dir=tmp_path, redis_url=SecretStr(url), redis_cluster=True)


def test_three_masters_on_the_url_port_and_the_two_above(tmp_path: Path) -> None:
    masters = cluster_masters(_settings(tmp_path))
    assert [m.address for m in masters] == ["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"]
    assert masters[1].home == (tmp_path / "redis-cluster" / "7001").resolve()
    assert masters[1].process.pidfile.name == "redis-7001.pid"
    assert {m.cluster for m in masters} == {True}
    assert not RedisServer(_settings(tmp_path)).cluster


def test_a_port_whose_cluster_bus_would_pass_65535_is_refused_with_the_limit(
    tmp_path: Path,
) -> None:
    assert len(cluster_masters(_settings(tmp_path, "redis://127.0.0.1:55533/0"))) == 3
    with pytest.raises(StackError) as refused:
        cluster_masters(_settings(tmp_path, "redis://127.0.0.1:55534/0"))
    assert "55533 or less" in str(refused.value.hint)
    assert refused.value.context["port"] == 55534


def test_down_stops_the_masters_or_the_single_server_that_up_started(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert [s.name for s in started_servers(settings)] == ["redis"]
    run = tmp_path / "run"
    run.mkdir()
    for port in (7000, 7001, 7002):
        (run / f"redis-{port}.pid").write_text("999999\n")
    assert [s.name for s in started_servers(settings)] == ["redis-7000", "redis-7001", "redis-7002"]
    (run / "redis.pid").write_text("999999\n")
    assert [s.name for s in started_servers(settings)][:2] == ["redis", "redis-7000"]
