"""Data-quality and volume verdicts for one closed window: pure functions, no I/O.

A window knows how many records were scored (``n``), how many of them had each feature
missing (imputed before scoring), and how many inputs the scorer dead-lettered, by reason
family (``out_of_range``, ``missing_field``, ``decode``...). From those come rates, and from the
totals of recent windows a volume ratio. Each check is a ``Condition`` with hysteresis, so an
incident is one FIRING alert and one RESOLVED alert, as for drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

VOLUME = "volume"


@dataclass(frozen=True)
class QualityThresholds:
    """Defaults: a tenth of records missing a feature, or one in twenty dead-lettered, is far
    beyond what a clinic feed normally shows (Pima itself has no missing values in the
    training set); volume halving or doubling against the median of the last windows is an
    outage or a duplicate feed, while ordinary jitter stays within a few percent."""

    missing_rate: float = 0.10
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
    kind: str  # DATA_QUALITY | VOLUME
    statistic: str
    value: float
    threshold: float
    breached: bool
    severity: str | None


def reason_family(reason: str) -> str:
    """``out_of_range:glucose`` → ``out_of_range``; the part before the first colon."""
    return reason.split(":", 1)[0]


def _rate_severity(value: float, threshold: float) -> str:
    if value >= 4 * threshold:
        return "CRITICAL"
    if value >= 2 * threshold:
        return "HIGH"
    return "MEDIUM"


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
    return Condition(name, "DATA_QUALITY", statistic, value, threshold, breached, severity)


def quality_conditions(
    n: int,
    missing: Mapping[str, int],
    dead_letters: Mapping[str, int],
    thresholds: QualityThresholds,
    was: frozenset[str] = frozenset(),
) -> list[Condition]:
    """Missing rate per feature (of scored records), dead-letter rate and out-of-range rate
    (of all inputs). Empty below ``min_sample`` inputs: too few to call a rate."""
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
        for feature in sorted(missing):
            conditions.append(
                _rate_condition(
                    f"quality:missing:{feature}",
                    "missing_rate",
                    missing[feature] / n,
                    t.missing_rate,
                    was,
                    t.resolve_ratio,
                )
            )
    return conditions


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
        severity = "CRITICAL" if ratio < 0.1 * low or ratio > 2 * high else "HIGH"
    threshold = low if ratio < 1 else high
    return Condition(VOLUME, "VOLUME", "volume_ratio", ratio, threshold, breached, severity)
