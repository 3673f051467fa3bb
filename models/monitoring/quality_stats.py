"""Data-quality and volume verdicts for one closed window: pure functions, no I/O.

A window knows how many records were scored (``n``), how many of them had each feature
missing (imputed before scoring), and how many inputs the scorer dead-lettered, by reason
family (``out_of_range``, ``missing_field``, ``decode``...). From those come rates, and from the
totals of recent windows a volume ratio. A missing rate is judged against the share of that
feature missing in the reference (a third of Pima's skin thickness is missing, and a clinic
that sends as many gaps is normal): only an excess beyond the margin, and beyond chance, is
a data-quality problem. Each check is a ``Condition`` with hysteresis, so an
incident is one FIRING alert and one RESOLVED alert, as for drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import bdtrc  # binom.sf; scipy.stats costs a worker 46 MiB more

from riskstream.schemas.events import AlertKind, Severity

VOLUME = "volume"


@dataclass(frozen=True)
class QualityThresholds:
    """Defaults: five points more records missing a feature than the reference had (and more
    than chance allows), or one in twenty dead-lettered, is beyond what a clinic feed
    normally shows; volume halving or doubling against the median of the last windows is an
    outage or a duplicate feed, while ordinary jitter stays within a few percent."""

    missing_rate: float = 0.05  # margin over the reference's missing share
    alpha: float = 0.01  # a missing excess must also be significant (one-sided, per feature)
    dead_letter_rate: float = 0.05
    volume_drop: float = 0.5  # breach when total < (1 - drop) x norm
    volume_spike: float = 1.0  # breach when total > (1 + spike) x norm
    volume_history: int = 6  # windows in the norm
    min_history: int = 3
    min_sample: int = 50  # fewer inputs than this: no rate verdict
    resolve_ratio: float = 0.6


@dataclass(frozen=True)
class Condition:
    """One check of one window: ``name`` is stable across windows (it is the hysteresis key)."""

    name: str
    kind: AlertKind  # DATA_QUALITY, VOLUME, PERFORMANCE or PERFORMANCE_ESTIMATE
    statistic: str
    value: float
    threshold: float
    breached: bool
    severity: Severity | None


def reason_family(reason: str) -> str:
    """``out_of_range:glucose`` → ``out_of_range``; the part before the first colon."""
    return reason.split(":", 1)[0]


def _rate_severity(value: float, threshold: float) -> Severity:
    if value >= 4 * threshold:
        return Severity.CRITICAL
    if value >= 2 * threshold:
        return Severity.HIGH
    return Severity.MEDIUM


def _rate_condition(
    name: str,
    statistic: str,
    value: float,
    threshold: float,
    was: frozenset[str],
    resolve_ratio: float,
) -> Condition:
    breached = value >= resolve_ratio * threshold if name in was else value >= threshold
    severity = _rate_severity(value, threshold) if breached else None
    return Condition(name, AlertKind.DATA_QUALITY, statistic, value, threshold, breached, severity)


def missing_excess(missing: int, n: int, expected: float) -> tuple[float, float]:
    """The window's missing rate minus the reference's share, and the one-sided binomial
    p-value of seeing at least ``missing`` of ``n`` at that share."""
    rate = missing / n
    if expected <= 0:
        return rate, 0.0 if missing else 1.0
    return rate - expected, float(bdtrc(missing - 1, n, min(expected, 1.0)))


def quality_conditions(
    n: int,
    missing: Mapping[str, int],
    dead_letters: Mapping[str, int],
    thresholds: QualityThresholds,
    was: frozenset[str] = frozenset(),
    expected_missing: Mapping[str, float] | None = None,
) -> list[Condition]:
    """Missing rate per feature (of scored records, against ``expected_missing``, the
    reference's share), dead-letter rate and out-of-range rate (of all inputs). Empty below
    ``min_sample`` inputs: too few to call a rate."""
    dead = sum(dead_letters.values())
    total = n + dead
    if total < thresholds.min_sample:
        return []
    t = thresholds
    conditions = [
        _rate_condition(
            "quality:dead_letter",
            "dead_letter_rate",
            dead / total,
            t.dead_letter_rate,
            was,
            t.resolve_ratio,
        ),
        _rate_condition(
            "quality:out_of_range",
            "out_of_range_rate",
            dead_letters.get("out_of_range", 0) / total,
            t.dead_letter_rate,
            was,
            t.resolve_ratio,
        ),
    ]
    if n > 0:
        expected = expected_missing or {}
        alpha = t.alpha / max(1, len(missing))
        for feature in sorted(missing):
            conditions.append(
                _missing_condition(
                    feature, missing[feature], n, expected.get(feature, 0.0), t, was, alpha
                )
            )
    return conditions


def _missing_condition(
    feature: str,
    count: int,
    n: int,
    expected: float,
    t: QualityThresholds,
    was: frozenset[str],
    alpha: float,
) -> Condition:
    name = f"quality:missing:{feature}"
    excess, p = missing_excess(count, n, expected)
    if name in was:
        breached = excess >= t.resolve_ratio * t.missing_rate
    else:
        breached = excess >= t.missing_rate and p < alpha
    severity = _rate_severity(excess, t.missing_rate) if breached else None
    # value: the window's rate; threshold: the rate at which it breaches
    return Condition(
        name,
        AlertKind.DATA_QUALITY,
        "missing_rate",
        count / n,
        expected + t.missing_rate,
        breached,
        severity,
    )


def volume_condition(
    history: Sequence[int],
    total: int,
    thresholds: QualityThresholds,
    was: frozenset[str] = frozenset(),
) -> Condition | None:
    """The window's input count against the median of recent windows (None: too little
    history). Breaches when the ratio leaves [1 - drop, 1 + spike]; resolves when it is back
    within ``resolve_ratio`` of those bands."""
    recent = list(history)[-thresholds.volume_history :]
    if len(recent) < thresholds.min_history:
        return None
    norm = float(np.median(recent))
    if norm <= 0:
        return None
    ratio = total / norm
    low, high = 1 - thresholds.volume_drop, 1 + thresholds.volume_spike
    if VOLUME in was:
        r = thresholds.resolve_ratio
        breached = ratio < 1 - r * thresholds.volume_drop or ratio > 1 + r * thresholds.volume_spike
    else:
        breached = ratio < low or ratio > high
    severity = None
    if breached:
        severity = Severity.CRITICAL if ratio < 0.1 * low or ratio > 2 * high else Severity.HIGH
    threshold = low if ratio < 1 else high
    return Condition(VOLUME, AlertKind.VOLUME, "volume_ratio", ratio, threshold, breached, severity)
