"""The drift page's data: the drift monitor's closed windows in Redis, judged again with the
monitor's own pure functions against each version's reference (loaded once per version from
the registry), so the heatmap shows exactly the statistics the monitor alerted on."""

from __future__ import annotations

import logging
import threading

from riskstream.app.console.shapes import DriftWindow, FeatureHistogram
from riskstream.core.worker_slices import MonitoringSettings
from riskstream.models.bundle import ModelLoadError
from riskstream.models.monitoring.statistics import drift_verdicts
from riskstream.models.monitoring.thresholds import drift_thresholds
from riskstream.models.monitoring.windows import histograms
from riskstream.models.reference import DriftReference
from riskstream.models.registry_reader import RegistryError, RegistryReader
from riskstream.stream_processors.window_store import WindowStore
from riskstream.stream_processors.window_verdicts import JOINT, SCORE, drift_inputs

log = logging.getLogger(__name__)
SHOWN_WINDOWS = 24
SHOWN_NAMES = {SCORE: "score", JOINT: "joint"}  # the console's names of the non-features


class DriftSource:
    def __init__(self, settings: MonitoringSettings) -> None:
        self.settings = settings
        self.store = WindowStore(settings)
        self.registry = RegistryReader(settings)
        self.thresholds = drift_thresholds(settings)
        self._references: dict[str, DriftReference | None] = {}
        self._lock = threading.Lock()

    def reference(self, version: str) -> DriftReference | None:
        with self._lock:
            if version not in self._references:
                try:
                    self._references[version] = self.registry.load(version).reference
                except (ModelLoadError, RegistryError) as exc:
                    log.warning("console: no drift reference for version %s (%s)", version, exc)
                    self._references[version] = None
            return self._references[version]

    def windows(self, keep: int = SHOWN_WINDOWS) -> list[DriftWindow]:
        """The latest closed windows with each feature's (and the score's) PSI, KS and JS."""
        shown: list[DriftWindow] = []
        for version, start in self.store.closed_windows(keep):
            reference = self.reference(version)
            if reference is None:
                continue
            window = histograms(self.store.counts(version, start), reference)
            ref, cur = drift_inputs(reference, window)
            verdicts = drift_verdicts(ref, cur, self.thresholds) or []
            shown.append(
                {
                    "start": start,
                    "version": version,
                    "n": window.n,
                    "verdicts": [
                        {
                            "feature": SHOWN_NAMES.get(v.feature, v.feature),
                            "psi": v.psi,
                            "ks": v.ks,
                            "js": v.js,
                            "drifting": v.drifting,
                        }
                        for v in verdicts
                    ],
                }
            )
        return shown

    def histogram(self, version: str, start: int, feature: str) -> FeatureHistogram | None:
        """Reference and window counts of one feature (or ``score``) over the reference's
        bins, as shares, with the bin edges."""
        reference = self.reference(version)
        if reference is None:
            return None
        window = histograms(self.store.counts(version, start), reference)
        ref, cur = drift_inputs(reference, window)
        name = {shown: stored for stored, shown in SHOWN_NAMES.items()}.get(feature, feature)
        if name not in ref:
            return None
        if name == SCORE:
            edges = reference["score"]["edges"]
        elif name == JOINT:
            edges = reference["joint"]["edges"]
        else:
            edges = reference["features"][name]["edges"]
        return {
            "version": version,
            "start": start,
            "feature": feature,
            "edges": [float(e) for e in edges],
            "reference": _shares(ref[name]),
            "current": _shares(cur[name]),
            "n": int(sum(cur[name])),
        }


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]
