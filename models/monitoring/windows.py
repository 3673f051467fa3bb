"""Tumbling event-time windows of predictions, as Redis hash increments: pure functions.

A window's hash holds ``n`` (records), ``f:<feature>:<bin>`` (feature histograms over the
champion's reference bin edges), ``s:<bin>`` (score histogram), ``m:<feature>`` (records that
did not carry the feature), ``d:<reason family>`` (inputs the scorer dead-lettered) and
``c:<decided>:<bin>`` (records per served label and score bin, for ``estimation``),
``j:<bin>`` (PCA reconstruction errors of the records with every joint input measured, over
the reference's edges: ``riskstream.models.multivariate``), ``q<k>:<name>`` (sub-window k's
measured values of a feature, or ``__score__``, and their integer PIT sum, packed in one
integer, ``pit_counts``: what the sequential test reads, ``sequential``), and
each source segment's own ``n``, ``f:``, ``s:`` and ``m:`` fields as ``<segment>|<field>``.
The monitor turns a batch into increments per (window, partition) here, and back into
histograms when a window closes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from riskstream.models.features import inputs_of
from riskstream.models.monitoring.estimation import estimate_fields
from riskstream.models.monitoring.pit import PitReference
from riskstream.models.monitoring.quality_stats import reason_family
from riskstream.models.monitoring.segments import SEPARATOR, judged_segments, split_segments
from riskstream.models.multivariate import reconstruction_errors
from riskstream.models.reference import DriftReference, JointHistogram, bin_index
from riskstream.schemas.patient_record import IMPUTABLE


def window_start(event_ms: int, size_ms: int) -> int:
    return event_ms - event_ms % size_ms


def binning_version(takeovers: Sequence[tuple[int, str]], start: int) -> str:
    """The version whose reference the window at ``start`` is binned over: the champion that
    took over last at or before ``start``. ``takeovers`` holds (first window start, version)
    sorted by start; a window before the first takeover belongs to the first version."""
    if not takeovers:
        raise ValueError("no champion has taken over any window yet")
    chosen = takeovers[0][1]
    for first, version in takeovers:
        if first > start:
            break
        chosen = version
    return chosen


def takeover_boundary(latest_event_ms: Iterable[int], size_ms: int) -> int:
    """Where a new champion takes over: the first window after the latest event time any
    worker has counted (or the clock), so no window is split between two versions."""
    return window_start(max(latest_event_ms), size_ms) + size_ms


@dataclass(frozen=True)
class Observation:
    """One prediction as the monitor needs it."""

    partition: int
    offset: int
    event_ms: int
    features: Mapping[str, float]
    risk: float
    missing: tuple[str, ...] = ()
    decided: int = 0  # the label the prediction served (risk at or above its threshold)
    segment: str | None = None  # the source's segment (``segments``), None: none counted


def group_by_window(
    observations: Iterable[Observation], size_ms: int
) -> dict[int, dict[int, list[Observation]]]:
    """window start → partition → its observations, in offset order."""
    groups: dict[int, dict[int, list[Observation]]] = {}
    for obs in observations:
        start = window_start(obs.event_ms, size_ms)
        groups.setdefault(start, {}).setdefault(obs.partition, []).append(obs)
    for by_partition in groups.values():
        for group in by_partition.values():
            group.sort(key=lambda o: o.offset)
    return groups


SCORE_SUBJECT = "__score__"  # the score's name among the sequential test's subjects


@dataclass(frozen=True)
class SubWindows:
    """Where a group's window starts, and its sub-windows' length, in event-time ms."""

    start: int
    size_ms: int

    def of(self, event_ms: np.ndarray) -> np.ndarray:
        return np.asarray((event_ms - self.start) // self.size_ms, dtype=int)


def count_fields(
    group: Iterable[Observation],
    reference: DriftReference,
    subwindows: SubWindows | None = None,
) -> Counter[str]:
    """The hash increments of some observations: ``n``, feature bins (of measured values:
    an imputed feature, or one derived from it, is counted under ``m:`` only), score bins and
    the estimate's counts; and the same but the estimate's, per segment (``segments``). Each
    value is binned once, then counted for the window and for its record's segment. With
    ``subwindows``, each feature's and the score's values per sub-window and PIT sum too."""
    group = list(group)
    fields: Counter[str] = Counter()
    if not group:
        return fields
    tally = _Tally(fields, [o.segment for o in group])
    sub = None
    if subwindows is not None:
        sub = subwindows.of(np.array([o.event_ms for o in group], dtype=np.int64))
    tally.add("n", np.ones(len(group), dtype=bool))
    # which records lack each imputable feature: one pass, not one check per feature
    lacking = (
        {name: np.array([name in o.missing for o in group]) for name in IMPUTABLE}
        if any(o.missing for o in group)
        else {}
    )
    for name, hist in reference["features"].items():
        values = np.array([o.features.get(name, np.nan) for o in group], dtype=float)
        unmeasured = [lacking[i] for i in inputs_of(name) if i in lacking]
        if unmeasured:
            values[np.logical_or.reduce(unmeasured)] = np.nan
        present = ~np.isnan(values)  # measured values only, as in the reference
        bins = np.zeros(len(group), dtype=int)
        bins[present] = bin_index(hist["edges"], values[present])
        tally.bins(f"f:{name}:", bins, present)
        if sub is not None:
            _count_pit(fields, name, hist["counts"], bins, present, sub)
    for name, missing in lacking.items():
        tally.add(f"m:{name}", missing)
    for name in {n for o in group for n in o.missing} - set(lacking):
        tally.add(f"m:{name}", np.array([name in o.missing for o in group]))
    risks = np.array([o.risk for o in group], dtype=float)
    score_bins = bin_index(reference["score"]["edges"], risks)
    tally.bins("s:", score_bins)
    if sub is not None:
        everyone = np.ones(len(group), dtype=bool)
        _count_pit(fields, SCORE_SUBJECT, reference["score"]["counts"], score_bins, everyone, sub)
    joint = reference.get("joint")
    if joint is not None:
        _count_joint(tally, group, joint)
    fields.update(estimate_fields((o.risk, o.decided) for o in group))
    return fields


PIT_COUNT_SHIFT = 34  # a sub-window's count sits above its PIT sum's 34 bits (n < 1.7M)


def pit_counts(packed: int) -> tuple[int, int]:
    """A ``q<k>:<name>`` field's measured values and their integer PIT sum. One field, not
    two: with 50 sub-windows a batch touches a thousand or more of them, and each is a Redis
    increment, at the Redis server's priority, not the idle monitor's."""
    return packed >> PIT_COUNT_SHIFT, packed & ((1 << PIT_COUNT_SHIFT) - 1)


def _count_pit(
    fields: Counter[str],
    name: str,
    reference_counts: list[int],
    bins: np.ndarray,
    present: np.ndarray,
    sub: np.ndarray,
) -> None:
    """``q<k>:<name>``: the measured values in each sub-window k and their integer PIT sum
    (``sequential.PitReference``), packed (``pit_counts``); they add up packed, as each sum
    stays below ``2 ** PIT_COUNT_SHIFT``."""
    pit = PitReference.of(reference_counts)
    if pit is None:
        return
    where = sub[present]
    if not len(where):
        return
    scores = np.asarray(pit.scores, dtype=np.int64)[bins[present]]
    counts = np.bincount(where)
    sums = np.bincount(where, weights=scores)  # exact: integer sums far below 2^53
    for k in np.flatnonzero(counts):
        fields[f"q{k}:{name}"] += (int(counts[k]) << PIT_COUNT_SHIFT) + int(sums[k])


def _count_joint(tally: _Tally, group: list[Observation], joint: JointHistogram) -> None:
    """``j:<bin>``: each complete record's reconstruction error, binned."""
    names = joint["model"]["features"]
    rows = np.array(
        [[np.nan if n in o.missing else o.features.get(n, np.nan) for n in names] for o in group],
        dtype=float,
    )
    errors = reconstruction_errors(joint["model"], rows)
    complete = np.isfinite(errors)
    bins = np.zeros(len(group), dtype=int)
    bins[complete] = bin_index(joint["edges"], errors[complete])
    tally.bins("j:", bins, complete)


