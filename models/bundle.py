"""A model version as the scorer serves it: feature pipeline + estimator + threshold +
reference distribution, saved as one artifact and checked when loaded back."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from riskstream.core.errors import RiskstreamError

if TYPE_CHECKING:  # types only: importing them costs the registry reader's child ~1.3 s
    import pandas as pd

    from riskstream.models.calibration import Calibration
    from riskstream.models.features import FeaturePipeline
    from riskstream.models.reference import DriftReference

BUNDLE_FILE = "bundle.pkl"
FORMAT = 1


class ModelLoadError(RiskstreamError):
    """A model artifact is missing, corrupt, or does not score."""


@dataclass
class ScoringModel:
    """Everything needed to score and explain one PatientRecord batch."""

    kind: str
    explainer: str
    pipeline: FeaturePipeline
    estimator: Any
    threshold: float
    reference: DriftReference
    metrics: dict[str, float] = field(default_factory=dict)
    version: str = "unregistered"
    format: int = FORMAT
    # maps the estimator's raw scores to calibrated probabilities; None: served raw (bundles
    # saved before calibration, and the online learner's snapshots)
    calibration: Calibration | None = None

    @property
    def feature_names(self) -> list[str]:
        return self.pipeline.feature_names

    def risk(self, features: np.ndarray) -> np.ndarray:
        raw = np.asarray(self.estimator.predict_proba(features)[:, 1], dtype=float)
        return raw if self.calibration is None else self.calibration.apply(raw)

    def predict_frame(self, raw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(features, risk) for a frame of raw PatientRecord features."""
        features = self.pipeline.transform(raw)
        return features, self.risk(features)

    def contributions(self, features: np.ndarray, top: int = 3) -> list[list[tuple[str, float]]]:
        """The ``top`` feature contributions (by |value|) of each row, in log-odds units:
        coefficient x scaled value for linear models, XGBoost's pred_contribs for boosted
        trees, and for other models the change in log-odds when the feature is replaced by
        its training median (occlusion)."""
        order, values = self.top_contributions(features, top)
        names = self.feature_names
        # Python ints and floats in two calls: indexing numpy one scalar at a time cost the
        # scorer 3.7 us per record
        return [
            [(names[j], v) for j, v in zip(row, top_values, strict=True)]
            for row, top_values in zip(order.tolist(), values.tolist(), strict=True)
        ]

    def top_contributions(
        self, features: np.ndarray, top: int = 3
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`contributions` as two arrays (rows, top): each row's feature indexes,
        largest |value| first, and their values (the scorer encodes them as they are)."""
        values = self._contribution_matrix(features)
        order = np.argsort(-np.abs(values), axis=1)[:, :top]
        return order, np.take_along_axis(values, order, axis=1).astype(float)

    def _contribution_matrix(self, features: np.ndarray) -> np.ndarray:
        if self.explainer == "tree_shap":
            import xgboost

            booster = self.estimator.get_booster()
            contribs = booster.predict(xgboost.DMatrix(features), pred_contribs=True)
            return np.asarray(contribs[:, :-1])  # the last column is the bias
        if self.explainer == "linear" and hasattr(self.estimator, "named_steps"):
            scaler = self.estimator.named_steps["scale"]
            coef = self.estimator.named_steps["model"].coef_[0]
            return np.asarray(scaler.transform(features) * coef)
        return self._occlusion(features)

    def _occlusion(self, features: np.ndarray) -> np.ndarray:
        base = _logit(self.risk(features))
        medians = np.asarray(self.reference["feature_medians"], dtype=float)
        out = np.empty_like(features, dtype=float)
        for j in range(features.shape[1]):
            replaced = features.copy()
            replaced[:, j] = medians[j]
            out[:, j] = base - _logit(self.risk(replaced))
        return out

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / BUNDLE_FILE
        with path.open("wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @staticmethod
    def load(path: Path) -> ScoringModel:
        """Load and verify: it must unpickle into a ScoringModel and score its probe row."""
        file = path / BUNDLE_FILE if path.is_dir() else path
        try:
            with file.open("rb") as handle:
                model = _BundleUnpickler(handle).load()
        except FileNotFoundError:
            raise ModelLoadError("model artifact is missing", path=str(file)) from None
        except Exception as exc:  # a corrupt pickle can raise nearly anything
            raise ModelLoadError(
                "model artifact is corrupt", path=str(file), cause=type(exc).__name__
            ) from None
        if not isinstance(model, ScoringModel) or model.format != FORMAT:
            raise ModelLoadError("artifact is not a riskstream model bundle", path=str(file))
        model.self_check()
        return model

    def self_check(self) -> None:
        """Score the stored probe rows; a model that cannot is never served or promoted."""
        # the scorer's numpy path, so a scorer never needs pandas
        columns = self.reference["probe_rows"]
        probe = [
            dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)
        ]
        try:
            risk = self.risk(self.pipeline.matrix(probe))
        except Exception as exc:
            raise ModelLoadError(
                "model does not score its probe rows", cause=type(exc).__name__
            ) from None
        if risk.shape != (len(probe),) or not np.all((risk >= 0) & (risk <= 1)):
            raise ModelLoadError("model scores fall outside [0, 1]")


class _BundleUnpickler(pickle.Unpickler):
    """Bundles saved before 0.2 name their classes `models.bundle.ScoringModel`, ...; the
    packages now install under `riskstream.`, so those names are read as `riskstream.*`."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".", 1)[0] in _MOVED_PACKAGES:
            module = f"riskstream.{module}"
        return super().find_class(module, name)


_MOVED_PACKAGES = frozenset({"models", "producers", "schemas", "stream_processors"})


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)))
