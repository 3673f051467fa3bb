"""What a challenger in shadow costs the scorer (#15): throughput over the same records, as a
ratio to raw confluent-kafka passthrough in the same run, and end-to-end latency at a held
load, for the champion alone, with the challenger scored in shadow, and with half the patients
served by the challenger (the champion then in shadow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import Echo, bootstrapped, deployment, median, produce_records
from bench.latency import held_loads
from bench.paths import raw_passthrough
from bench.throughput import plain_run, scorer_run
from riskstream.models.registry import CHALLENGER, CHAMPION, Registry

VARIANTS: dict[str, dict[str, Any]] = {
    "alone": {"shadow": False, "split": 0.0},
    "shadow": {"shadow": True, "split": 0.0},
    "split": {"shadow": True, "split": 0.5},
}


def measure(
    base: Any,
    workdir: Path,
    echo: Echo,
    *,
    records: int,
    repeats: int,
    rate: int,
    seconds: float,
    latency_of: tuple[str, ...] = tuple(VARIANTS),
) -> dict[str, Any]:
    """``latency_of``: the variants whose latency is held (smoke mode holds one: each load
    costs a scorer's start-up, ~10 s)."""
    settings = deployment(base, "bs", workdir / "shadow")
    registry = Registry(settings)
    champion = registry.alias_version(CHAMPION)
    challenger = bootstrapped(settings).version  # a second version of the same kind
    assert champion is not None and challenger != champion
    registry.set_alias(CHAMPION, champion)
    registry.set_alias(CHALLENGER, challenger)
    echo(f"shadow: champion {champion}, challenger {challenger}; producing {records} records")
    produce_records(settings, records)
    timeout = 120 + records / 500
    rates: dict[str, list[float]] = {"raw": [], **{name: [] for name in VARIANTS}}
    for run in range(1, repeats + 1):
        rates["raw"].append(plain_run(settings, "raw-out", records, raw_passthrough))
        for name, changes in VARIANTS.items():
            rate_rps, _ = scorer_run(
                settings.model_copy(update=changes), records, monitors=False, timeout=timeout
            )
            rates[name].append(rate_rps)
        echo(
            f"shadow run {run}/{repeats}: "
            + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items())
        )
    latency = {
        name: held_loads(settings.model_copy(update=changes), echo, [rate], seconds)[str(rate)]
        for name, changes in VARIANTS.items()
        if name in latency_of
    }
    med = {k: median(v) for k, v in rates.items()}
    return {
        "records": records,
        "repeats": repeats,
        "runs": rates,
        "median_rps": med,
        "ratio_over_raw": {k: med[k] / med["raw"] for k in VARIANTS} if med["raw"] else {},
        "ratio_over_alone": {k: med[k] / med["alone"] for k in VARIANTS} if med["alone"] else {},
        "latency_rate": rate,
        "latency_seconds": seconds,
        "latency": latency,
    }


def table(r: dict[str, Any]) -> list[str]:
    rows = [
        f"One scorer process over the same {r['records']:,} records, {r['repeats']} runs "
        f"(median), then {r['latency_rate']:,} records/s offered for "
        f"{r['latency_seconds']:.0f} s. *alone*: `RISKSTREAM_SHADOW=false`; *shadow*: the "
        "challenger scores every record too and its predictions go to shadow-predictions in "
        "the same transaction; *split*: `RISKSTREAM_SPLIT=0.5`, half the patients served by the "
        "challenger. Both versions are the bootstrapped logistic pipeline. `bench/shadow.py`.",
        "",
        "| scorer | records/s | ÷ raw passthrough | ÷ alone | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
        f"| raw passthrough | {r['median_rps']['raw']:,.0f} | 1.00 | | | |",
    ]
    for name in VARIANTS:
        lat = r["latency"].get(name)
        held = f"{lat['p50_ms']:.1f} | {lat['p99_ms']:.1f}" if lat else "- | -"
        rows.append(
            f"| {name} | {r['median_rps'][name]:,.0f} | {r['ratio_over_raw'][name]:.2f} | "
            f"{r['ratio_over_alone'][name]:.2f} | {held} |"
        )
    return rows