class _Tally:
    """Counts into ``fields`` for the whole group and, prefixed, for each record's segment."""

    def __init__(self, fields: Counter[str], segments: list[str | None]) -> None:
        self.fields = fields
        names = sorted({s for s in segments if s is not None})
        self.prefixes = [f"{name}{SEPARATOR}" for name in names]
        where = {name: i for i, name in enumerate(names)}
        self.segment = np.array([where.get(s, -1) if s else -1 for s in segments], dtype=int)

    def add(self, name: str, mask: np.ndarray) -> None:
        """``name`` counts the records where ``mask`` holds."""
        total = int(mask.sum())
        if not total:
            return
        self.fields[name] += total
        if self.prefixes:
            per = np.bincount(
                self.segment[mask & (self.segment >= 0)], minlength=len(self.prefixes)
            )
            for i, count in enumerate(per):
                if count:
                    self.fields[f"{self.prefixes[i]}{name}"] += int(count)

    def bins(self, prefix: str, bins: np.ndarray, mask: np.ndarray | None = None) -> None:
        """``<prefix><bin>`` counts the records in each bin (where ``mask`` holds)."""
        keep = np.ones(len(bins), dtype=bool) if mask is None else mask
        found, counts = np.unique(bins[keep], return_counts=True)
        for b, count in zip(found, counts, strict=True):
            self.fields[f"{prefix}{int(b)}"] += int(count)
        if not self.prefixes:
            return
        inside = keep & (self.segment >= 0)
        width = int(bins.max()) + 1 if len(bins) else 1
        keys, counts = np.unique(self.segment[inside] * width + bins[inside], return_counts=True)
        for key, count in zip(keys, counts, strict=True):
            segment, b = divmod(int(key), width)
            self.fields[f"{self.prefixes[segment]}{prefix}{b}"] += int(count)


