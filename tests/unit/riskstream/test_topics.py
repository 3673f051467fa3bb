from importlib import resources

from riskstream.topics import CATALOG, MODEL_VERSIONS, spec


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
