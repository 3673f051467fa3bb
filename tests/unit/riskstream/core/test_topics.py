from importlib import resources
from pathlib import Path

from riskstream.core.topics import CATALOG, MODEL_VERSIONS, spec


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
