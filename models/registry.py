"""MLflow tracking and registry: runs, versions with lineage tags, and the `champion` /
`challenger` aliases (not the deprecated stages).

The champion's history is kept as a tag on the registered model, so `rollback` knows which
version held the alias before.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.model import PythonModel
from mlflow.tracking import MlflowClient

from riskstream.core.worker_slices import ChampionSettings
from riskstream.models.bundle import BUNDLE_FILE, ModelLoadError, ScoringModel
from riskstream.models.reference import DriftReference
from riskstream.models.registry_reader import (
    CHALLENGER,
    CHAMPION,
    ONLINE,
    PREVIOUS,
    RegistryError,
    VersionInfo,
    Watch,
    cache_version,
    calibration_tags,
    registered_name,
)

log = logging.getLogger(__name__)
HISTORY_TAG = "riskstream.champion_history"
CHALLENGED_AT_TAG = "riskstream.challenged_at"  # epoch ms the version last became challenger
EVIDENCE_TAG = "riskstream.live_evidence"  # what a live promotion or rejection rested on
WATCHED_SINCE_TAG = "riskstream.watched_since"  # epoch ms a promoted version's watch began
WATCH_TAG = "riskstream.watch"  # how the watch after its promotion ended, and on what evidence
AWAITING_TAG = "riskstream.awaiting_approval"  # RISKSTREAM_PROMOTION=manual: a person decides
DECISION_TAG = "riskstream.decision"  # who approved or rejected the version, when and why
ACTION_TAG = "riskstream.last_action"  # a person's last action on the version: who, when, why
__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ONLINE",
    "PREVIOUS",
    "Registry",
    "RegistryError",
    "VersionInfo",
    "Watch",
]


class _BundleModel(PythonModel):
    """Lets `mlflow.pyfunc.load_model` score the bundle, for users outside riskstream."""

    def load_context(self, context: Any) -> None:
        self.model = ScoringModel.load(Path(context.artifacts["bundle"]))

    def predict(  # type: ignore[override]  # MLflow validates input by these hints
        self, context: Any, model_input: list[dict[str, float]]
    ) -> list[float]:
        """Risk of each record (a dict of PatientRecord feature names to values)."""
        risk = self.model.predict_frame(pd.DataFrame.from_records(model_input))[1]
        return [float(r) for r in risk]


class Registry:
    """One registered model of one deployment."""

    def __init__(self, settings: ChampionSettings) -> None:
        self.settings = settings
        self.name = registered_name(settings)
        self.uri = settings.resolved_mlflow_uri

    @cached_property
    def client(self) -> MlflowClient:
        """The MLflow client, made at first use (a constructor does no I/O): it creates the
        sqlite store's folder and points MLflow's module-level calls at this store."""
        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def open(self) -> str:
        """Open the tracking store and this model's experiment now (its id). The first call
        in a process pays for the store: with the sqlite default, SQLAlchemy and Alembic's
        schema check, measured at 1.3 s and 49 MiB. A trainer opens at start, so its first
        drift retrain does not wait for them, and it holds from the start what it will hold."""
        return self.experiment_id

    @cached_property
    def experiment_id(self) -> str:
        existing = self.client.get_experiment_by_name(self.name)
        if existing is not None:
            return str(existing.experiment_id)
        location = None
        if not self.settings.mlflow_tracking_uri:
            self.settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
            location = self.settings.mlflow_artifact_root.as_uri()
        try:
            return str(self.client.create_experiment(self.name, artifact_location=location))
        except MlflowException:  # created concurrently
            found = self.client.get_experiment_by_name(self.name)
            assert found is not None
            return str(found.experiment_id)

    # -- writing --------------------------------------------------------------------------

    def log_and_register(
        self,
        model: ScoringModel,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        figures: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """One MLflow run with params, metrics, plots, reference and the model; returns
        (run_id, registered version)."""
        with tempfile.TemporaryDirectory() as tmp:
            run_id, version = self.log_bundle(
                model.save(Path(tmp)),
                model.reference,
                params=params,
                metrics=metrics,
                tags={**tags, **calibration_tags(model)},
                figures=figures,
            )
        model.version = version
        return run_id, version

    def log_bundle(
        self,
        bundle_path: Path,
        reference: DriftReference,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        figures: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """:meth:`log_and_register` of a bundle already saved (the trainer's training
        process saves it): (run_id, registered version)."""
        experiment = self.experiment_id  # made first: it points MLflow's calls at this store
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_params({k: str(v)[:250] for k, v in params.items()})
            mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})  # drop NaN
            mlflow.set_tags(tags)
            mlflow.log_dict(dict(reference), "reference.json")
            for name, figure in (figures or {}).items():
                mlflow.log_figure(figure, f"plots/{name}")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=_BundleModel(),
                artifacts={"bundle": str(bundle_path)},
                pip_requirements=["riskstream"],
            )
            with _printed_to_log():
                registered = mlflow.register_model(info.model_uri, self.name, tags=tags)
            version = str(registered.version)
            # the workers on this machine then load it from disk, not through MLflow
            cache_version(self.settings, version, bundle_path, metrics, reference)
        return run.info.run_id, version

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.name, alias, version)

    def promote(self, version: str, *, watch: bool = False) -> str | None:
        """Move `champion` to ``version``; return the version that held it. A promotion ends
        the challenge: `challenger` is removed, so scorers stop scoring it in shadow. With
        ``watch`` (and ``canary_windows`` > 0) the version that held it becomes `previous`:
        scored in shadow while the trainer's canary watches the new one (see ``canary.py``)."""
        self.get(version)  # raises if unknown
        previous = self.alias_version(CHAMPION)
        self.set_alias(CHAMPION, version)
        self._drop_alias(CHALLENGER)
        if watch and self.settings.canary_windows > 0 and previous not in (None, version):
            assert previous is not None
            stamp = str(int(time.time() * 1000))
            self.client.set_model_version_tag(self.name, version, WATCHED_SINCE_TAG, stamp)
            self.set_alias(PREVIOUS, previous)
        else:
            self._drop_alias(PREVIOUS)
        history = [v for v in self._history() if v != version] + [version]
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history[-50:]))
        return previous

    def watch(self) -> Watch | None:
        """The watch after the last promotion, while it lasts."""
        champion, previous = self.alias_version(CHAMPION), self.alias_version(PREVIOUS)
        if champion is None or previous is None or previous == champion:
            return None
        since = self.get(champion).tags.get(WATCHED_SINCE_TAG)
        return None if since is None else Watch(champion, previous, int(since))

    def end_watch(self, version: str, outcome: str) -> None:
        """The watch of ``version`` ended with it still champion: stop scoring `previous`."""
        self._drop_alias(PREVIOUS)
        self.client.set_model_version_tag(self.name, version, WATCH_TAG, outcome[:4000])

    def _drop_alias(self, alias: str) -> None:
        if self.alias_version(alias) is not None:
            self.client.delete_registered_model_alias(self.name, alias)

    def challenge(self, version: str) -> None:
        """Make ``version`` the `challenger`, stamped with when: live evidence counts from then,
        and its maximum wait runs from then."""
        self.get(version)  # raises if unknown
        self.set_alias(CHALLENGER, version)
        stamp = str(int(time.time() * 1000))
        self.client.set_model_version_tag(self.name, version, CHALLENGED_AT_TAG, stamp)

    def await_approval(self, version: str, why: str) -> None:
        """``RISKSTREAM_PROMOTION=manual``: the version would be promoted; it waits as the
        challenger for a person's ``approve`` or ``reject``."""
        self.challenge(version)
        self.client.set_model_version_tag(self.name, version, AWAITING_TAG, why[:4000])

    def decide(self, version: str, approve: bool, actor: str, reason: str) -> str | None:
        """A person's decision on the challenger ``version``: approved, it is promoted (and
        watched); rejected, its challenge ends. Returns the champion it replaced, if any."""
        if self.alias_version(CHALLENGER) != version:
            raise RegistryError(
                "only the challenger can be approved or rejected",
                model=self.name,
                version=version,
                hint="`riskstream model list` shows which version is challenger",
            )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        verdict = "approved" if approve else "rejected"
        decision = f"{verdict} by {actor} at {stamp}: {reason}"
        self.client.set_model_version_tag(self.name, version, DECISION_TAG, decision[:4000])
        with contextlib.suppress(MlflowException):
            self.client.delete_model_version_tag(self.name, version, AWAITING_TAG)
        if approve:
            return self.promote(version, watch=True)
        self.end_challenge(version, decision)
        return self.alias_version(CHAMPION)

    def challenged_at(self, info: VersionInfo) -> int:
        """When the version last became challenger (epoch ms; its creation if never stamped)."""
        return int(info.tags.get(CHALLENGED_AT_TAG, info.created_ms))

    def end_challenge(self, version: str, evidence: str) -> None:
        """The challenger lost (or waited too long): remove the alias, keep the evidence."""
        if self.alias_version(CHALLENGER) == version:
            self.client.delete_registered_model_alias(self.name, CHALLENGER)
        self.record_evidence(version, evidence)

    def record_evidence(self, version: str, evidence: str) -> None:
        """The live evidence a promotion or a rejection rested on, in the version's tags."""
        self.client.set_model_version_tag(self.name, version, EVIDENCE_TAG, evidence[:4000])

    def note_action(self, version: str, text: str) -> None:
        """A person's action on the version (the audit topic has them all), in its tags."""
        self.client.set_model_version_tag(self.name, version, ACTION_TAG, text[:4000])

    def rollback(self, outcome: str = "", to: str | None = None) -> tuple[str, str]:
        """Move `champion` back to the version that held it before (or to ``to``); returns
        (from, to). Ends any watch; ``outcome`` (why) goes in the rolled-back version's tags."""
        current = self.alias_version(CHAMPION)
        history = [v for v in self._history() if v not in (current, to)] + ([to] if to else [])
        if current is None or not history:
            raise RegistryError(
                "there is no earlier champion to roll back to",
                model=self.name,
                hint="`riskstream model promote VERSION` moves champion to any version",
            )
        target = history[-1]
        self.set_alias(CHAMPION, target)
        self._drop_alias(PREVIOUS)
        if self.alias_version(CHALLENGER) == target:
            self._drop_alias(CHALLENGER)
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history))
        if outcome:
            self.client.set_model_version_tag(self.name, current, WATCH_TAG, outcome[:4000])
        return current, target

    def _history(self) -> list[str]:
        try:
            tags = self.client.get_registered_model(self.name).tags
        except MlflowException:
            return []
        return list(json.loads(tags.get(HISTORY_TAG, "[]")))

    # -- reading --------------------------------------------------------------------------

    def alias_version(self, alias: str) -> str | None:
        try:
            return str(self.client.get_model_version_by_alias(self.name, alias).version)
        except MlflowException:
            return None

    def get(self, version: str) -> VersionInfo:
        try:
            mv = self.client.get_model_version(self.name, version)
        except MlflowException:
            raise RegistryError(
                "no such model version",
                model=self.name,
                version=version,
                hint="`riskstream model list` shows the versions",
            ) from None
        metrics: dict[str, float] = {}
        if mv.run_id:
            with contextlib.suppress(MlflowException):
                metrics = dict(self.client.get_run(mv.run_id).data.metrics)
        return VersionInfo(
            str(mv.version),
            tuple(mv.aliases or ()),
            mv.run_id,
            dict(mv.tags or {}),
            metrics,
            int(mv.creation_timestamp or 0),
        )

    def versions(self) -> list[VersionInfo]:
        try:
            found = self.client.search_model_versions(f"name='{self.name}'")
        except MlflowException:
            return []
        return sorted((self.get(str(mv.version)) for mv in found), key=lambda v: int(v.version))

    def resolve(self, ref: str) -> str:
        """A version number, or an alias (champion, challenger) → the version number."""
        if ref.isdigit():
            return ref
        version = self.alias_version(ref)
        if version is None:
            raise RegistryError(
                f"no version holds the alias {ref!r}",
                model=self.name,
                hint="train one first: `riskstream model train`",
            )
        return version

    def download(self, ref: str) -> tuple[str, Path]:
        """A version's bundle file, downloaded to a temporary folder: (version, path)."""
        version = self.resolve(ref)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.name}/{version}", tracking_uri=self.uri
            )
        except MlflowException as exc:
            raise ModelLoadError(
                "could not download the model artifact",
                model=self.name,
                version=version,
                cause=str(exc)[:200],
            ) from None
        bundles = list(Path(local).rglob(BUNDLE_FILE))
        if not bundles:
            raise ModelLoadError("model artifact holds no bundle", version=version)
        return version, bundles[0]

    def load(self, ref: str) -> ScoringModel:
        """Download and verify a version's bundle; raises ModelLoadError if it cannot serve."""
        version, path = self.download(ref)
        model = ScoringModel.load(path)
        model.version = version
        return model


@contextlib.contextmanager
def _printed_to_log() -> Any:
    """MLflow prints its registration news ("Registered model ... already exists. Creating a
    new version ...") straight to stderr, where it cut into the demo's timeline: send it to
    the log at DEBUG instead (the registry's own INFO line says what happened)."""
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        yield
    for line in buffer.getvalue().splitlines():
        if line.strip():
            log.debug("mlflow: %s", line)
