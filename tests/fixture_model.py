"""A small real model for tests of code that needs one (trained on Pima.tr2 in ~1 s)."""

from __future__ import annotations

from functools import cache

from riskstream.models import data
from riskstream.models.bundle import ScoringModel
from riskstream.models.candidates import candidate
from riskstream.models.features import FeaturePipeline
from riskstream.models.reference import reference_distribution


@cache
def fixture_model(kind: str = "logistic", version: str = "1") -> ScoringModel:
    raw, y = data.load(data.TRAIN_FILE)
    pipe = FeaturePipeline(["glucose_per_age"]).fit(raw)
    X = pipe.transform(raw)
    spec = candidate(kind)
    estimator = spec.build(0).fit(X, y.to_numpy())
    model = ScoringModel(
        kind,
        spec.explainer,
        pipe,
        estimator,
        0.5,
        reference_distribution(raw, pipe.frame(raw), estimator.predict_proba(X)[:, 1]),
    )
    model.version = version
    return model
