"""How often a drift retrain's quality gates stop a candidate better than its champion.

An offline analysis (no broker): the demo's drift (``drift-demo``: glucose +1 sd and a concept
change) drawn from the simulator; the champion trained on Pima.tr2 as ``make demo``'s
bootstrap is; the trainer's refit on Pima.tr2 plus the oldest 70% of ``examples`` drifted
labeled records; both judged on the newest 30%, as ``retrain_data`` splits them. For each
retrain: did the gates miss, and does :func:`decide_promotion` still stop the candidate now
that a miss within the holdout's sampling error is excused when the champion is no better?
Run ``python -m bench.gate_noise [--retrains 150] [--examples 250 350] [--noise]``; ``--noise``
replaces the labels with coin flips, where nothing should be promoted.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np
import pandas as pd

from riskstream.core.worker_slices import MonitoringSettings
from riskstream.models import data as bundled
from riskstream.models.bundle import ScoringModel
from riskstream.models.selection import Gates, decide_promotion, evaluate_gated
from riskstream.models.training import refit, train
from riskstream.producers.simulator import PimaModel, Scenario, Simulator

# RISKSTREAM_RETRAIN_HOLDOUT_FRACTION's default, as the trainer splits
HOLDOUT_FRACTION = float(MonitoringSettings.model_fields["retrain_holdout_fraction"].default)


def measure(examples: int, retrains: int, noise: bool = False) -> dict[str, Any]:
    raw, y = bundled.load(bundled.TRAIN_FILE)
    champion = train(raw, y, seed=0).model
    simulated, gates = PimaModel.fit(), Gates()
    missed = stopped = promoted = 0
    f1_errors = []
    for seed in range(retrains):
        drawn = Simulator(simulated, Scenario.named("drift-demo", 0), seed=100 + seed)
        batch = drawn.draw(examples)
        frame, labels = batch.frame.reset_index(drop=True), batch.outcome
        if noise:
            labels = np.random.default_rng(seed).integers(0, 2, examples)
        cut = int(examples * (1 - HOLDOUT_FRACTION))
        fitted = refit(
            champion,
            pd.concat([raw, frame.iloc[:cut]], ignore_index=True),
            pd.concat([y, pd.Series(labels[:cut])], ignore_index=True),
            seed=0,
        ).model
        holdout, truth = frame.iloc[cut:], labels[cut:]
        candidate = _judged(fitted, holdout, truth)
        decision = decide_promotion(candidate, _judged(champion, holdout, truth), gates)
        missed += bool(gates.failures(candidate))
        stopped += bool(gates.failures(candidate)) and not decision.promote
        promoted += decision.promote
        f1_errors.append(candidate["f1_se"])
    return {
        "examples": examples,
        "holdout": examples - int(examples * (1 - HOLDOUT_FRACTION)),
        "retrains": retrains,
        "labels": "coin flips" if noise else "drift-demo",
        "gate misses": missed,
        "stopped by the gates": stopped,
        "promoted": promoted,
        "median F1 standard error": round(statistics.median(f1_errors), 4),
    }


def _judged(model: ScoringModel, raw: pd.DataFrame, truth: np.ndarray) -> dict[str, float]:
    _, risk = model.predict_frame(raw)
    return evaluate_gated(truth, risk, model.threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--retrains", type=int, default=150)
    parser.add_argument("--examples", type=int, nargs="+", default=[250, 350])
    parser.add_argument("--noise", action="store_true", help="labels of coin flips")
    args = parser.parse_args()
    for examples in args.examples:
        print(f"{args.retrains} retrains on {examples} examples …", flush=True)
        print(measure(examples, args.retrains, args.noise), flush=True)


if __name__ == "__main__":
    main()
