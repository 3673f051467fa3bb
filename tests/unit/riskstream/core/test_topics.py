from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from riskstream.core.errors import ConfigError
from riskstream.core.settings import Settings
from riskstream.core.topics import (
    CATALOG,
    DAY_MS,
    LABELED_EXAMPLES,
    MODEL_VERSIONS,
    PREDICTIONS,
    check_retention_days,
    retention_ms,
    spec,
)


def test_names_are_unique_and_every_schema_ships() -> None:
    assert len({t.name for t in CATALOG}) == len(CATALOG)
    shipped = {p.name for p in resources.files("riskstream.schemas").iterdir()}
    for entry in CATALOG:
        assert f"{entry.value_schema}.avsc" in shipped


def test_model_versions_is_compacted_and_keeps_no_retention() -> None:
    config = MODEL_VERSIONS.config()
    assert config["cleanup.policy"] == "compact"
    assert "retention.ms" not in config


def test_delete_topics_carry_a_retention() -> None:
    for entry in CATALOG:
        if entry.cleanup_policy == "delete":
            assert int(entry.config()["retention.ms"]) >= 24 * 3600 * 1000


def test_spec_lookup() -> None:
    assert spec("predictions").value_schema == "Prediction"


def test_writing_another_event_to_a_topic_fails_the_type_check(tmp_path: Path) -> None:
    """An Output is typed by its topic's event: mypy refuses a DeadLetter bound for
    `predictions`, and accepts it bound for `dead-letter`."""
    from mypy import api

    snippet = tmp_path / "outputs.py"
    snippet.write_text(
        "from riskstream.io.kafka.contract import Output\n"
        "from riskstream.schemas.events import DeadLetter\n"
        "from riskstream.core.topics import DEAD_LETTER, PREDICTIONS\n"
        "def wrong(letter: DeadLetter) -> object:\n"
        "    return Output(PREDICTIONS, None, letter)\n"
        "def right(letter: DeadLetter) -> object:\n"
        "    return Output(DEAD_LETTER, None, letter)\n"
    )
    repo = Path(__file__).resolve().parents[3]
    out, _, status = api.run(
        ["--cache-dir", str(repo / ".mypy_cache"), "--no-error-summary", str(snippet)]
    )
    assert status == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) >= 1 and all("outputs.py:5:" in line for line in errors), out


def test_predictions_carry_patient_data_for_no_longer_than_the_joiner_waits() -> None:
    ttl_ms = Settings.model_fields["joiner_prediction_ttl_s"].default * 1000
    assert PREDICTIONS.retention_ms == spec("shadow-predictions").retention_ms == ttl_ms


def test_the_retention_setting_overrides_the_catalog_by_topic() -> None:
    days = {"labeled-examples": 180, "predictions": 0.5}
    assert retention_ms(LABELED_EXAMPLES, days) == 180 * DAY_MS
    assert retention_ms(PREDICTIONS, days) == DAY_MS // 2
    assert retention_ms(spec("dead-letter"), days) == spec("dead-letter").retention_ms
    assert LABELED_EXAMPLES.config(retention_ms(LABELED_EXAMPLES, days))["retention.ms"] == str(
        180 * DAY_MS
    )


def test_the_retention_setting_is_read_from_json_and_refuses_what_has_no_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKSTREAM_TOPIC_RETENTION_DAYS", '{"labeled-examples": 180}')
    assert Settings().topic_retention_days == {"labeled-examples": 180}
    check_retention_days(Settings().topic_retention_days)
    monkeypatch.setenv("RISKSTREAM_TOPIC_RETENTION_DAYS", '{"predictions": 0}')
    with pytest.raises(ValidationError, match="positive number of days"):
        Settings()
    for wrong in ({"model-versions": 1.0}, {"no-such-topic": 1.0, "predictions": 2.0}):
        with pytest.raises(ConfigError) as caught:
            check_retention_days(wrong)
        assert caught.value.context["topics"] == next(iter(wrong))
        assert caught.value.hint and "labeled-examples" in caught.value.hint
