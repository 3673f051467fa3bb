from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from riskstream.models.monitoring.notifications import (
    alert_notification,
    alert_wanted,
    backoff_s,
    retryable,
    signature,
    signature_valid,
    subject_key,
    version_notification,
)
from riskstream.schemas.events import ModelVersionEvent
from tests.unit.schemas.samples import SAMPLES, drift_alert


def test_firing_alerts_are_sent_from_the_minimum_severity_and_resolutions_follow_them() -> None:
    low, high = drift_alert(severity="LOW"), drift_alert(severity="HIGH")
    assert not alert_wanted(low, "MEDIUM", firing_was_sent=False)
    assert alert_wanted(high, "medium", firing_was_sent=False)
    resolved = drift_alert(status="RESOLVED", severity="LOW")
    assert alert_wanted(resolved, "MEDIUM", firing_was_sent=True)
    assert not alert_wanted(resolved, "MEDIUM", firing_was_sent=False)
    # a NOTICE (a trend under the drift bands) only for a receiver that asks for it
    notice = drift_alert(severity="NOTICE")
    assert not alert_wanted(notice, "LOW", firing_was_sent=False)
    assert alert_wanted(notice, "notice", firing_was_sent=False)
    # one subject: the same model, kind, feature and segment
    assert subject_key(high) == subject_key(resolved)
    assert subject_key(high) != subject_key(drift_alert(feature="bmi"))
    assert subject_key(high) != subject_key(drift_alert(segment="clinic-2"))


def test_an_alerts_body_is_slack_compatible_stable_and_names_no_patient() -> None:
    alert = drift_alert(severity="HIGH", segment="clinic-2")
    note = alert_notification(alert)
    body = json.loads(note.body())
    assert body["text"].startswith("[HIGH] DATA_DRIFT FIRING") and "in clinic-2" in body["text"]
    assert body["riskstream"]["alert_id"] == alert.alert_id == note.event_id
    assert note.body() == alert_notification(alert).body()  # byte-stable for the signature
    assert "patient" not in note.body().decode()


@pytest.mark.parametrize(
    ("status", "sent", "words"),
    [
        ("PROMOTED", True, "v2 promoted to champion"),
        ("ROLLED_BACK", True, "v1 rolled back to v2"),
        ("CONFIRMED", True, "confirmed"),
        ("REJECTED", True, "rejected"),
        ("SKIPPED", False, ""),
        ("REGISTERED", False, ""),
    ],
)
def test_version_news_is_sent_for_what_a_person_acts_on(
    status: str, sent: bool, words: str
) -> None:
    event = ModelVersionEvent.from_avro({**SAMPLES["ModelVersionEvent"], "status": status})
    note = version_notification(event)
    assert (note is not None) == sent
    if note is not None:
        assert words in note.text and note.payload["status"] == status


def test_a_version_awaiting_approval_asks_a_person() -> None:
    reason = "roc_auc beats the champion's; awaits a person's approval (manual): approve 2"
    event = ModelVersionEvent.from_avro(
        {**SAMPLES["ModelVersionEvent"], "status": "CHALLENGER", "reason": reason}
    )
    note = version_notification(event)
    assert note is not None and "awaits a person's approval" in note.text.split(":")[1]
    assert note.payload["awaiting_approval"] is True
    plain = version_notification(ModelVersionEvent.from_avro(
        {**SAMPLES["ModelVersionEvent"], "status": "CHALLENGER", "reason": "live evidence"}
    ))  # fmt: skip
    assert plain is not None and plain.payload["awaiting_approval"] is False


def test_the_signature_is_hmac_sha256_of_version_timestamp_and_body() -> None:
    secret, body = b"s3cret", b'{"text": "x"}'
    expected = hmac.new(secret, b"v1:1700000000:" + body, hashlib.sha256).hexdigest()
    assert signature(secret, 1_700_000_000, body) == f"v1={expected}"
    header = signature(secret, 1_700_000_000, body)
    assert signature_valid(secret, 1_700_000_000, body, header)
    assert not signature_valid(secret, 1_700_000_001, body, header)  # replayed later
    assert not signature_valid(secret, 1_700_000_000, body + b" ", header)  # tampered
    assert not signature_valid(b"other", 1_700_000_000, body, header)


def test_waits_double_up_to_a_cap_and_only_transient_failures_are_retried() -> None:
    assert [backoff_s(a, 1.0) for a in (2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_s(20, 1.0, cap_s=30.0) == 30.0
    assert all(retryable(s) for s in (None, 429, 500, 503))
    assert not any(retryable(s) for s in (400, 401, 404))
