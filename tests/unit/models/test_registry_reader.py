"""The workers' registry reader: where it caches, that a cached version needs no child
process, and how a child's answers become values or errors."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from riskstream.core.settings import Settings
from riskstream.models import data
from riskstream.models.bundle import ModelLoadError, ScoringModel
from riskstream.models.candidates import CANDIDATES
from riskstream.models.features import FeaturePipeline
from riskstream.models.reference import reference_distribution
from riskstream.models.registry_reader import (
    BUNDLE_FILE,
    METRICS_FILE,
    RegistryError,
    RegistryReader,
    registered_name,
    version_cache,
)


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(state_dir=tmp_path, topic_prefix="acme.", **changes)


def _no_child(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the reader started a child process")


def _child_says(stdout: str, code: int = 2) -> Any:
    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert argv[1:3] == ["-m", "riskstream.models.fetch"]
        return subprocess.CompletedProcess(argv, code, stdout, "")

    return run


def test_the_cache_sits_beside_the_default_store_and_per_tracking_server(tmp_path: Path) -> None:
    local = _settings(tmp_path)
    assert registered_name(local) == "acme.diabetes-risk"
    assert version_cache(local, "3") == (
        tmp_path.resolve() / "mlflow" / "model-cache" / "acme.diabetes-risk" / "3"
    )
    a = version_cache(_settings(tmp_path, mlflow_tracking_uri="http://a:5000"), "3")
    b = version_cache(_settings(tmp_path, mlflow_tracking_uri="http://b:5000"), "3")
    assert a != b and a.parts[-2:] == ("acme.diabetes-risk", "3")


def test_a_cached_version_loads_without_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    raw, y = data.load(data.TRAIN_FILE)
    pipe = FeaturePipeline([]).fit(raw)
    spec = CANDIDATES[0]
    estimator = spec.build(0).fit(pipe.transform(raw), y.to_numpy())
    risk = estimator.predict_proba(pipe.transform(raw))[:, 1]
    reference = reference_distribution(raw, pipe.frame(raw), risk)
    bundle = ScoringModel(spec.name, spec.explainer, pipe, estimator, 0.5, reference)
    folder = version_cache(settings, "7")
    saved = bundle.save(folder)
    assert saved == folder / BUNDLE_FILE
    (folder / METRICS_FILE).write_text(json.dumps({"roc_auc": 0.83}))
    monkeypatch.setattr(subprocess, "run", _no_child)
    reader = RegistryReader(settings)
    model = reader.load("7")
    assert model.version == "7" and model.kind == spec.name
    assert reader.metrics("7") == {"roc_auc": 0.83}


def test_answers_and_errors_of_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = RegistryReader(_settings(tmp_path))
    monkeypatch.setattr(subprocess, "run", _child_says('{"version": "4"}\n', 0))
    assert reader.alias_version("champion") == "4"
    monkeypatch.setattr(subprocess, "run", _child_says('{"version": null}', 0))
    assert reader.alias_version("champion") is None
    both = {"version": "4", "versions": {"champion": "4", "challenger": None}}
    monkeypatch.setattr(subprocess, "run", _child_says(json.dumps(both), 0))
    assert reader.alias_versions("champion", "challenger") == {"champion": "4", "challenger": None}
    corrupt = {"error": "model artifact holds no bundle", "kind": "ModelLoadError"}
    monkeypatch.setattr(subprocess, "run", _child_says(json.dumps(corrupt)))
    with pytest.raises(ModelLoadError, match="no bundle"):
        reader.load("5")
    missing = {"error": "no such version", "kind": "RegistryError", "context": {"version": "9"}}
    monkeypatch.setattr(subprocess, "run", _child_says(json.dumps(missing)))
    with pytest.raises(RegistryError) as caught:
        reader.metrics("9")
    assert caught.value.context["version"] == "9"
    monkeypatch.setattr(subprocess, "run", _child_says("Traceback (most recent call last): ..."))
    with pytest.raises(RegistryError, match="no answer"):
        reader.alias_version("champion")
