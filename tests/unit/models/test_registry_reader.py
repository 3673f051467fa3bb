"""The workers' registry reader: where it caches, that a cached version needs no child
process, and how a child's answers become values or errors."""

import json
import subprocess
import sys
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
    REFERENCE_FILE,
    RegistryError,
    RegistryReader,
    cache_version,
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


def _bundle() -> ScoringModel:
    raw, y = data.load(data.TRAIN_FILE)
    pipe = FeaturePipeline([]).fit(raw)
    spec = CANDIDATES[0]
    estimator = spec.build(0).fit(pipe.transform(raw), y.to_numpy())
    risk = estimator.predict_proba(pipe.transform(raw))[:, 1]
    reference = reference_distribution(raw, pipe.frame(raw), risk)
    return ScoringModel(spec.name, spec.explainer, pipe, estimator, 0.5, reference)


def test_a_cached_version_loads_without_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    bundle = _bundle()
    spec = CANDIDATES[0]
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


def test_a_drift_reference_is_cached_apart_and_read_without_the_estimators_libraries(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    bundle = _bundle()
    saved = bundle.save(tmp_path / "download")
    folder = cache_version(settings, "4", saved, {"roc_auc": 0.8}, bundle.reference)
    assert (folder / REFERENCE_FILE).exists()
    read = RegistryReader(settings).version_reference("4")
    assert read.version == "4" and read.reference == bundle.reference
    # in a fresh interpreter, as a drift monitor reads it: scikit-learn stays unloaded
    code = (
        "import sys\n"
        "from riskstream.core.settings import Settings\n"
        "from riskstream.models.registry_reader import RegistryReader\n"
        f"s = Settings(state_dir={str(tmp_path)!r}, topic_prefix='acme.')\n"
        "r = RegistryReader(s).version_reference('4')\n"
        "print(sorted(r.reference['features']), 'sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("]")[-1].strip() == "False"


def test_a_cache_without_a_reference_file_reads_the_bundle_and_a_corrupt_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    bundle = _bundle()
    folder = cache_version(settings, "5", bundle.save(tmp_path / "download"), {}, bundle.reference)
    (folder / REFERENCE_FILE).unlink()  # as a cache written before references were apart
    monkeypatch.setattr(subprocess, "run", _no_child)
    reader = RegistryReader(settings)
    assert reader.version_reference("5").reference == bundle.reference
    (folder / REFERENCE_FILE).write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="drift reference is corrupt"):
        reader.version_reference("5")
