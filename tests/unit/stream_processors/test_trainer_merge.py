from datetime import UTC, datetime

from riskstream.schemas.events import RetrainRequest
from riskstream.stream_processors.trainer import MergedRequest


def _req(
    rid: str,
    reasons: list[str],
    start: int | None,
    end: int | None,
    alerts: list[str] | None = None,
) -> RetrainRequest:
    """As the codec decodes one: the range as datetimes, made epoch ms by from_avro."""

    def ts(ms: int | None) -> datetime | None:
        return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)

    return RetrainRequest.from_avro(
        {
            "retrain_id": rid,
            "event_time": ts(0),
            "model_name": "m",
            "reasons": reasons,
            "alert_ids": alerts or [],
            "range_start": ts(start),
            "range_end": ts(end),
            "detail": "",
        }
    )


def test_merge_unions_reasons_alerts_and_widens_the_range() -> None:
    merged = MergedRequest()
    merged.add(_req("a", ["DRIFT_ALERT"], 2_000, 5_000, ["x"]))
    merged.add(_req("b", ["LABEL_COUNT", "DRIFT_ALERT"], 1_000, 4_000, ["x", "y"]))
    assert merged.retrain_ids == ["a", "b"]
    assert merged.reasons == ["DRIFT_ALERT", "LABEL_COUNT"]
    assert merged.alert_ids == ["x", "y"]
    assert (merged.start, merged.end) == (1_000, 5_000)
    assert merged.reason_text() == "DRIFT_ALERT+LABEL_COUNT (alerts: x,y)"


def test_an_open_range_stays_open_after_merging() -> None:
    merged = MergedRequest()
    merged.add(_req("a", ["MANUAL"], 2_000, 5_000))
    merged.add(_req("b", ["SCHEDULE"], None, None))
    assert (merged.start, merged.end) == (None, None)
