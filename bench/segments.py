"""Per-source segments: how fast a drift in one clinic of five is found, and how often the
other clinics (and the whole stream) raise a false alarm, on the simulator's streams.

The champion is bootstrapped on Pima.tr2 as `riskstream model train` does. Each stream
comes from five clinics evenly; it is clean for ``clean`` windows, then clinic-2's glucose
is measured ``size`` sd high. Each window of ``window`` records is judged as the drift
monitor judges it (``windows.count_fields`` with segments, ``segment_histograms``,
``drift_verdicts`` with the per-segment Bonferroni, hysteresis), for the whole stream and
for each clinic. Pure computation, no broker: the stack adds only transport and Redis.
"""

from __future__ import annotations

import copy
from typing import Any

from bench.common import Echo, bundled_training
from riskstream.models.monitoring.statistics import DriftThresholds, drift_verdicts
from riskstream.models.monitoring.windows import (
    Observation,
    count_fields,
    histograms,
    segment_histograms,
)
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.patient_record import RAW_FEATURES
from riskstream.stream_processors.window_verdicts import drift_inputs, segment_thresholds

SOURCES, DRIFTED = 5, "clinic-2"
SERIOUS = ("HIGH", "CRITICAL")


def _observations(
    model: Any, size: float, windows: int, clean: int, window: int, seed: int
) -> list[list[Observation]]:
    n = windows * window
    scenario = Scenario.named("source-drift", start=clean * window, size_sd=size, source=2)
    sim = Simulator(PimaModel.fit(), scenario, seed=seed, sources=SOURCES)
    batch = sim.draw(n)
    frame = batch.frame[list(RAW_FEATURES)].astype(float)
    features = model.pipeline.frame(frame)
    _, risk = model.predict_frame(frame)
    rows = features.to_dict("records")
    out = []
    for w in range(windows):
        out.append(
            [
                Observation(0, i, 0, rows[i], float(risk[i]), (), 0, str(batch.sources[i]))
                for i in range(w * window, (w + 1) * window)
            ]
        )
    return out


def _run(
    model: Any, size: float, *, windows: int, clean: int, window: int, seed: int
) -> dict[str, Any]:
    reference = model.reference
    thresholds = DriftThresholds()
    was: dict[str, set[str]] = {}  # scope → features in drift (hysteresis)
    first: dict[str, int] = {}  # scope → first window with a HIGH+ verdict
    alarms: dict[str, int] = {}  # scope → windows with a new FIRING of MEDIUM+
    low: dict[str, int] = {}  # scope → windows with a new FIRING of any severity
    for w, group in enumerate(_observations(model, size, windows, clean, window, seed)):
        raw = count_fields(group, reference)
        scopes = {"all": histograms(raw, reference)} | segment_histograms(raw, reference, 10)
        for scope, window_hist in scopes.items():
            limits = thresholds if scope == "all" else segment_thresholds(thresholds, SOURCES)
            ref, cur = drift_inputs(reference, window_hist)
            verdicts = drift_verdicts(ref, cur, limits, frozenset(was.get(scope, set())))
            if verdicts is None:
                continue
            before = was.get(scope, set())
            now = {v.feature for v in verdicts if v.drifting}
            fired = [v for v in verdicts if v.drifting and v.feature not in before]
            if any(v.severity in ("MEDIUM", *SERIOUS) for v in fired):
                alarms[scope] = alarms.get(scope, 0) + 1
            if fired:
                low[scope] = low.get(scope, 0) + 1
            if any(v.severity in SERIOUS for v in verdicts if v.drifting) and w >= clean:
                first.setdefault(scope, w - clean)
            was[scope] = now
    quiet = [s for s in (f"clinic-{k}" for k in range(SOURCES)) if s != DRIFTED]
    return {
        "delay_windows": first.get(DRIFTED),
        "global_high": "all" in first,
        "global_alarms": alarms.get("all", 0),
        "global_low": low.get("all", 0),
        "other_clinic_alarms": sum(alarms.get(s, 0) for s in quiet),
        "other_clinic_low": sum(low.get(s, 0) for s in quiet),
        "clinic_windows_judged": windows * len(quiet),
    }


def measure(
    echo: Echo,
    *,
    windows: int,
    clean: int,
    window: int,
    sizes: tuple[float, ...] = (0.25, 0.5, 1.0),
    seed: int = 17,
) -> dict[str, Any]:
    echo("segments: training the champion on Pima.tr2")
    model = copy.deepcopy(bundled_training()).model
    out: dict[str, Any] = {"windows": windows, "clean": clean, "window": window, "runs": {}}
    for size in sizes:
        result = _run(model, size, windows=windows, clean=clean, window=window, seed=seed)
        out["runs"][str(size)] = result
        echo(
            f"segments, {size} sd in {DRIFTED}: found after {result['delay_windows']} "
            f"window(s); global HIGH+ {result['global_high']}; other clinics' MEDIUM+ alarms "
            f"{result['other_clinic_alarms']} in {result['clinic_windows_judged']} windows"
        )
    return out


def table(r: dict[str, Any]) -> list[str]:
    per = r["window"] // SOURCES
    rows = [
        f"Five clinics evenly, windows of {r['window']:,} records (about {per} per clinic); "
        f"{r['clean']} clean windows, then {DRIFTED}'s glucose measured high, "
        f"{r['windows']} windows in all. Delay: windows after the shift began until a HIGH+ "
        "verdict on the clinic (0: the first shifted window). False alarms: windows with a new "
        "MEDIUM+ drift alert (any severity, LOW included, in brackets) on the four other "
        "clinics, and on the whole stream. "
        "`bench/segments.py`.",
        "",
        "| shift | clinic found after | whole stream HIGH+ | whole-stream alarms "
        "| other clinics' alarms |",
        "|---|---|---|---|---|",
    ]
    for size, s in r["runs"].items():
        delay = "never" if s["delay_windows"] is None else f"{s['delay_windows']} window(s)"
        rows.append(
            f"| {size} sd | {delay} | {'yes' if s['global_high'] else 'no'} | "
            f"{s['global_alarms']} ({s['global_low']}) | {s['other_clinic_alarms']} "
            f"({s['other_clinic_low']}) of {s['clinic_windows_judged']} clinic-windows |"
        )
    return rows
