"""The user tools against the real broker: predictions filters, watch --exit-on, replay
keeping keys and order, and a backtest that names the version built to be better, with its
HTML report rendered in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from riskstream.app.cli.main import app
from riskstream.app.tools.backtest import backtest
from riskstream.app.tools.backtest_report import render_html
from riskstream.app.tools.predictions import PredictionFilter, read_predictions
from riskstream.app.tools.replay import replay
from riskstream.core.ids import now_ms
from riskstream.core.pseudonyms import patient_ref, pseudonym_key
from riskstream.core.settings import Settings
from riskstream.core.topics import DRIFT_ALERTS, PATIENT_RECORDS
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.reading import TopicReadError, messages
from riskstream.models.monitoring.alerts import alert_event
from riskstream.models.registry import CHAMPION, Registry
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.events import DriftAlert
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import (
    deployment_with_champion,
    fresh_prefix,
    process_env,
    worker_env,
)
from tests.waiting import wait_for

# one worker runs the module, so its scored deployment (about 8 s) is set up once
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("tools")]


@pytest.fixture(scope="module")
def scored(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A deployment whose scorer has scored 600 simulated records (with ground truth)."""
    settings = deployment_with_champion(stack, "tl", tmp_path_factory.mktemp("tools"))
    _publish_simulated(settings, 600)
    scorer = Scorer(settings)
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: scorer.stats.predictions >= 600, 60)
    stop.set()
    thread.join(30)
    assert scorer.stats.predictions == 600
    return settings


def _publish_simulated(settings: Settings, count: int, seed: int = 1) -> None:
    """Simulated records of 7 patients, ten minutes old, each with its ground truth."""
    publisher = Publisher(settings)
    sim = Simulator(PimaModel.fit(), Scenario.named("none"), seed=seed, run=f"s{seed}")
    for i, item in enumerate(sim.stream(count, now_ms() - 600_000)):
        record = replace(item.record, patient_id=f"p{i % 7}")
        publisher.send_record(record)
        publisher.send_truth(record, item.outcome)
    assert publisher.finish(PublishSummary(sent=count)).failed == 0


