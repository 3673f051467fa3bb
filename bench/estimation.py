"""Performance estimated before labels (CBPE over calibrated scores) against the performance
realized once the labels arrive, window by window, on the simulator's streams.

The champion is trained and calibrated on Pima.tr2 as `riskstream model train` does. Each
stream is clean for its first half and changes at the midpoint; every window of ``window``
records gets the estimate the drift monitor publishes (``estimation.estimate_fields``, from
scores alone) and the metrics the performance monitor realizes from the same records' labels
(``performance_stats``), so the error is exactly what `performance-windows` reports. Streams:

- ``none``: the clean control;
- ``population-shift``: a covariate shift in the strict sense (patients selected by glucose,
  P(outcome | features) unchanged): the regime where CBPE should hold;
- ``covariate-shift``: glucose measured 1 sd high (a lab offset): the features move but the
  outcomes do not, so the scores overstate risk; CBPE is not expected to hold;
- ``concept-drift``: the outcome follows other features: CBPE cannot hold.

Pure computation, no broker.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.common import Echo, bundled_training
from bench.online_learning import simulated_frame
from riskstream.core.settings import Settings
from riskstream.models.monitoring.estimate_intervals import estimate_intervals, reference_spread
from riskstream.models.monitoring.estimation import (
    ESTIMATE_BINS,
    estimate_errors,
    estimate_fields,
    estimated_metrics,
    reference_fields,
    reference_probability,
)
from riskstream.models.monitoring.performance_stats import (
    Outcome,
    performance_fields,
    window_metrics,
)

STREAMS = ("none", "population-shift", "covariate-shift", "concept-drift")
REPORTED = ("accuracy", "f1", "roc_auc")


def window_errors(
    labels: np.ndarray,
    risk: np.ndarray,
    decided: np.ndarray,
    probability: np.ndarray | None,
    spread: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, tuple[bool, float]]]:
    """(estimate errors, realized metrics, per metric whether the estimate's 95% interval
    holds the realized value and the interval's width) of one window, as the monitors
    compute them."""
    rows = zip(labels, risk, decided, strict=True)
    realized = window_metrics(performance_fields(Outcome(int(t), r, int(d)) for t, r, d in rows))
    fields = estimate_fields(zip(risk, decided, strict=True))
    intervals = estimate_intervals(fields, probability, spread=spread)
    covered = {
        m: (lo <= realized[m] <= hi, hi - lo) for m, (lo, hi) in intervals.items() if m in realized
    }
    return estimate_errors(estimated_metrics(fields, probability), realized), realized, covered


def _summary(errors: list[float]) -> dict[str, float]:
    return {
        "mean": float(np.mean(errors)),
        "mean_abs": float(np.mean(np.abs(errors))),
        "max_abs": float(np.max(np.abs(errors))),
    }


def _errors(
    name: str, records: int, window: int, seed: int, champion: Any, reference_size: int
) -> dict[str, dict[str, list[float]]]:
    """basis → metric → the error of each window of one seeded stream (plus the realized
    ROC-AUC's binning bias under ``"binning"``; under ``"covered:<basis>"`` 1.0 or 0.0 per
    window, whether the estimate's interval held the realized metric, and under
    ``"width:<basis>"`` the interval's width)."""
    frame, labels = simulated_frame(name, records, seed)
    _, risk = champion.predict_frame(frame)
    decided = (risk >= champion.threshold).astype(int)
    head = slice(0, reference_size)
    reference = reference_fields(zip(risk[head], labels[head], strict=True))
    calibrations = {"served": None, "reference": reference_probability(reference, reference_size)}
    spreads = {"served": None, "reference": reference_spread(reference, reference_size)}
    first = reference_size if name == "none" else records // 2  # the control: after the reference
    out: dict[str, dict[str, list[float]]] = {"binning": {"roc_auc": []}}
    for basis, probability in calibrations.items():
        out[basis] = {m: [] for m in REPORTED}
        out[f"covered:{basis}"] = {m: [] for m in REPORTED}
        out[f"width:{basis}"] = {m: [] for m in REPORTED}
        for start in range(first, records - window + 1, window):
            s = slice(start, start + window)
            found, realized, covered = window_errors(
                labels[s], risk[s], decided[s], probability, spreads[basis]
            )
            for m in REPORTED:
                out[basis][m].append(found[m])
                held, width = covered.get(m, (False, float("nan")))
                out[f"covered:{basis}"][m].append(float(held))
                out[f"width:{basis}"][m].append(width)
            if basis == "served":
                exact = float(roc_auc_score(labels[s], risk[s]))
                out["binning"]["roc_auc"].append(realized["roc_auc"] - exact)
    return out


def measure(
    echo: Echo, *, records: int, window: int, seeds: tuple[int, ...] = (13,)
) -> dict[str, Any]:
    echo("estimation: training and calibrating the champion on Pima.tr2")
    champion = copy.deepcopy(bundled_training()).model
    assert champion.calibration is not None
    reference_size = Settings.model_fields["estimate_reference_size"].default
    out: dict[str, Any] = {
        "records": records,
        "window": window,
        "seeds": list(seeds),
        "reference": reference_size,
        "champion": champion.kind,
        "calibration": champion.calibration.describe(),
    }
    for name in STREAMS:
        pooled: dict[str, dict[str, list[float]]] = {}
        for seed in seeds:  # each seed: another stream, and another reference period
            for basis, metrics in _errors(
                name, records, window, seed, champion, reference_size
            ).items():
                for m, values in metrics.items():
                    pooled.setdefault(basis, {}).setdefault(m, []).extend(values)
        result: dict[str, Any] = {
            basis: {m: _summary(pooled[basis][m]) for m in REPORTED}
            for basis in ("reference", "served")
        }
        result["interval_width"] = {
            basis: {m: float(np.nanmean(pooled[f"width:{basis}"][m])) for m in REPORTED}
            for basis in ("reference", "served")
        }
        result["windows"] = len(pooled["served"]["roc_auc"])
        # the share of windows whose 95% interval held the realized metric
        result["coverage"] = {
            basis: {m: float(np.mean(pooled[f"covered:{basis}"][m])) for m in REPORTED}
            for basis in ("reference", "served")
        }
        result["interval_width"] = {
            basis: {m: float(np.nanmean(pooled[f"width:{basis}"][m])) for m in REPORTED}
            for basis in ("reference", "served")
        }
        result["auc_binning_bias"] = float(np.mean(pooled["binning"]["roc_auc"]))
        out[name] = result
        served, calibrated = result["served"]["roc_auc"], result["reference"]["roc_auc"]
        echo(
            f"estimation, {name}: ROC-AUC error mean {calibrated['mean']:+.3f} (max "
            f"{calibrated['max_abs']:.3f}) reference-calibrated, {served['mean']:+.3f} "
            f"(max {served['max_abs']:.3f}) on served scores, over {result['windows']} windows; "
            f"its 95% interval held the realized value in "
            f"{result['coverage']['reference']['roc_auc']:.0%} of them (reference-calibrated)"
        )
    return out


def table(r: dict[str, Any]) -> list[str]:
    rows = [
        f"{r['records']:,} simulated records per stream ({len(r['seeds'])} seeded streams "
        "each, each with its own reference period), changed at the midpoint; windows of "
        f"{r['window']:,} records after the change (for the clean control, every window after "
        f"the reference). The champion ({r['champion']}, trained on Pima.tr2) is calibrated by "
        f"{r['calibration']}; its reference is the stream's first {r['reference']:,} labeled "
        "records. Error = estimated minus realized, on the same records, mean / max |error| "
        "over the windows. `bench/estimation.py`.",
        "",
        "| stream | windows | p from | accuracy | F1 | ROC-AUC | ROC-AUC inside its 95% interval |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in STREAMS:
        if name not in r:
            continue
        s = r[name]
        for basis, label in (("reference", "reference"), ("served", "served score")):
            cells = [f"{s[basis][m]['mean']:+.3f} / {s[basis][m]['max_abs']:.3f}" for m in REPORTED]
            held = s.get("coverage", {}).get(basis, {}).get("roc_auc")
            width = s.get("interval_width", {}).get(basis, {}).get("roc_auc")
            cells.append("-" if held is None else f"{held:.0%} (width {width:.3f})")
            rows.append(f"| {name} | {s['windows']} | {label} | " + " | ".join(cells) + " |")
    rows += [
        "",
        f"The estimate bins scores in {ESTIMATE_BINS} bins; the realized ROC-AUC is the "
        "performance monitor's, over 20 bins (ties within a bin count half), which differs "
        "from the exact value by "
        + ", ".join(f"{r[n]['auc_binning_bias']:+.4f} ({n})" for n in STREAMS if n in r)
        + ".",
        "",
        "Each estimate's 95% interval (`models/monitoring/estimate_intervals.py`) is the range "
        "the realized metric takes when the window's labels are drawn from the calibrated "
        "scores, each draw calibrated on a bootstrap resample of the reference; the last "
        "column is the share of windows whose realized ROC-AUC fell inside it, and its mean "
        "width. It should hold where P(outcome | score) is unchanged (the clean control and "
        "the population shift); a lab offset moves the scores and not the outcomes, and "
        "concept drift moves the outcomes, so there it is not expected to. On served scores "
        "no reference spread is drawn.",
    ]
    return rows
