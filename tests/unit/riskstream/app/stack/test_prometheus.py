"""The local Prometheus's scrape layout: the ports `run all` gives each worker."""

from riskstream.app.stack.prometheus import scrape_config
from riskstream.io.ops import WORKERS, ops_port_of


def test_one_target_per_worker_at_its_ops_port_labelled_by_worker() -> None:
    config = scrape_config("127.0.0.1", 9400, interval_s=1)
    assert config["global"]["scrape_interval"] == "1s"
    (job,) = config["scrape_configs"]
    targets = {c["labels"]["worker"]: c["targets"] for c in job["static_configs"]}
    assert list(targets) == list(WORKERS)
    assert targets["scorer"] == ["127.0.0.1:9400"] and targets["notifier"] == ["127.0.0.1:9407"]


def test_a_wildcard_ops_host_is_scraped_on_loopback() -> None:
    (job,) = scrape_config("0.0.0.0", 9500)["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9500"]


def test_ops_ports_follow_run_all_and_zero_turns_them_off() -> None:
    assert [ops_port_of(9400, w) for w in WORKERS] == list(range(9400, 9400 + len(WORKERS)))
    assert ops_port_of(0, "trainer") == 0
