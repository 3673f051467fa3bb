"""The operator's console (#14) against the real broker, Redis and MLflow, in a real browser:
Debian's headless chromium, driven by Selenium through Debian's chromium-driver.

Workers (scorer, joiner, drift and performance monitors) run on simulated traffic that
drifts; the console serves the deployment. Every page is opened, each chart must have data,
and a screenshot of each is saved under ``test-artifacts/console`` (RISKSTREAM_TEST_ARTIFACTS
moves it). In manual promotion mode a version waits for approval as the trainer leaves it;
approved in the browser, the scorer serves it. The API refuses a write without the token
(401) and puts every write on the `audit` topic. A real Prometheus (Debian's, as
`riskstream stack up --with-prometheus` runs it) scrapes the same workers, and every query of
the Grafana dashboard kept in the repository returns a series.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from riskstream.app.console.server import ConsoleServer
from riskstream.app.stack.prometheus import PrometheusServer, up_prometheus
from riskstream.app.tools.backtest import backtest
from riskstream.app.tools.backtest_report import render_html
from riskstream.core.settings import Settings
from riskstream.core.topics import AUDIT, PATIENT_RECORDS, PREDICTIONS, RETRAIN_REQUESTS
from riskstream.io.kafka.factory import idempotent_producer
from riskstream.io.kafka.reading import read_events
from riskstream.io.ops import WORKERS, ops_port_of, serve_ops
from riskstream.io.redis_client import connect
from riskstream.models.monitoring.notifications import SILENCE_KEY
from riskstream.models.registry import ACTION_TAG, AWAITING_TAG, CHAMPION, Registry
from riskstream.producers.publish import publish_simulated
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.events import RetrainRequest
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.performance import PerformanceMonitor
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import REPO, decoded, deployment_with_champion
from tests.integration.servers import (
    free_port,
    free_port_run,
    http_get,
    start_workers,
    wait_until_owning,
)
from tests.waiting import eventually

# one worker runs both tests, so the module's live deployment (about 40 s) is set up once
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("console")]
TOKEN = "console-test-token-0123456789"
PAGES = ("overview", "drift", "performance", "models", "alerts", "backtests")
RATE, SECONDS, DRIFT_AT = 250.0, 16.0, 6.0
ARTIFACTS = Path(os.environ.get("RISKSTREAM_TEST_ARTIFACTS", REPO / "test-artifacts")) / "console"


class Deployment:
    def __init__(
        self,
        settings: Settings,
        console: ConsoleServer,
        scorer: Scorer,
        prometheus: PrometheusServer,
    ) -> None:
        self.settings, self.console, self.scorer = settings, console, scorer
        self.prometheus = prometheus
        self.registry = Registry(settings)

    def pending_version(self, why: str) -> str:
        """A version waiting for a person, as the trainer leaves one in manual mode (another
        registration of the champion's model: training one would only take longer)."""
        model = self.registry.load(self.registry.alias_version(CHAMPION) or "1")
        version = self.registry.log_and_register(model, params={}, metrics={}, tags={})[1]
        self.registry.await_approval(version, why)
        return version

    def post(self, path: str, body: dict[str, Any], token: str | None) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.console.base}/api/v1/{path}",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token is not None else {}),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


def _traffic(settings: Settings, seed: int, count: int) -> None:
    scenario = Scenario.named("drift-demo", start=int(RATE * DRIFT_AT), label_delay_s=0.5)
    sim = Simulator(PimaModel.fit(), scenario, seed=seed, rate=RATE, run=f"ui{seed}")
    publish_simulated(settings, sim.stream(count, int(time.time() * 1000)), labels=True)


