"""Model swaps: does a scorer's memory grow with every promotion, or once per model kind?

The soak saw the scorer's RSS jump when a retrained version was promoted. That could be the
holder keeping the version it no longer serves (growth per promotion, unbounded), or the
first load of a model kind importing its library (growth once per kind, bounded). This
registers one version per candidate kind in a private MLflow store, then, in a fresh
process, loads them in turn through the scorer's ``ModelHolder`` for several rounds and reads
``VmRSS`` after each swap. Growth per promotion shows as a rise in every round; growth per
kind, as a rise in the first round only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench.common import REPO, Echo, rss_mb, worker_env
from riskstream.core.settings import Settings

KINDS = ("logistic", "xgboost", "random_forest", "river_logistic")


def register_versions(settings: Settings, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """One registered version per kind, trained on Pima.tr2: (version, kind)."""
    from riskstream.models import data
    from riskstream.models.candidates import candidate
    from riskstream.models.registry import Registry
    from riskstream.models.training import train

    raw, y = data.load(data.TRAIN_FILE)
    registry = Registry(settings)
    out = []
    for kind in kinds:
        result = train(raw, y, seed=1, candidates=[candidate(kind)])
        _, version = registry.log_and_register(
            result.model, params={"candidate": kind}, metrics={}, tags={}, figures={}
        )
        out.append((version, kind))
    return out


def measure(
    base: Settings, work: Path, echo: Echo, kinds: tuple[str, ...] = KINDS, rounds: int = 4
) -> dict[str, Any]:
    settings = base.model_copy(
        update={
            "state_dir": work / "model-swaps",
            "mlflow_tracking_uri": None,
            "model_name": f"swaps-{uuid.uuid4().hex[:6]}",
        }
    )
    echo(f"registering one version of each of {len(kinds)} kinds")
    versions = register_versions(settings, tuple(kinds))
    echo(f"swapping through {len(versions)} versions {rounds} times in a fresh process")
    done = subprocess.run(
        [sys.executable, "-m", "bench.model_swaps", ",".join(v for v, _ in versions), str(rounds)],
        env=worker_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    swaps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    per_version = len(versions)
    first_round_end = swaps[per_version - 1]["rss_mb"]
    return {
        "versions": [{"version": v, "kind": k} for v, k in versions],
        "rounds": rounds,
        "start_mb": swaps[0]["start_mb"],
        "swaps": swaps,
        "after_first_round_mb": first_round_end,
        "end_mb": swaps[-1]["rss_mb"],
        # growth over every swap after each kind was loaded once
        "later_growth_mb": round(swaps[-1]["rss_mb"] - first_round_end, 1),
        "later_swaps": len(swaps) - per_version,
    }


def _swap_through(versions: list[str], rounds: int) -> None:
    """Run in a fresh process: what a scorer does on each promotion, then its RSS."""
    import gc

    from riskstream.core.settings import load_settings
    from riskstream.io.kafka.clients import codec_for
    from riskstream.models.registry_reader import CHAMPION
    from riskstream.schemas.events import ModelVersionEvent
    from riskstream.stream_processors.model_holder import ModelHolder, whole_model

    settings = load_settings()
    holder = ModelHolder(settings, codec_for(settings), whole_model)
    start = rss_mb()
    for round_ in range(rounds):
        for version in versions:
            event = ModelVersionEvent.announce(
                settings.model_name, "PROMOTED", version=version, alias=CHAMPION
            )
            if not holder.handle_event(event):
                raise SystemExit(f"version {version} did not swap in")
            gc.collect()
            current = holder.current
            kind = current.kind if current is not None else "?"
            line = {"round": round_, "version": version, "kind": kind, "rss_mb": rss_mb()}
            print(json.dumps({**line, "start_mb": start}), flush=True)


if __name__ == "__main__":
    _swap_through(sys.argv[1].split(","), int(sys.argv[2]))
