"""Bundles saved by riskstream before its packages moved under `riskstream.` still load."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from riskstream.models.bundle import BUNDLE_FILE, ModelLoadError, ScoringModel
from tests.fixture_model import fixture_model


def test_a_bundle_naming_the_old_top_level_packages_loads(tmp_path: Path) -> None:
    saved = fixture_model().save(tmp_path)
    old = pickle.dumps(pickle.loads(saved.read_bytes()), protocol=0)
    # Protocol 0 writes each class as "c<module>\n<name>\n"; rewrite them as 0.1 wrote them.
    old = old.replace(b"criskstream.models.", b"cmodels.")
    assert b"cmodels.bundle\nScoringModel" in old
    (tmp_path / BUNDLE_FILE).write_bytes(old)
    loaded = ScoringModel.load(tmp_path)
    assert type(loaded) is ScoringModel
    assert loaded.feature_names == fixture_model().feature_names


def test_an_unknown_package_is_still_a_load_error(tmp_path: Path) -> None:
    saved = fixture_model().save(tmp_path)
    old = pickle.dumps(pickle.loads(saved.read_bytes()), protocol=0)
    (tmp_path / BUNDLE_FILE).write_bytes(old.replace(b"criskstream.models.", b"celsewhere."))
    with pytest.raises(ModelLoadError, match="corrupt"):
        ScoringModel.load(tmp_path)
