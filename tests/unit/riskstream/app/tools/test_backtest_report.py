"""The backtest report's time axis fits the range: unique labels, widths a person reads."""

from __future__ import annotations

from riskstream.app.tools.backtest_report import duration_text, time_labels

T0 = 1_795_000_000_000  # 2026-11-18 11:06:40 UTC


def test_sub_second_buckets_get_millisecond_labels_all_distinct() -> None:
    labels = time_labels(T0, 250, 10)
    assert len(set(labels)) == 10
    assert labels[:2] == ["11:06:40.000", "11:06:40.250"]


def test_hour_and_day_buckets_get_dates() -> None:
    assert time_labels(T0, 2 * 3_600_000, 2) == ["11-18 11:06", "11-18 13:06"]
    assert time_labels(T0, 86_400_000, 2) == ["2026-11-18", "2026-11-19"]
    assert time_labels(T0, 60_000, 2) == ["11:06:40", "11:07:40"]


def test_widths_are_said_in_their_unit() -> None:
    assert duration_text(250) == "250 ms"
    assert duration_text(1500) == "1.5 s"
    assert duration_text(12_000) == "12 s"
    assert duration_text(300_000) == "5 min"
    assert duration_text(7 * 86_400_000) == "7 d"