@pytest.fixture(scope="module")
def running(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = deployment_with_champion(
        stack,
        "ui",
        tmp_path_factory.mktemp("console"),
        partitions=1,
        promotion="manual",
        monitor_window_s=4,
        monitor_lateness_s=2,
        monitor_idle_s=2,
        performance_window_s=4,
        performance_lateness_s=2,
        performance_min_sample=100,
        trigger_label_count=10**9,
        canary_windows=0,
        ops_port=free_port_run(len(WORKERS), step=1),
        prometheus_port=free_port(),
    )
    scorer = Scorer(settings)
    workers = {
        "scorer": scorer,
        "joiner": Joiner(settings),
        "monitor": Monitor(settings),
        "performance": PerformanceMonitor(settings),
    }
    stop = threading.Event()
    threads = start_workers(workers, stop)
    ops = [
        serve_ops(w.metrics, "127.0.0.1", ops_port_of(settings.ops_port, n))
        for n, w in workers.items()
    ]
    prometheus = up_prometheus(settings, interval_s=1)
    console: ConsoleServer | None = None
    try:  # from here on every failure stops Prometheus too (a console that failed to build
        # once left it running after the suite)
        console = ConsoleServer(settings, "127.0.0.1", free_port(), SecretStr(TOKEN)).start()
        wait_until_owning(workers)
        poison = idempotent_producer(settings)  # one dead letter for its panel
        poison.produce(settings.topic(PATIENT_RECORDS.name), key=b"p", value=b"not a record")
        poison.flush(10)
        _traffic(settings, 1, int(RATE * SECONDS))
        result = backtest(settings, ["champion"], "beginning")
        report = settings.backtests / "after-the-drift"
        report.mkdir(parents=True)
        (report / "report.html").write_text(render_html(result))
        (report / "summary.json").write_text(json.dumps(result.summary(), default=float))
        yield Deployment(settings, console, scorer, prometheus)
    finally:
        if console is not None:
            console.stop()
        prometheus.process.stop()
        for server in ops:
            if server is not None:
                server.close()
        stop.set()
        for thread in threads.values():
            thread.join(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in ("chromium", "chromedriver") if shutil.which(p) is None]
    assert not missing, f"{missing} not installed: run `make system-tests` (apt-get)"
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or ""
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _charts(driver: Any) -> dict[str, int]:
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.chart')]"
        ".map(e => [e.id, Number(e.dataset.points || 0)]))"
    )


