import hashlib

from riskstream.app.tools.dead_letters import masked, revealed
from riskstream.schemas.codec import build_codec
from tests.unit.schemas.samples import SAMPLES


def test_an_original_is_masked_to_its_size_and_digest() -> None:
    original = b"patient-7 glucose 148"
    shown = masked(original)
    assert shown == f"<21 bytes, sha256 {hashlib.sha256(original).hexdigest()[:12]}>"
    assert "patient-7" not in shown and "148" not in shown
    assert masked(None) == "-"


def test_an_original_is_revealed_as_its_event_else_as_text() -> None:
    codec = build_codec(None, None)
    record = {**SAMPLES["PatientRecord"], "patient_id": "p-secret", "glucose": 987.25}
    shown = revealed(codec.encode("PatientRecord", record), codec)
    assert shown.startswith("PatientRecord {") and '"patient_id": "p-secret"' in shown
    assert '"glucose": 987.25' in shown
    assert revealed(b"plain \xff text", codec) == "plain \\xff text"
    assert revealed(None, codec) == "-"
