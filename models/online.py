"""A model that learns online: river's logistic regression takes one labeled example at a
time, and predicts each example before it learns from it (progressive validation), so its
running metrics are measured on data it had not seen.

Pure: the worker that feeds it from `labeled-examples` and registers its snapshots is
`riskstream.stream_processors.online_learner`.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskstream.models.bundle import ScoringModel
from riskstream.models.candidates import RiverLogistic
from riskstream.models.features import FeaturePipeline
from riskstream.models.reference import drift_reference, reference_distribution
from riskstream.schemas.patient_record import RAW_FEATURES

KIND = "river_online"
AUC_BINS = 200  # score histogram per class: the progressive ROC-AUC to within about 0.005
RECENT_ROWS = 2000  # raw rows kept to describe a snapshot's recent traffic (its drift reference)
MIN_RECENT = 200  # fewer recent rows: a snapshot keeps the bootstrap data as its reference
OFFSETS_TAG = "riskstream.online_offsets"  # a snapshot's "partition:next offset,..."


def offsets_text(offsets: Mapping[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(offsets.items()))


def parse_offsets(text: str) -> dict[int, int]:
    pairs = (item.split(":") for item in text.split(",") if item)
    return {int(p): int(o) for p, o in pairs}


def has_learned_any(offsets: Mapping[int, int], positions: Iterable[tuple[int, int]]) -> bool:
    """Whether a snapshot that learned up to ``offsets`` learned any example at
    ``positions`` ((partition, offset) pairs): then it cannot be judged on them."""
    return any(offset < offsets.get(partition, 0) for partition, offset in positions)


def histogram_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC-AUC from per-class counts of scores in equal bins over [0, 1]: the chance that a
    positive outscores a negative, a tie within a bin counting half. NaN without both."""
    pos, neg = np.asarray(positives, dtype=float), np.asarray(negatives, dtype=float)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])  # negatives in lower bins
    return float((pos * below).sum() + 0.5 * (pos * neg).sum()) / float(n_pos * n_neg)


@dataclass
class ProgressiveScore:
    """Predict-then-learn metrics over every example learned, and the serving champion's on
    the same examples (its prediction rides on each labeled example)."""

    examples: int = 0
    correct: int = 0
    champion_correct: int = 0
    log_loss_sum: float = 0.0
    positives: np.ndarray = field(default_factory=lambda: np.zeros(AUC_BINS))
    negatives: np.ndarray = field(default_factory=lambda: np.zeros(AUC_BINS))

    def add(
        self, risk: np.ndarray, labels: np.ndarray, threshold: float, champion: np.ndarray
    ) -> None:
        y = np.asarray(labels, dtype=int)
        p = np.clip(np.asarray(risk, dtype=float), 1e-15, 1 - 1e-15)
        self.examples += len(y)
        self.correct += int(((p >= threshold).astype(int) == y).sum())
        self.champion_correct += int((np.asarray(champion, dtype=int) == y).sum())
        self.log_loss_sum += float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())
        bins = np.minimum((p * AUC_BINS).astype(int), AUC_BINS - 1)
        self.positives += np.bincount(bins[y == 1], minlength=AUC_BINS)
        self.negatives += np.bincount(bins[y == 0], minlength=AUC_BINS)

    def metrics(self) -> dict[str, float]:
        n = self.examples
        nan = float("nan")
        return {
            "progressive_examples": float(n),
            "progressive_accuracy": self.correct / n if n else nan,
            "progressive_log_loss": self.log_loss_sum / n if n else nan,
            "progressive_roc_auc": histogram_auc(self.positives, self.negatives),
            "champion_progressive_accuracy": self.champion_correct / n if n else nan,
        }

    def state(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "correct": self.correct,
            "champion_correct": self.champion_correct,
            "log_loss_sum": self.log_loss_sum,
            "positives": self.positives.tolist(),
            "negatives": self.negatives.tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ProgressiveScore:
        if not state:
            return cls()
        return cls(
            examples=int(state["examples"]),
            correct=int(state["correct"]),
            champion_correct=int(state["champion_correct"]),
            log_loss_sum=float(state["log_loss_sum"]),
            positives=np.asarray(state["positives"], dtype=float),
            negatives=np.asarray(state["negatives"], dtype=float),
        )


class OnlineLearner:
    """The river model, its progressive score and the newest raw rows it learned from."""

    def __init__(self, model: ScoringModel, score: ProgressiveScore | None = None) -> None:
        if not isinstance(model.estimator, RiverLogistic):
            raise TypeError(f"an online learner needs a river model, not {model.kind}")
        self.model = model
        self.score = score or ProgressiveScore()
        self.recent: deque[list[float]] = deque(maxlen=RECENT_ROWS)

    @classmethod
    def bootstrap(
        cls, raw: pd.DataFrame, y: pd.Series, *, lr: float, l2: float, seed: int = 0
    ) -> OnlineLearner:
        """Start from the bootstrap data, learned in a few passes, then learn online."""
        pipeline = FeaturePipeline().fit(raw)
        X = pipeline.transform(raw)
        estimator = RiverLogistic(lr=lr, l2=l2, seed=seed).fit(X, y.to_numpy(dtype=int))
        risk = estimator.predict_proba(X)[:, 1]
        model = ScoringModel(
            kind=KIND,
            explainer="occlusion",
            pipeline=pipeline,
            estimator=estimator,
            threshold=0.5,
            reference=reference_distribution(raw, pipeline.frame(raw), risk),
        )
        model.self_check()
        return cls(model)

    @classmethod
    def resume(cls, snapshot: ScoringModel) -> OnlineLearner:
        """Go on from a registered snapshot, with the progressive score it was taken with."""
        return cls(snapshot, ProgressiveScore.from_state(snapshot.reference.get("progressive", {})))

    def learn(self, raw: pd.DataFrame, labels: np.ndarray, champion: np.ndarray) -> np.ndarray:
        """Predict each row, then learn from it, in order; returns the predictions."""
        X = self.model.pipeline.transform(raw)
        y = np.asarray(labels, dtype=int)
        estimator: RiverLogistic = self.model.estimator
        risk = np.empty(len(y))
        for i in range(len(y)):
            risk[i] = estimator.predict_one(X[i])
            estimator.learn_one(X[i], int(y[i]))
        self.score.add(risk, y, self.model.threshold, champion)
        self.recent.extend(raw[list(RAW_FEATURES)].to_numpy(dtype=float).tolist())
        return risk

    def snapshot(self) -> ScoringModel:
        """A copy to register: the model as it is now, its progressive metrics, and (once
        it has learned enough) the recent traffic as its drift reference."""
        model = copy.deepcopy(self.model)
        if len(self.recent) >= MIN_RECENT:
            recent = pd.DataFrame(list(self.recent), columns=list(RAW_FEATURES))
            _, risk = model.predict_frame(recent)
            model.reference.update(drift_reference(recent, model.pipeline.frame(recent), risk))
            model.reference["source"] = "recent"
        model.reference["progressive"] = self.score.state()
        model.metrics = {k: v for k, v in self.score.metrics().items() if not math.isnan(v)}
        model.self_check()
        return model
