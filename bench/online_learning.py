"""Online learning: the river model that learns from each labeled example (`riskstream run
learner`) against a batch champion trained once on Pima.tr2, on the simulator's streams.

Both predict each example before the online model learns from it (progressive validation);
the champion never learns. Each stream is clean for its first half and changes at the
midpoint (no change, a covariate shift, or a concept change), so the second half says
whether learning online pays when the world moves, and the first what it costs when it does
not. Pure computation: the learner worker adds only Kafka reads and MLflow snapshots.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from bench.common import Echo, bundled_training
from riskstream.core.settings import Settings
from riskstream.models import data
from riskstream.models.online import OnlineLearner
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.patient_record import RAW_FEATURES

SCENARIOS = ("none", "covariate-shift", "concept-drift")


def simulated_frame(scenario: str, records: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    sim = Simulator(PimaModel.fit(), Scenario.named(scenario, start=records // 2), seed=seed)
    items = list(sim.stream(records, 0))
    rows = [{n: getattr(s.record, n) for n in RAW_FEATURES} for s in items]
    frame = pd.DataFrame(rows, columns=list(RAW_FEATURES)).astype(float)
    return frame, np.array([s.outcome for s in items])


def _scores(y: np.ndarray, risk: np.ndarray, threshold: float) -> dict[str, float]:
    return {
        "accuracy": float(((risk >= threshold).astype(int) == y).mean()),
        "roc_auc": float(roc_auc_score(y, risk)),
    }


def measure(echo: Echo, *, records: int, seed: int = 11) -> dict[str, Any]:
    raw, y = data.load(data.TRAIN_FILE)
    echo("online learning: training the batch champion on Pima.tr2 (5-fold CV, all kinds)")
    champion = copy.deepcopy(bundled_training()).model
    defaults = Settings.model_fields
    lr, l2 = defaults["learner_lr"].default, defaults["learner_l2"].default
    out: dict[str, Any] = {"records": records, "champion": champion.kind, "lr": lr, "l2": l2}
    half = records // 2
    for name in SCENARIOS:
        frame, labels = simulated_frame(name, records, seed)
        _, champion_risk = champion.predict_frame(frame)
        learner = OnlineLearner.bootstrap(raw, y, lr=lr, l2=l2)
        began = time.perf_counter()
        online_risk = learner.learn(
            frame, labels, (champion_risk >= champion.threshold).astype(int)
        )
        seconds = time.perf_counter() - began
        parts = {"first_half": slice(0, half), "second_half": slice(half, records)}
        result: dict[str, Any] = {
            part: {
                "online": _scores(labels[s], online_risk[s], learner.model.threshold),
                "champion": _scores(labels[s], champion_risk[s], champion.threshold),
            }
            for part, s in parts.items()
        }
        result["examples_per_second"] = round(records / seconds, 1)
        out[name] = result
        second = result["second_half"]
        echo(
            f"online learning, {name}: second half accuracy online "
            f"{second['online']['accuracy']:.3f} vs champion {second['champion']['accuracy']:.3f}"
        )
    return out


def table(r: dict[str, Any]) -> list[str]:
    rows = [
        f"{r['records']:,} simulated records per stream, clean for the first half, then the "
        f"named change; the batch champion ({r['champion']}, trained once on Pima.tr2) against "
        f"the online river model (bootstrapped on the same rows, then learning from each "
        f"example after predicting it; lr {r['lr']}, l2 {r['l2']}). `bench/online_learning.py`.",
        "",
        "| stream | half | online accuracy | champion accuracy | online ROC-AUC "
        "| champion ROC-AUC | online speed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in SCENARIOS:
        if name not in r:
            continue
        for part in ("first_half", "second_half"):
            o, c = r[name][part]["online"], r[name][part]["champion"]
            rows.append(
                f"| {name} | {part.replace('_', ' ')} | {o['accuracy']:.3f} | "
                f"{c['accuracy']:.3f} | {o['roc_auc']:.3f} | {c['roc_auc']:.3f} | "
                f"{r[name]['examples_per_second']:,.0f} examples/s |"
            )
    return rows
