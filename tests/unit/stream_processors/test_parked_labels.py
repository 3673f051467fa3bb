"""The grace set's entries, without Redis: what a parked label keeps, and when it leaves."""

import json

from riskstream.stream_processors.parked_labels import ParkedLabel, parked_label_due


def test_a_parked_label_keeps_only_its_request_its_reference_and_sealed_bytes() -> None:
    label = ParkedLabel("3:1042", "rq-7", "ref-abc", "kid-1", b"\x00sealed\xff", 1_700.5)
    payload = label.payload()
    assert set(json.loads(payload)) == {
        "request_id",
        "patient_ref",
        "key_id",
        "sealed",
    }
    again = ParkedLabel.of(label.member, payload.encode(), label.deadline_s)
    assert again == label
    assert again.location == (3, 1042)


def test_a_parked_label_leaves_when_its_prediction_arrives_or_its_grace_ends() -> None:
    assert not parked_label_due(100.0, 99.0, prediction_arrived=False)
    assert parked_label_due(100.0, 99.0, prediction_arrived=True)
    assert parked_label_due(100.0, 100.0, prediction_arrived=False)


def test_a_label_parked_before_sealing_is_read_from_its_member() -> None:
    """A joiner from before 2026-12-03 parked the label itself, as JSON, as the member."""
    member = json.dumps({"value": b"v".hex(), "key": b"p-1".hex(), "partition": 2, "offset": 9})
    legacy = ParkedLabel(member, "", "", "", b"", 5.0)
    assert legacy.legacy and legacy.location == (2, 9)
    assert not ParkedLabel("2:9", "rq", "ref", "kid", b"x", 5.0).legacy
