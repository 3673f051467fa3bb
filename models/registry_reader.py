"""What the long-running workers read from the model registry, without importing MLflow.

MLflow, SQLAlchemy and the tracking store cost a worker 75-130 MiB of resident memory for the
whole of its life, to answer a handful of questions (which version is champion? load version
N; its validation metrics) asked at start-up and at each promotion. So the workers ask a
short-lived child process (``python -m riskstream.models.fetch``) that imports MLflow,
answers in JSON and exits; bundles and metrics are cached under
``<state_dir>/model-cache``, keyed by the registered name and the version (a registered
version never changes). Each version's drift reference is cached on its own too: a drift
monitor reads only that, and never loads the estimator's libraries (scikit-learn, and with
it pandas and pyarrow: 86 MiB).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskstream.core.errors import RiskstreamError
from riskstream.core.slices import ENV_PREFIX, ClusterSettings
from riskstream.models.bundle import BUNDLE_FILE, ModelLoadError, ScoringModel

if TYPE_CHECKING:
    from riskstream.models.reference import DriftReference

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"  # the champion before a promotion, scored in shadow while it is watched
ONLINE = "online"  # the online learner's newest snapshot
METRICS_FILE = "metrics.json"
CALIBRATION_TAG = "riskstream.calibration"
RELIABILITY_TAG = "riskstream.reliability"
REFERENCE_FILE = "reference.pkl"  # the bundle's drift reference alone: builtins and numpy
FETCH_TIMEOUT_S = 300.0


log = logging.getLogger(__name__)


@dataclass
class VersionReference:
    """What a drift monitor holds of a model version: its drift reference, not its
    estimator."""

    version: str
    reference: DriftReference
    kind: str = "reference"


@dataclass(frozen=True)
class Watch:
    """A promoted ``champion`` under watch since ``since_ms``, with ``previous`` in shadow."""

    champion: str
    previous: str
    since_ms: int


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as the registry describes it (here, not in ``registry.py``, so a
    process that only receives one never imports MLflow)."""

    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    tags: dict[str, str]
    metrics: dict[str, float]
    created_ms: int


class RegistryError(RiskstreamError):
    """The MLflow registry refused an operation or holds no such version."""


def registered_name(settings: ClusterSettings) -> str:
    """The registered model of a deployment: its topic prefix and the model name."""
    return f"{settings.topic_prefix}{settings.model_name}"


def version_cache(settings: ClusterSettings, version: str) -> Path:
    """Where a version's bundle and metrics are cached for this deployment's workers. Beside
    the default sqlite store, so deleting that store deletes the cache too (a new store
    numbers its versions from 1 again); for a tracking server, under a hash of its URI."""
    if settings.mlflow_tracking_uri:
        digest = hashlib.sha256(settings.mlflow_tracking_uri.encode()).hexdigest()[:12]
        root = settings.state_dir.resolve() / "model-cache" / digest
    else:
        root = settings.mlflow_artifact_root.parent / "model-cache"
    return root / registered_name(settings) / version


def is_cached(settings: ClusterSettings, version: str) -> bool:
    """Whether the version's cache folder is complete (its metrics file is written last)."""
    return (version_cache(settings, version) / METRICS_FILE).exists()


def cache_version(
    settings: ClusterSettings,
    version: str,
    bundle: Path,
    metrics: dict[str, float],
    reference: DriftReference,
) -> Path:
    """Put a registered version's bundle and validation metrics in this deployment's model
    cache, where every worker's :class:`RegistryReader` finds it without asking MLflow. The
    registry reader calls it after a download; the trainer right after it registers, so the
    scorers on its machine load a new version from disk."""
    folder = version_cache(settings, version)
    folder.mkdir(parents=True, exist_ok=True)
    # Write beside the target, then rename: a concurrent reader sees all or nothing, and
    # metrics.json, written last, marks the folder complete.
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as blob, bundle.open("rb") as src:
        shutil.copyfileobj(src, blob)
    os.replace(blob.name, folder / BUNDLE_FILE)
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as blob:
        pickle.dump(reference, blob, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(blob.name, folder / REFERENCE_FILE)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False) as text:
        json.dump({k: v for k, v in metrics.items() if v == v}, text)  # NaN is not JSON
    os.replace(text.name, folder / METRICS_FILE)
    return folder