def test_predictions_filters_and_cli(scored: Settings) -> None:
    everything = list(read_predictions(scored, "beginning"))
    assert len(everything) == 600 and len({p.request_id for p in everything}) == 600
    p3 = patient_ref(pseudonym_key(scored), "p3")  # the predictions carry no patient id
    assert not any("p3" in (p.patient_ref, p.request_id) for p in everything)
    mine = list(read_predictions(scored, "beginning", PredictionFilter.of(scored, "p3")))
    assert mine and {p.patient_ref for p in mine} == {p3}
    assert len(mine) == sum(p.patient_ref == p3 for p in everything)
    risky = list(read_predictions(scored, "beginning", PredictionFilter(min_risk=0.6)))
    assert len(risky) == sum(p.risk >= 0.6 for p in everything) and risky
    assert list(read_predictions(scored, "beginning", PredictionFilter(model_version="99"))) == []
    assert len(list(read_predictions(scored, "beginning", limit=5))) == 5
    assert list(read_predictions(scored, "end")) == []  # from the end: nothing new

    result = CliRunner().invoke(
        app,
        [
            "predictions",
            "--from",
            "beginning",
            "--patient",
            "p3",
            "--format",
            "jsonl",
            "--limit",
            "4",
        ],
        env=worker_env(scored),
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 4 and {p["patient_ref"] for p in lines} == {p3}


def _alert(settings: Settings, severity: str) -> DriftAlert:
    now = now_ms()
    return alert_event(
        settings.model_name,
        "1",
        kind="DATA_DRIFT",
        status="FIRING",
        severity=severity,
        statistic="psi",
        value=0.3,
        threshold=0.1,
        window=(now, now),
        sample_size=500,
        feature="glucose",
        message=f"glucose entered drift ({severity})",
    )


def test_watch_exits_on_an_alert_and_times_out_without_one(scored: Settings) -> None:
    codec = codec_for(scored)

    # from a time, not from the end: whenever watch starts reading, these alerts are ahead
    since = str(int(time.time() * 1000))
    producer = Producer(scored.kafka_config())
    for severity in ("LOW", "HIGH"):
        producer.produce(
            scored.topic(DRIFT_ALERTS.name),
            key=b"glucose",
            value=codec.encode_event(_alert(scored, severity)),
        )
    assert producer.flush(10) == 0
    argv = [sys.executable, "-m", "riskstream.app.cli.main", "watch"]
    waited = subprocess.run(
        [*argv, "--from", since, "--exit-on", "HIGH", "--timeout", "60"],
        env=process_env(scored),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert waited.returncode == 0, waited.stderr
    assert "glucose entered drift (HIGH)" in waited.stdout
    quiet = subprocess.run(
        [*argv, "--exit-on", "CRITICAL", "--timeout", "4"],
        env=process_env(scored),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert quiet.returncode == 1
    assert "no CRITICAL or higher alert within 4 s" in quiet.stderr


def test_replay_keeps_keys_headers_timestamps_and_order(scored: Settings) -> None:
    source = scored.topic(PATIENT_RECORDS.name)
    target = scored.topic("replayed-records")
    admin = AdminClient(scored.kafka_config())
    for future in admin.create_topics([NewTopic(target, scored.topic_partitions, 1)]).values():
        future.result()
    time.sleep(1)
    report = replay(scored, source, target, "beginning")
    assert report.copied == 600 and report.failed == 0

    def by_partition(topic: str) -> dict[int, list[tuple[Any, ...]]]:
        out: dict[int, list[tuple[Any, ...]]] = {}
        for m in messages(scored, topic, "beginning"):
            out.setdefault(int(m.partition() or 0), []).append(
                (m.key(), m.value(), m.headers(), m.timestamp()[1])
            )
        return out

    assert by_partition(target) == by_partition(source)

    # explicit start offsets copy exactly the partitions they name, from those offsets
    named = scored.topic("replayed-named")
    source_rows = by_partition(source)
    report = replay(scored, source, named, {0: 10, 2: 0})
    assert report.copied == len(source_rows[0]) - 10 + len(source_rows[2])
    copied_rows = by_partition(named)
    assert set(copied_rows) == {0, 2}
    assert copied_rows[0] == source_rows[0][10:] and copied_rows[2] == source_rows[2]
    with pytest.raises(TopicReadError, match="partitions the topic does not have"):
        replay(scored, source, named, {99: 0})

    # a time range, into a target that does not exist yet: replay makes it like the source
    stamps = sorted(m.timestamp()[1] for m in messages(scored, source, "beginning"))
    lo, hi = stamps[100], stamps[100] + 10_000
    copied = scored.topic("replayed-range")
    report = replay(scored, source, copied, lo, hi)
    assert report.copied == sum(lo <= s < hi for s in stamps)
    made = admin.list_topics(copied, timeout=10).topics[copied]
    assert len(made.partitions) == scored.topic_partitions

    # paced: 2 s of recording (records 100 ms apart) replayed at 2x take about 1 s
    recorded = scored.topic("recorded-paced")
    for future in admin.create_topics([NewTopic(recorded, 1, 1)]).values():
        future.result()
    time.sleep(1)
    producer = Producer(scored.kafka_config())
    base = now_ms() - 60_000
    for i in range(21):
        producer.produce(recorded, key=b"k", value=b"v%d" % i, timestamp=base + 100 * i)
    assert producer.flush(30) == 0
    began = time.monotonic()
    report = replay(scored, recorded, scored.topic("replayed-paced"), "beginning", speed=2.0)
    elapsed = time.monotonic() - began
    assert report.copied == 21
    assert 0.9 <= elapsed < 10, elapsed


class Flipped:
    """An estimator that ranks patients backwards: the version built to lose."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.inner.predict_proba(x))[:, ::-1]


def test_backtest_names_the_better_version_and_its_report_renders(
    scored: Settings, tmp_path: Path
) -> None:
    registry = Registry(scored)
    champion = registry.alias_version(CHAMPION)
    assert champion is not None
    worse = registry.load(champion)
    worse.estimator = Flipped(worse.estimator)
    worse.explainer = "occlusion"
    _, worse_version = registry.log_and_register(
        worse, params={"test": "flipped"}, metrics={}, tags={"riskstream.candidate": "flipped"}
    )
    result = backtest(scored, ["champion", worse_version], "beginning", buckets=5)
    assert result.records == 600
    assert result.ranking == [champion, worse_version]
    best, other = (next(v for v in result.versions if v.version == x) for x in result.ranking)
    assert best.overall["roc_auc"] > 0.7 > 0.3 > other.overall["roc_auc"]
    assert len(best.buckets) == 5 and sum(b["n"] for b in best.buckets) == 600
    assert set(best.drift) == set(registry.load(champion).reference["features"])
    summary = result.summary()
    assert summary["better_champion"] == champion
    page = render_html(result)
    assert f"<b>version {champion}</b> would have" in page
    assert page.count("data:image/png;base64,") == 3 and "http" not in page.split("<body>")[1]

    report = tmp_path / "report.html"
    report.write_text(page)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed: apt-get install -y chromium (.ci/run does)"
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1200,2600",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    colours = {tuple(p) for p in (pixels[::7, ::7, :3] * 255).astype(int).reshape(-1, 3)}
    assert pixels.shape[0] >= 2000 and len(colours) > 100, "the plots did not render"
    Path("/tmp/riskstream-backtest-screenshot.png").write_bytes(shot.read_bytes())


def test_readers_count_malformed_messages_and_read_on(stack: Settings) -> None:
    """Empty, truncated, random and JSON values among 2,000 predictions: every valid one is
    printed and the malformed ones are reported at the end, by reason. Before this, the
    reader stopped at the first with "message value is empty" (178 of 2,000 shown)."""
    import random

    from confluent_kafka import Producer

    from riskstream.core.topics import PREDICTIONS
    from riskstream.io.kafka.admin import ensure_topics
    from riskstream.io.kafka.clients import codec_for
    from tests.unit.schemas.samples import SAMPLES

    settings = stack.model_copy(update={"topic_prefix": fresh_prefix("rd")})
    ensure_topics(settings)
    codec = codec_for(settings)
    valid = codec.encode("Prediction", SAMPLES["Prediction"])
    rng = random.Random(3)
    bad = [b"", valid[:7], bytes(rng.randrange(256) for _ in range(40)), b'{"risk": 0.4}']
    producer = Producer(settings.kafka_config())
    topic = settings.topic(PREDICTIONS.name)
    for i in range(2000):
        if i % 400 == 150:
            producer.produce(topic, key=b"p1", value=bad[(i // 400) % 4])
        producer.produce(topic, key=b"p1", value=valid)
    assert producer.flush(30) == 0

    result = CliRunner().invoke(
        app,
        ["predictions", "--from", "beginning", "--format", "jsonl"],
        env=worker_env(settings),
    )
    assert result.exit_code == 0, result.output
    shown = [line for line in result.output.splitlines() if line.startswith("{")]
    assert len(shown) == 2000
    assert "skipped 5 message(s) of the prediction topic that do not decode" in result.output
    for alerts in (DRIFT_ALERTS,):  # watch reads on past bad alerts too
        producer.produce(settings.topic(alerts.name), value=b"")
        producer.produce(
            settings.topic(alerts.name),
            value=codec.encode_event(_alert(settings, "HIGH")),
        )
    assert producer.flush(30) == 0
    watched = CliRunner().invoke(
        app,
        ["watch", "--from", "beginning", "--exit-on", "HIGH", "--timeout", "30"],
        env=worker_env(settings),
    )
    assert watched.exit_code == 0, watched.output
    assert "skipped 1 message(s) of the drift-alert topic" in watched.output
