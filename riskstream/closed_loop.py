"""The closed loop, end to end: drift → alert → retrain → promote → recovery.

Runs every worker (scorer, joiner, monitor, trigger, trainer) in this process, drives them
with the simulator's drift scenario, prints a timeline as things happen, and measures each
step. ``riskstream demo`` and its integration test call :func:`run_loop`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any

from riskstream.kafka.admin import ensure_topics
from riskstream.kafka.clients import codec_for
from riskstream.kafka.follow import EventFollower
from riskstream.kafka.model_events import publish_model_event
from riskstream.kafka.reading import messages
from riskstream.models.bootstrap import bootstrap
from riskstream.models.registry import CHAMPION, Registry
from riskstream.producers.publish import publish_simulated
from riskstream.producers.simulator import PimaModel, Scenario, SimulatedRecord, Simulator
from riskstream.schemas import CodecError
from riskstream.schemas.events import (
    DriftAlert,
    LabeledExample,
    ModelVersionEvent,
    RetrainRequest,
)
from riskstream.settings import Settings
from riskstream.stream_processors.alerts import alert_subject
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.performance import PerformanceMonitor
from riskstream.stream_processors.scorer import Scorer
from riskstream.stream_processors.trainer import Trainer
from riskstream.stream_processors.trigger import Trigger
from riskstream.stream_processors.windows import window_start
from riskstream.topics import DRIFT_ALERTS, LABELED_EXAMPLES, MODEL_VERSIONS, RETRAIN_REQUESTS

Echo = Callable[[str], None]
# The drift monitor's alerts: the ones the loop reacts to (performance alerts go to the log).
DRIFT_MONITOR_KINDS = frozenset({"DATA_DRIFT", "SCORE_DRIFT", "DATA_QUALITY", "VOLUME"})


@dataclass(frozen=True)
class LoopConfig:
    scenario: str = "drift-demo"
    rate: float = 100.0  # records per second: modest, for a 2-core machine
    duration_s: float = 150.0
    drift_at_s: float = 45.0
    size_sd: float = 1.0
    label_delay_s: float = 1.0
    window_s: int = 10
    settle_s: float = 90.0  # after publishing, how long to wait for the loop to close
    seed: int = 0
    # > 0: stop publishing this many records after the new champion serves (duration_s is
    # then a cap), so the last phase has its records however long recovery took
    after_recovery: int = 0


@dataclass
class Phase:
    n: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")


@dataclass
class LoopReport:
    old_version: str
    new_version: str | None = None
    records: int = 0
    seconds: float = 0.0
    alerts: list[DriftAlert] = field(default_factory=list)
    requests: list[tuple[str, RetrainRequest]] = field(default_factory=list)
    outcome: dict[str, Any] | None = None
    first_offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    phases: dict[str, Phase] = field(default_factory=dict)
    drift_onset: float = 0.0
    recovered_at: float | None = None
    missing_steps: list[str] = field(default_factory=list)
    undecodable: int = 0  # labeled examples the report could not read
    died: dict[str, str] = field(default_factory=dict)  # worker → why its thread ended
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (seconds, what)

    @property
    def time_to_recovery_s(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.drift_onset

    @property
    def closed(self) -> bool:
        return not self.missing_steps


def loop_settings(settings: Settings, config: LoopConfig) -> Settings:
    return settings.model_copy(
        update={
            "monitor_window_s": config.window_s,
            "monitor_lateness_s": max(2, config.window_s // 3),
            "monitor_idle_s": max(2, config.window_s // 3),
            # labels lag predictions, so performance windows are longer than drift windows
            "performance_window_s": 3 * config.window_s,
            "performance_lateness_s": config.window_s,
            "trigger_label_count": 10**9,  # the demo is about drift, not label counts
            "trigger_cooldown_s": 3600.0,
        }
    )


def ensure_bootstrap_champion(settings: Settings, echo: Echo) -> str:
    """The loop starts from a Pima-trained champion: bootstrap one, or restore the latest
    bootstrap version if an earlier run left a retrained one in place."""
    registry = Registry(settings)
    champion = registry.alias_version(CHAMPION)
    if (
        champion is not None
        and registry.get(champion).tags.get("riskstream.training_reason") == "BOOTSTRAP"
    ):
        echo(f"champion is version {champion} (bootstrap)")
        return champion
    boots = [
        v for v in registry.versions() if v.tags.get("riskstream.training_reason") == "BOOTSTRAP"
    ]
    if boots:
        registry.promote(boots[-1].version)
        echo(f"restored bootstrap version {boots[-1].version} as champion")
        return boots[-1].version
    echo("no champion: bootstrap training on Pima.tr2 …")
    report = bootstrap(settings)
    publish_model_event(settings, report.event)
    test = report.holdout[report.result.selected.name]
    echo(
        f"version {report.version} ({report.result.selected.name}): Pima.te errors "
        f"{test['errors']:.0f}/332, ROC-AUC {test['roc_auc']:.3f}"
    )
    if report.alias != CHAMPION:
        registry.promote(report.version)
    return report.version


def run_loop(settings: Settings, config: LoopConfig, echo: Echo) -> LoopReport:
    settings = loop_settings(settings, config)
    ensure_topics(settings)
    report = LoopReport(ensure_bootstrap_champion(settings, echo))
    run = uuid.uuid4().hex[:8]
    stop = threading.Event()
    scorer, joiner, monitor = Scorer(settings, instance="demo"), Joiner(settings), Monitor(settings)
    trigger, trainer = Trigger(settings), Trainer(settings, seed=config.seed)
    performance = PerformanceMonitor(settings)
    workers: dict[str, Callable[[threading.Event], object]] = {
        "scorer": scorer.run,
        "joiner": joiner.run,
        "monitor": monitor.run,
        "performance": performance.run,
        "trigger": trigger.run,
        "trainer": trainer.run,
    }
    threads = [
        threading.Thread(
            target=_guarded, args=(name, run_worker, stop, report.died), daemon=True, name=name
        )
        for name, run_worker in workers.items()
    ]
    for thread in threads:
        thread.start()
    started = time.time()
    timeline = _Timeline(echo, started, scorer, monitor, trigger, trainer, report)
    watcher = threading.Thread(target=timeline.follow, args=(stop,), daemon=True)
    watcher.start()
    try:
        _wait_until(lambda: scorer.models.current is not None or stop.is_set(), 60)
        count = int(config.rate * config.duration_s)
        drift_index = int(config.rate * config.drift_at_s)
        scenario = Scenario.named(
            config.scenario,
            start=drift_index,
            size_sd=config.size_sd,
            label_delay_s=config.label_delay_s,
        )
        sim = Simulator(PimaModel.fit(), scenario, seed=config.seed, rate=config.rate, run=run)
        echo(
            f"publishing {count} records at {config.rate:.0f}/s; {config.scenario} from record "
            f"{drift_index} (t+{config.drift_at_s:.0f}s), labels after ~{config.label_delay_s}s"
        )
        publish_start = time.time()
        report.drift_onset = publish_start + config.drift_at_s
        records = sim.stream(count, int(publish_start * 1000))
        window_ms = settings.monitor_window_s * 1000
        # Traffic ends with a whole window: a last window cut short would be judged as what
        # it looks like, a volume drop (the demo's last alert before this was one).
        end = window_start(int((publish_start + count / config.rate) * 1000), window_ms)
        records = takewhile(lambda r: r.record.event_time < end, records)
        if config.after_recovery > 0:
            records = _until_recovered(records, report, config.after_recovery, window_ms)
        records = takewhile(lambda _: not stop.is_set(), records)  # a worker died: stop
        last: list[int] = [int(publish_start * 1000)]
        summary = publish_simulated(settings, _noting_last(records, last), labels=True)
        report.records, report.seconds = summary.sent, summary.seconds
        # the window of the last record published (not of the clock: labels follow records,
        # and the window the clock is in when they are delivered may hold no record at all)
        last_window = window_start(last[0], settings.monitor_window_s * 1000)
        _wait_until(  # recovered, every label joined, and the last window judged
            lambda: (
                stop.is_set()
                or (
                    report.recovered_at is not None
                    and joiner.stats.joined >= report.records
                    and monitor.stats.last_closed >= last_window
                )
            ),
            config.settle_s,
        )
    finally:
        stop.set()
        for thread in [*threads, watcher]:
            thread.join(30)
    report.first_offsets = dict(scorer.stats.first_offset_by_version)
    _phases(settings, report, run, drift_index)
    _judge(report)
    return report


class _Timeline:
    """Prints each step of the loop as it happens."""

    def __init__(
        self,
        echo: Echo,
        started: float,
        scorer: Scorer,
        monitor: Monitor,
        trigger: Trigger,
        trainer: Trainer,
        report: LoopReport,
    ) -> None:
        self.echo, self.started, self.report = echo, started, report
        self.settings = scorer.settings
        self.scorer, self.monitor, self.trigger, self.trainer = scorer, monitor, trigger, trainer

    def say(self, text: str) -> None:
        elapsed = time.time() - self.started
        self.report.timeline.append((elapsed, text))
        self.echo(f"  t+{elapsed:6.1f}s  {text}")

    def follow(self, stop: threading.Event) -> None:
        """Narrate from the topics, as a user watching them would."""
        follower = EventFollower(
            self.settings,
            {
                DRIFT_ALERTS.name: DriftAlert,
                RETRAIN_REQUESTS.name: RetrainRequest,
                MODEL_VERSIONS.name: ModelVersionEvent,
            },
        )
        try:
            self._follow(follower, stop)
        finally:
            follower.close()

    def _follow(self, follower: EventFollower, stop: threading.Event) -> None:
        last_progress = 0.0
        while not stop.is_set():
            for event in follower.poll(0.5):
                if isinstance(event, DriftAlert) and event.kind in DRIFT_MONITOR_KINDS:
                    self.report.alerts.append(event)
                    self.say(
                        f"ALERT {event.status} {event.severity} {event.kind} "
                        f"{alert_subject(event)}: {event.statistic} {event.value:.3f} "
                        f"(window of {event.sample_size} records)"
                    )
                elif isinstance(event, RetrainRequest):
                    self.report.requests.append((event.retrain_id, event))
                    self.say(f"RETRAIN requested ({'+'.join(event.reasons)}: {event.detail})")
                elif isinstance(event, ModelVersionEvent) and "retrain_ids" in event.lineage:
                    self.report.outcome = event.to_avro()
                    if event.status == "PROMOTED":
                        self.report.new_version = event.version
                    self.say(f"TRAINER {event.status} version {event.version}: {event.reason}")
            new = self.report.new_version
            if new and self.report.recovered_at is None and new in self.scorer.models.serving_since:
                self.report.recovered_at = self.scorer.models.serving_since[new]
                self.say(f"SCORER now serves version {new}")
            if time.time() - last_progress >= 15:
                last_progress = time.time()
                self.say(
                    f"scored {self.scorer.stats.predictions} records, "
                    f"{self.monitor.stats.windows_closed} windows closed"
                )


def _guarded(
    name: str, run: Callable[[threading.Event], object], stop: threading.Event, died: dict[str, str]
) -> None:
    """Run a worker; if it dies, record which and why and stop the loop: a loop with a dead
    worker cannot close, and waiting out its timeouts would only hide the reason."""
    try:
        run(stop)
    except Exception as exc:
        died[name] = f"{type(exc).__name__}: {exc}"
        stop.set()


def _noting_last(records: Iterable[SimulatedRecord], last: list[int]) -> Iterator[SimulatedRecord]:
    """The records, noting the event time of the latest one in ``last[0]``."""
    for record in records:
        last[0] = record.record.event_time
        yield record


def _until_recovered(
    records: Iterator[SimulatedRecord], report: LoopReport, after: int, window_ms: int
) -> Iterator[SimulatedRecord]:
    """The simulated records up to ``after`` more once the scorer serves the new champion,
    then to the end of that window: a last window cut short would be judged as what it
    looks like, a volume drop."""
    served = 0
    stop_at: int | None = None
    for record in records:
        if report.recovered_at is not None:
            served += 1
            event_ms = record.record.event_time
            if served > after and stop_at is None:
                stop_at = window_start(event_ms, window_ms) + window_ms
            if stop_at is not None and event_ms >= stop_at:
                return
        yield record


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def _phases(settings: Settings, report: LoopReport, run: str, drift_index: int) -> None:
    """Accuracy of the served predictions before the drift, during it (old champion on
    drifted traffic) and after recovery (new champion on drifted traffic)."""
    codec = codec_for(settings)
    topic = settings.topic(LABELED_EXAMPLES.name)
    phases = {"before drift": Phase(), "during drift": Phase(), "after recovery": Phase()}
    prefix = f"sim-{run}-"
    for message in messages(settings, topic, "beginning"):
        try:
            example = codec.decode_event(message.value(), LabeledExample)
        except CodecError:
            report.undecodable += 1  # counted and reported; the reading goes on
            continue
        if not example.request_id.startswith(prefix):
            continue
        index = int(example.request_id[len(prefix) :])
        if index < drift_index:
            phase = phases["before drift"]
        elif example.model_version == report.new_version:
            phase = phases["after recovery"]
        else:
            phase = phases["during drift"]
        phase.n += 1
        phase.correct += int(example.label == example.predicted_label)
    report.phases = phases


def still_drifting(alerts: list[DriftAlert]) -> list[str]:
    """The drift subjects whose last alert is FIRING: not resolved by the end of the run."""
    last: dict[str, str] = {}
    for alert in alerts:
        if alert.kind in ("DATA_DRIFT", "SCORE_DRIFT"):
            last[alert_subject(alert)] = alert.status
    return sorted(subject for subject, status in last.items() if status == "FIRING")


def _judge(report: LoopReport) -> None:
    missing = report.missing_steps
    for name, why in report.died.items():
        missing.append(f"the {name} worker died: {why}")
    if not any(a.status == "FIRING" for a in report.alerts):
        missing.append("no drift alert fired")
    if not report.requests:
        missing.append("no retrain was requested")
    if report.new_version is None:
        missing.append(
            "no new champion was promoted"
            + (
                f" (trainer: {report.outcome['status']}: {report.outcome['reason']})"
                if report.outcome
                else ""
            )
        )
    elif report.recovered_at is None:
        missing.append("the scorer never served the new champion")
    else:
        still = still_drifting(report.alerts)
        if still:
            missing.append(f"drift alerts still firing after recovery: {', '.join(still)}")
    if len(report.requests) > 1:
        missing.append(f"{len(report.requests)} retrain requests for one incident")
    during = report.phases.get("during drift", Phase())
    after = report.phases.get("after recovery", Phase())
    if not after.n or not during.n:
        missing.append("too few labeled predictions to compare old and new champion")
    elif not after.accuracy > during.accuracy:
        missing.append(
            f"the new champion ({after.accuracy:.3f}) did not beat the old one "
            f"({during.accuracy:.3f}) on drifted traffic"
        )
