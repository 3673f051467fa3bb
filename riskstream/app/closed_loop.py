"""The closed loop, end to end: drift → alert → retrain → promote → recovery.

Runs every worker (scorer, joiner, monitor, performance monitor, trigger, trainer) in this
process, drives them with the simulator's drift scenario, prints a timeline as things happen
(``loop_timeline``), and measures and judges each step (``loop_report``). ``riskstream demo``
and its integration test call :func:`run_loop`.

Promotion is on the holdout, or with ``evidence="live"`` on paired live labels (the
challenger in shadow, then the trainer's referee). The ``bad-challenger`` scenario ends the
drift as soon as the retrain is requested: the retrained version learned a concept the
traffic no longer follows. It must then be rejected on live evidence, or rolled back by the
canary watch when the holdout promoted it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import takewhile

from riskstream.app.loop_report import (
    BAD_CHALLENGER,
    LoopReport,
    count_phases,
    dead_end,
    judge,
    still_drifting,
)
from riskstream.app.loop_timeline import Echo, Timeline
from riskstream.core.settings import Settings
from riskstream.core.topics import LABELED_EXAMPLES
from riskstream.core.worker_slices import (
    ChampionSettings,
    LabelJoinerSettings,
    MonitoringSettings,
    RetrainTriggerSettings,
)
from riskstream.io.kafka.admin import ensure_topics
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.model_events import publish_model_event
from riskstream.io.kafka.reading import messages
from riskstream.models.bootstrap import bootstrap
from riskstream.models.monitoring.windows import window_start
from riskstream.models.registry import CHAMPION, Registry
from riskstream.producers.publish import publish_simulated
from riskstream.producers.simulator import PimaModel, Scenario, SimulatedRecord, Simulator
from riskstream.schemas import CodecError
from riskstream.schemas.events import LabeledExample
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.performance import PerformanceMonitor
from riskstream.stream_processors.scorer import Scorer
from riskstream.stream_processors.trainer import Trainer
from riskstream.stream_processors.trigger import Trigger


@dataclass(frozen=True)
class LoopConfig:
    scenario: str = "drift-demo"  # a simulator scenario, or bad-challenger
    evidence: str = "holdout"  # holdout | live (RISKSTREAM_PROMOTION_EVIDENCE)
    rate: float = 100.0  # records per second: modest, for a 2-core machine
    # a cap: the traffic ends on evidence, once the new champion's own windows are judged
    duration_s: float = 600.0
    drift_at_s: float = 45.0
    size_sd: float = 1.0
    label_delay_s: float = 1.0
    window_s: int = 10
    settle_s: float = 90.0  # after publishing, how long to wait for the loop to close
    seed: int = 0
    # at least this many records after the loop's last step (the new champion serves; for
    # the bad challenger, its rejection or rollback), on top of the evidence
    after_recovery: int = 0


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
            "promotion_evidence": config.evidence,
            "referee_interval_s": 5.0,  # the referee and the canary look every 5 s
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
    report = LoopReport(
        ensure_bootstrap_champion(settings, echo),
        scenario=config.scenario,
        evidence=config.evidence,
        cap_s=config.duration_s,
    )
    run = uuid.uuid4().hex[:8]
    stop = threading.Event()
    scorer = Scorer(settings.slice(ChampionSettings), instance="demo")
    joiner, monitor = (
        Joiner(settings.slice(LabelJoinerSettings)),
        Monitor(settings.slice(MonitoringSettings)),
    )
    threads = _start_workers(settings, config, (scorer, joiner, monitor), report, stop)
    timeline = Timeline(echo, time.time(), scorer, joiner, monitor)
    watcher = threading.Thread(target=timeline.follow, args=(report, stop), daemon=True)
    watcher.start()
    try:
        _wait_until(lambda: scorer.models.current is not None or stop.is_set(), 60)
        drift_index = _publish(settings, config, run, joiner, monitor, report, stop, echo)
    finally:
        stop.set()
        for thread in [*threads, watcher]:
            thread.join(30)
    report.first_offsets = dict(scorer.stats.first_offset_by_version)
    current = scorer.models.current
    report.final_version = None if current is None else current.version
    count_phases(report, _labeled(settings, report, f"sim-{run}-"), f"sim-{run}-", drift_index)
    judge(report)
    return report


def _start_workers(
    settings: Settings,
    config: LoopConfig,
    watched: tuple[Scorer, Joiner, Monitor],
    report: LoopReport,
    stop: threading.Event,
) -> list[threading.Thread]:
    """Every worker of the loop on a thread of its own; one that dies is noted in the
    report and stops the rest."""
    scorer, joiner, monitor = watched
    workers: dict[str, Callable[[threading.Event], object]] = {
        "scorer": scorer.run,
        "joiner": joiner.run,
        "monitor": monitor.run,
        "performance": PerformanceMonitor(settings.slice(MonitoringSettings)).run,
        "trigger": Trigger(settings.slice(RetrainTriggerSettings)).run,
        "trainer": Trainer(settings.slice(MonitoringSettings), seed=config.seed).run,
    }
    threads = [
        threading.Thread(
            target=_guarded, args=(name, run_worker, stop, report.died), daemon=True, name=name
        )
        for name, run_worker in workers.items()
    ]
    for thread in threads:
        thread.start()
    return threads


def _publish(
    settings: Settings,
    config: LoopConfig,
    run: str,
    joiner: Joiner,
    monitor: Monitor,
    report: LoopReport,
    stop: threading.Event,
    echo: Echo,
) -> int:
    """Publish the simulated records and labels until the evidence is in (or the cap), then
    wait for the last step, every label joined and the last window judged. The index of the
    first drifted record."""
    count = int(config.rate * config.duration_s)
    drift_index = int(config.rate * config.drift_at_s)
    model = PimaModel.fit()
    publish_start = time.time()
    report.drift_onset = publish_start + config.drift_at_s
    records = _simulated(
        config, model, run, (drift_index, count, int(publish_start * 1000)), report, echo
    )
    window_ms = settings.monitor_window_s * 1000
    # Traffic ends with a whole window: a last window cut short would be judged as what
    # it looks like, a volume drop (the demo's last alert before this was one).
    end = window_start(int((publish_start + count / config.rate) * 1000), window_ms)
    records = takewhile(lambda r: r.record.event_time < end, records)
    records = _until_evidence(records, report, monitor, config.after_recovery, window_ms)
    records = takewhile(lambda _: not stop.is_set(), records)  # a worker died: stop
    last: list[int] = [int(publish_start * 1000)]
    summary = publish_simulated(settings, _noting_last(records, last), labels=True)
    report.records, report.seconds = summary.sent, summary.seconds
    # the window of the last record published (not of the clock: labels follow records,
    # and the window the clock is in when they are delivered may hold no record at all)
    last_window = window_start(last[0], window_ms)
    _wait_until(  # the last step, every label joined, and the last window judged
        lambda: (
            stop.is_set()
            or dead_end(report) is not None
            or (
                _last_step(report) is not None
                and joiner.stats.joined >= report.records
                and monitor.stats.last_closed >= last_window
            )
        ),
        config.settle_s,
    )
    return drift_index


def _simulated(
    config: LoopConfig,
    model: PimaModel,
    run: str,
    plan: tuple[int, int, int],
    report: LoopReport,
    echo: Echo,
) -> Iterator[SimulatedRecord]:
    """The simulator's records (``plan``: drift index, count, first event time): the drift
    scenario; for the bad challenger, the drift-demo's until the first retrain request, the
    same patients without the drift from then on."""
    drift_index, count, start_ms = plan
    bad = config.scenario == BAD_CHALLENGER

    def stream(name: str) -> Iterator[SimulatedRecord]:
        scenario = Scenario.named(
            name, start=drift_index, size_sd=config.size_sd, label_delay_s=config.label_delay_s
        )
        sim = Simulator(model, scenario, seed=config.seed, rate=config.rate, run=run)
        return sim.stream(count, start_ms)

    drifting = stream("drift-demo" if bad else config.scenario)
    echo(
        f"publishing at {config.rate:.0f}/s until the new champion's own windows are judged "
        f"(at most {count} records); "
        f"{'drift-demo' if bad else config.scenario} from record {drift_index} "
        f"(t+{config.drift_at_s:.0f}s), labels after ~{config.label_delay_s}s; promotion on "
        f"{config.evidence} evidence"
        + ("; the drift ends when the retrain is requested" if bad else "")
    )
    if not bad:
        return drifting
    return _drift_ends_on_request(drifting, stream("none"), report)


def _drift_ends_on_request(
    drifting: Iterator[SimulatedRecord], clean: Iterator[SimulatedRecord], report: LoopReport
) -> Iterator[SimulatedRecord]:
    """Record i of the drifting stream until a retrain is requested, then record i of the
    clean one (the same seed: the same patients' features, without the drift)."""
    for i, (drifted, plain) in enumerate(zip(drifting, clean, strict=True)):
        if report.requests and report.drift_ended_at is None:
            report.drift_ended_at = i
        yield plain if report.drift_ended_at is not None else drifted


def _last_step(report: LoopReport) -> float | None:
    """When the run's last step happened: the new champion serving; for the bad challenger,
    its rejection or rollback (and the old champion serving again)."""
    if not report.bad_challenger:
        return report.recovered_at
    if report.evidence == "holdout" and report.final_version != report.old_version:
        return None
    return report.settled_at


def _labeled(settings: Settings, report: LoopReport, prefix: str) -> list[LabeledExample]:
    """This run's labeled examples (undecodable ones are counted in the report)."""
    codec = codec_for(settings)
    out = []
    for message in messages(settings, settings.topic(LABELED_EXAMPLES.name), "beginning"):
        try:
            example = codec.decode_event(message.value(), LabeledExample)
        except CodecError:
            report.undecodable += 1  # counted and reported; the reading goes on
            continue
        if example.request_id.startswith(prefix):
            out.append(example)
    return out


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


def _until_evidence(
    records: Iterator[SimulatedRecord],
    report: LoopReport,
    monitor: Monitor,
    after: int,
    window_ms: int,
) -> Iterator[SimulatedRecord]:
    """The simulated records until the evidence is in (:func:`_evidence_in`, and at least
    ``after`` records after the loop's last step), then to the end of that window: a last
    window cut short would be judged as what it looks like, a volume drop. Running out of
    records first (the cap) is noted in the report; a loop that can no longer close
    (:func:`~riskstream.app.loop_report.dead_end`) ends the traffic at once."""
    served = 0
    stop_at: int | None = None
    for record in records:
        event_ms = record.record.event_time
        if stop_at is None and dead_end(report) is not None:
            return  # the loop cannot close: more traffic would only hide why
        if stop_at is None and _last_step(report) is not None:
            served += 1
            if served > after and _evidence_in(report, monitor, window_ms):
                stop_at = window_start(event_ms, window_ms) + window_ms
        if stop_at is not None and event_ms >= stop_at:
            return
        yield record
    if stop_at is None:
        report.capped = True


def _evidence_in(report: LoopReport, monitor: Monitor, window_ms: int) -> bool:
    """Whether the run has shown its ending: the drift monitor judged the first window the
    new champion served whole, and the alerts that asked for it resolved; or a second whole
    window, with them visibly still firing. For the bad challenger: a whole window served
    after its rejection or rollback."""
    last = _last_step(report)
    if last is None:
        return False
    first_whole = window_start(int(last * 1000), window_ms) + window_ms
    closed = monitor.stats.last_closed
    if report.bad_challenger or closed >= first_whole + window_ms:
        return closed >= first_whole
    return closed >= first_whole and not still_drifting(report.alerts)


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()
