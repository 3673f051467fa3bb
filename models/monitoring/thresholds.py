"""The monitors' thresholds, from their slices of the settings: one place maps the
``RISKSTREAM_*`` values onto the pure policies' threshold objects."""

from __future__ import annotations

from riskstream.core.worker_slices import MonitorSettings, PromotionSettings
from riskstream.models.monitoring.performance_stats import PerformanceThresholds
from riskstream.models.monitoring.quality_stats import QualityThresholds
from riskstream.models.monitoring.statistics import DriftThresholds


def drift_thresholds(settings: MonitorSettings) -> DriftThresholds:
    return DriftThresholds(
        psi_low=settings.drift_psi_low,
        psi_medium=(settings.drift_psi_low + settings.drift_psi_high) / 2,
        psi_high=settings.drift_psi_high,
        psi_critical=2 * settings.drift_psi_high,
        alpha=settings.drift_alpha,
        min_sample=settings.drift_min_sample,
    )


def quality_thresholds(settings: MonitorSettings) -> QualityThresholds:
    return QualityThresholds(
        missing_rate=settings.quality_missing_rate,
        dead_letter_rate=settings.quality_dead_letter_rate,
        volume_drop=settings.volume_drop,
        volume_spike=settings.volume_spike,
        alpha=settings.drift_alpha,
    )


def performance_thresholds(
    monitor: MonitorSettings, promotion: PromotionSettings, max_drop: float
) -> PerformanceThresholds:
    """The champion gates, the allowed relative drop (of realized metrics, or of estimated
    ones) and the minimum sample."""
    return PerformanceThresholds(
        gates={
            "accuracy": promotion.gate_accuracy,
            "roc_auc": promotion.gate_roc_auc,
            "f1": promotion.gate_f1,
        },
        max_relative_drop=max_drop,
        min_sample=monitor.performance_min_sample,
    )
