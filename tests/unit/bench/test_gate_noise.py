"""The gate-noise analysis runs on tiny sizes and counts what it says it counts."""

from __future__ import annotations

from bench.gate_noise import measure


def test_gate_noise_counts_misses_stops_and_promotions() -> None:
    drift = measure(examples=200, retrains=2)
    assert drift["holdout"] == 60 and drift["retrains"] == 2
    assert drift["stopped by the gates"] <= drift["gate misses"] <= 2
    assert drift["promoted"] <= 2 and 0.0 < drift["median F1 standard error"] < 0.2
    noise = measure(examples=200, retrains=2, noise=True)
    assert noise["promoted"] == 0 and noise["gate misses"] == 2  # coin flips never pass