def calibration_tags(model: ScoringModel) -> dict[str, str]:
    """How the version's scores are calibrated, and its reliability table (`model list`)."""
    if model.calibration is None:
        return {CALIBRATION_TAG: "none (raw scores)"}
    return {
        CALIBRATION_TAG: model.calibration.describe(),
        RELIABILITY_TAG: model.calibration.reliability_text(),
    }


class RegistryReader:
    """Champion lookups, bundles and validation metrics, through ``riskstream.models.fetch``."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self.name = registered_name(settings)
        self._metrics: dict[str, dict[str, float]] = {}

    def alias_version(self, alias: str) -> str | None:
        version = self._ask("alias", alias).get("version")
        return None if version is None else str(version)

    def alias_versions(self, *aliases: str, fetch: bool = False) -> dict[str, str | None]:
        """Several aliases' versions in one registry read; with ``fetch``, the child caches
        the versions too, so the ``load`` that follows needs no second child."""
        command = "alias+fetch" if fetch else "alias"
        versions = self._ask(command, ",".join(aliases)).get("versions") or {}
        return {a: None if versions.get(a) is None else str(versions[a]) for a in aliases}

    def load(self, version: str) -> ScoringModel:
        """A version's verified bundle; raises ModelLoadError if it cannot serve."""
        model = ScoringModel.load(self._fetched(version) / BUNDLE_FILE)
        model.version = version
        return model

    def version_reference(self, version: str) -> VersionReference:
        """A version's drift reference without its estimator; raises ModelLoadError if the
        version cannot be read. A cache written before references were cached apart has
        none: the whole bundle is loaded then."""
        file = self._fetched(version) / REFERENCE_FILE
        if not file.exists():
            return VersionReference(version, self.load(version).reference)
        try:
            with file.open("rb") as handle:
                reference = pickle.load(handle)
        except Exception as exc:  # a corrupt pickle can raise nearly anything
            raise ModelLoadError(
                "drift reference is corrupt", path=str(file), cause=type(exc).__name__
            ) from None
        if not isinstance(reference, dict) or "features" not in reference:
            raise ModelLoadError("file is not a drift reference", path=str(file))
        return VersionReference(version, reference)  # type: ignore[arg-type]

    def metrics(self, version: str) -> dict[str, float]:
        """The version's validation metrics as the registry holds them."""
        if version not in self._metrics:
            path = self._fetched(version) / METRICS_FILE
            self._metrics[version] = {k: float(v) for k, v in json.loads(path.read_text()).items()}
        return self._metrics[version]

    def validation_metrics(self, version: str) -> dict[str, float]:
        """``metrics``, or empty when the registry cannot give them (remembered): a monitor
        then judges the version against the champion gates alone."""
        try:
            return self.metrics(version)
        except RiskstreamError as exc:
            log.warning("no validation metrics for %s (%s)", version, exc)
            self._metrics[version] = {}
            return {}

    def _fetched(self, version: str) -> Path:
        if not is_cached(self.settings, version):
            self._ask("version", version)
        return version_cache(self.settings, version)

    def _ask(self, *args: str) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(self.settings.worker_environment())
        try:
            done = subprocess.run(
                [sys.executable, "-m", "riskstream.models.fetch", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=FETCH_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RegistryError(
                "the registry did not answer in time",
                model=self.name,
                request=" ".join(args),
                hint="is the MLflow tracking server up? `riskstream model list` asks it too",
            ) from None
        try:
            answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RegistryError(
                "the registry reader gave no answer",
                model=self.name,
                request=" ".join(args),
                exit_code=done.returncode,
                stderr=done.stderr.strip()[-300:],
            ) from None
        if "error" in answer:
            kind = ModelLoadError if answer.get("kind") == "ModelLoadError" else RegistryError
            context = {"model": self.name, **answer.get("context", {})}
            raise kind(answer["error"], **context)
        return answer