CHALLENGER_SERVED = "v:challenger"


class Tracked(NamedTuple):
    """A record counted on an offset track of its own (a dead letter, a prediction the
    split's challenger served): where it is, when it happened, why, and its segment."""

    partition: int
    offset: int
    event_ms: int
    reason: str
    segment: str | None


class TrackItem(NamedTuple):
    """A tracked record within its window and partition."""

    offset: int
    reason: str
    segment: str | None


def by_window(items: Iterable[Tracked], size_ms: int) -> dict[tuple[int, int], list[TrackItem]]:
    """Tracked records by (window start, partition)."""
    windows: dict[tuple[int, int], list[TrackItem]] = {}
    for item in items:
        key = (window_start(item.event_ms, size_ms), item.partition)
        windows.setdefault(key, []).append(TrackItem(item.offset, item.reason, item.segment))
    return windows


def challenger_served_fields(reasons: Iterable[str]) -> Counter[str]:
    """The hash increment of some predictions the split's challenger served."""
    return Counter({CHALLENGER_SERVED: sum(1 for _ in reasons)})


def dead_letter_fields(reasons: Iterable[str]) -> Counter[str]:
    """The hash increments of some dead letters: ``d:<reason family>`` each."""
    return Counter(f"d:{reason_family(reason)}" for reason in reasons)


@dataclass(frozen=True)
class WindowHistograms:
    n: int
    features: dict[str, list[int]]
    score: list[int]
    missing: dict[str, int]
    dead_letters: dict[str, int]
    incomplete: bool = False
    scored: dict[str, int] = field(default_factory=dict)  # the ``c:`` counts of ``estimation``
    # the A/B split's challenger-served predictions: counted for volume, binned by no one here
    challenger_served: int = 0
    joint: list[int] = field(default_factory=list)  # reconstruction errors; [] without a model


def histograms(raw: Mapping[Any, Any], reference: DriftReference) -> WindowHistograms:
    """A window's Redis hash → histograms aligned with the reference bins."""
    values = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    features = {}
    for name, hist in reference["features"].items():
        bins = len(hist["edges"]) + 1
        features[name] = [values.get(f"f:{name}:{b}", 0) for b in range(bins)]
    score_bins = len(reference["score"]["edges"]) + 1
    joint = reference.get("joint")
    joint_bins = len(joint["edges"]) + 1 if joint is not None else 0
    return WindowHistograms(
        values.get("n", 0),
        features,
        [values.get(f"s:{b}", 0) for b in range(score_bins)],
        {name: values.get(f"m:{name}", 0) for name in IMPUTABLE}
        | {k[2:]: v for k, v in values.items() if k.startswith("m:")},
        {k[2:]: v for k, v in values.items() if k.startswith("d:")},
        bool(values.get("incomplete", 0)),
        {k: v for k, v in values.items() if k.startswith("c:")},
        values.get(CHALLENGER_SERVED, 0),
        [values.get(f"j:{b}", 0) for b in range(joint_bins)],
    )


def segment_histograms(
    raw: Mapping[Any, Any], reference: DriftReference, keep: int
) -> dict[str, WindowHistograms]:
    """The window's ``keep`` busiest segments (the rest added into ``other``) as histograms;
    none when one segment holds every record (``segments.judged_segments``)."""
    values = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    whole, segments = split_segments(values)
    kept = judged_segments(segments, keep, whole.get("n", 0))
    return {name: histograms(fields, reference) for name, fields in kept.items()}