def test_every_page_charts_live_data_and_an_approval_in_the_browser_is_served(
    running: Deployment, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    version = running.pending_version("holdout roc_auc beats the champion's")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for page in PAGES:
        _assert_the_page_charts_live_data(running, browser, page, version)

    browser.get(f"{running.console.base}/models")
    approve = eventually(
        lambda: browser.find_elements(By.ID, f"approve-{version}"),
        30,
        "no approve button",
        every=0.5,
    )
    browser.find_element(By.ID, "action-reason").send_keys("evidence read in the console")
    approve[0].click()
    eventually(
        lambda: "approved" in browser.find_element(By.ID, "toast").text,
        30,
        lambda: f"no approval: {browser.find_element(By.ID, 'toast').text!r}",
        every=0.5,
    )
    assert running.registry.alias_version(CHAMPION) == version
    assert AWAITING_TAG not in running.registry.get(version).tags
    eventually(
        lambda: running.scorer.models.current.version == version,
        60,
        "the scorer did not swap to the approved version",
        every=0.5,
    )
    sent = len(list(_served(running.settings)))
    _traffic(running.settings, 2, 200)
    served = eventually(
        lambda: [p for p in _served(running.settings)[sent:] if p["model_version"] == version],
        60,
        "no prediction by the approved version",
        every=0.5,
    )
    assert served
    audit = [a for a in _audit(running.settings) if a["action"] == "approve"]
    assert [(a["version"], a["reason"]) for a in audit] == [
        (version, "evidence read in the console")
    ]


# the charts each page must draw with data in them
CHARTS = {
    "overview": {"rates", "lag"},
    "drift": {"heatmap", "histogram", "scores"},
    "performance": {"perf-accuracy", "perf-roc_auc", "perf-f1", "perf-brier"},
    "alerts": {"timeline"},
}


def _assert_the_page_charts_live_data(
    running: Deployment, browser: Any, page: str, version: str
) -> None:
    """The page draws its charts with data (a page with none, its cards), logs no error,
    and shows what the running deployment did; a screenshot is kept."""
    from selenium.webdriver.common.by import By

    browser.get(f"{running.console.base}/{page}?token={TOKEN}")
    wanted = CHARTS.get(page, set())
    drawn = eventually(
        lambda: (
            ((c := _charts(browser)).keys() >= wanted and all(c[k] > 0 for k in wanted) and c)
            or (not wanted and browser.find_elements(By.CSS_SELECTOR, "main .card"))
        ),
        60,
        lambda: f"{page}: charts without data {_charts(browser)}",
        every=0.5,
    )
    assert drawn
    browser.save_screenshot(str(ARTIFACTS / f"{page}.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not [e for e in errors if "favicon" not in e["message"]], errors
    text = browser.find_element(By.TAG_NAME, "main").text
    if page == "alerts":
        assert "DATA_DRIFT" in text and "glucose" in text  # the drift was seen
    if page == "backtests":
        assert "after-the-drift" in text
    if page == "models":
        assert "awaiting approval" in text and f"v{version}" in text


def _served(settings: Settings) -> list[dict[str, Any]]:
    return list(decoded(settings, settings.topic(PREDICTIONS.name), "Prediction", "beginning"))


def _audit(settings: Settings) -> list[dict[str, Any]]:
    return list(decoded(settings, settings.topic(AUDIT.name), "AuditEvent", "beginning"))


def test_a_write_without_the_token_is_refused_and_every_write_is_audited(
    running: Deployment,
) -> None:
    version = running.pending_version("passes the gates")
    alert = eventually(
        lambda: next(iter(_get(running, "alerts")), None), 60, "no alert to acknowledge", every=0.5
    )
    writes: list[tuple[str, dict[str, Any], str]] = [
        (f"models/{version}/approve", {"reason": "api approve", "actor": "ann"}, "approve"),
        ("models/rollback", {"reason": "api rollback", "actor": "ann", "version": "1"}, "rollback"),
        ("retrain", {"reason": "api retrain", "actor": "bob"}, "retrain"),
        (
            f"alerts/{alert['alert_id']}/ack",
            {"reason": "api ack", "actor": "bob", "subject": alert["subject"]},
            "acknowledge",
        ),
        (
            "alerts/silence",
            {"reason": "api silence", "actor": "cy", "subject": alert["subject"], "minutes": 5},
            "silence",
        ),
    ]
    before = len(_audit(running.settings))
    for path, body, _ in writes:
        for token in (None, "wrong-token"):
            status, answer = running.post(path, body, token)
            assert status == 401, (path, token, answer)
    assert len(_audit(running.settings)) == before  # a refused write changes nothing
    assert running.registry.alias_version(CHAMPION) != version
    for path, body, _ in writes:
        status, answer = running.post(path, body, TOKEN)
        assert status == 200, (path, answer)
    audit = _audit(running.settings)[before:]
    assert [(a["action"], a["actor"], a["reason"]) for a in audit] == [
        (action, body["actor"], body["reason"]) for _, body, action in writes
    ]
    assert audit[0]["version"] == version and audit[1]["detail"]["rolled_back"] == version
    assert audit[1]["version"] == "1" == running.registry.alias_version(CHAMPION)
    noted = running.registry.get(version).tags[ACTION_TAG]  # the registry has it too
    assert noted.startswith("approve by ann at ") and noted.endswith(": api approve")
    assert running.registry.get("1").tags[ACTION_TAG].startswith("rollback by ann at ")
    _assert_the_retrain_request_is_on_its_topic_and_the_overview(running)
    redis = connect(running.settings)
    silence_key = running.settings.redis_key(SILENCE_KEY, alert["subject"])
    assert 0 < redis.pttl(silence_key) <= 5 * 60_000
    shown = next(a for a in _get(running, "alerts") if a["alert_id"] == alert["alert_id"])
    assert shown["ack"]["actor"] == "bob" and shown["silence"]["actor"] == "cy"
    status, answer = running.post("models/rollback", {"reason": ""}, TOKEN)
    assert status == 422, answer  # a write says why


def _assert_the_retrain_request_is_on_its_topic_and_the_overview(running: Deployment) -> None:
    topic = running.settings.topic(RETRAIN_REQUESTS.name)
    requests = list(read_events(running.settings, topic, RetrainRequest, "beginning"))
    assert requests[-1].reasons == ["MANUAL"] and "bob: api retrain" in requests[-1].detail
    requested = requests[-1].event_time

    def last_retrain() -> Any:
        last = _get(running, "overview")["last_retrain"]
        return last if last and last["requested_at"] == requested else None

    # the console's feed follows the request topic
    last = eventually(last_retrain, 30, "the overview's last retrain request", every=0.5)
    assert last["outcome"] == "PENDING", last  # no trainer runs here: nothing is dated yet
    assert last["phases"] == dict.fromkeys(("decision", "training", "promotion", "swap")), last


def _get(running: Deployment, path: str) -> Any:
    return _json(f"{running.console.base}/api/v1/{path}")


def _json(url: str) -> Any:
    status, body = http_get(url)
    assert status == 200, (url, status, body[-500:])
    return json.loads(body)


DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "riskstream.json"


def test_every_query_of_the_grafana_dashboard_returns_a_series(running: Deployment) -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = [(p["title"], t["expr"]) for p in panels for t in p["targets"]]
    assert len(queries) >= 12
    targets = eventually(
        lambda: [
            t for t in _prometheus(running, "targets")["activeTargets"] if t["health"] == "up"
        ],
        60,
        "prometheus scrapes no worker",
        every=0.5,
    )
    assert {t["labels"]["worker"] for t in targets} == {
        "scorer",
        "joiner",
        "monitor",
        "performance",
    }  # fmt: skip  (the workers this deployment runs; the others' targets are down)
    empty = {(title, expr): running.prometheus.query(expr) for title, expr in queries}
    empty = {k: v for k, v in empty.items() if not v}
    assert not empty, f"queries without a series: {sorted(empty)}"


def _prometheus(running: Deployment, path: str) -> Any:
    return _json(f"{running.prometheus.url}/api/v1/{path}")["data"]
