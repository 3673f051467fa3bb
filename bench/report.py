"""BENCHMARKS.md from one results file: the machine, every figure against its bar, and the
hand-written analysis in ``bench/NOTES.md`` (what the profiles showed, what was changed)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench import estimation, online_learning, patient_data, recovery, segments, shadow
from bench.bars import CA_BAR, CHILDREN, RSS_BAR_MIB, SCALE_OUT_BAR, soak_peaks
from bench.notes import NOTES, fill_notes


def _verdict(ok: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[ok]


LATENCY_P99_MS = {"1000": 50, "5000": 60}  # records/s offered → the p99 bar


def _row(figure: str, value: str, bar: str, ok: bool | None) -> str:
    return f"| {figure} | {value} | {bar} | {_verdict(ok)} |"


PEER_NAMES = {
    "faust": "Faust agent",
    "quix": "Quix Streams application",
    "bytewax": "Bytewax dataflow",
}


def _peer_rows(t: dict[str, Any]) -> list[str]:
    """Each peer doing the scorer's work, with its delivery guarantee, against the bar
    "riskstream ahead of every peer" (results from before the peers were added hold Faust
    only)."""
    m, guarantees = t["median_rps"], t.get("peer_guarantees", {})
    return [
        _row(
            f"{name} scorer (same work; {guarantees.get(key, 'at least once')})",
            f"{m[key]:,.0f} rec/s",
            "below (c)",
            m[key] < m["riskstream"],
        )
        for key, name in PEER_NAMES.items()
        if key in m
    ]


def _scale_out_rows(t: dict[str, Any]) -> list[str]:
    """The scorer with ``--processes`` 1 and 2, in steady state (results from before it was
    measured have none)."""
    scale = t.get("scale_out")
    if not scale:
        return []
    m, ratio = scale["median_rps"], scale["ratio_2_over_1"]
    return [
        _row(
            f"scorer, `--processes 1` / `2`, steady state ({scale['partitions']} partitions)",
            f"{m['1']:,.0f} / {m['2']:,.0f} rec/s",
            "-",
            None,
        ),
        _row("2 processes / 1", f"{ratio:.2f}", f">= {SCALE_OUT_BAR}", ratio >= SCALE_OUT_BAR),
    ]


def _bars(r: dict[str, Any]) -> list[str]:
    rows = ["| figure | measured | bar | |", "|---|---|---|---|"]
    t = r.get("throughput")
    if t:
        m = t["median_rps"]
        rows += [
            _row("(a) raw confluent-kafka passthrough", f"{m['raw']:,.0f} rec/s", "-", None),
            _row("(b) naive per-record service", f"{m['naive']:,.0f} rec/s", "-", None),
            _row("(c) riskstream scorer", f"{m['riskstream']:,.0f} rec/s", "-", None),
            *_peer_rows(t),
            *_scale_out_rows(t),
            _row(
                "c / a (one process)",
                f"{t['ratio_c_over_a']:.3f}",
                f">= {CA_BAR}",
                t["ratio_c_over_a"] >= CA_BAR,
            ),
            _row("c / b", f"{t['ratio_c_over_b']:.1f}", ">= 5", t["ratio_c_over_b"] >= 5),
            _row(
                "scorer with monitors / without (median of "
                f"{len(t['monitoring']['ratios'])} pairs, {t['monitoring']['records']:,} rec)"
                if "monitoring" in t
                else "scorer with monitors / without",
                f"{t['monitoring_ratio']:.3f}",
                ">= 0.9",
                t["monitoring_ratio"] >= 0.9,
            ),
        ]
        for name, mb in sorted(t["peak_rss_mb"].items()):
            rows.append(_row(f"peak RSS, {name}", f"{mb:.0f} MiB", "<= 300 MB", mb <= RSS_BAR_MIB))
    lat = r.get("latency")
    if lat:
        for rate, s in lat["loads"].items():
            limit = LATENCY_P99_MS.get(rate)  # issue #29: 50 ms at 1k/s, 60 ms at 5k/s
            rows.append(
                _row(
                    f"latency at {int(rate):,}/s for {lat['seconds']:.0f} s (p50 / p95 / p99)",
                    f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f} / {s['p99_ms']:.1f} ms "
                    f"({s['received']:,}/{s['sent']:,})",
                    f"p99 <= {limit} ms" if limit else "-",
                    s["p99_ms"] <= limit if limit else None,
                )
            )
    if r.get("recovery"):
        rows += [_row(*row) for row in recovery.bar_rows(r["recovery"])]
    if r.get("soak"):
        rows += _soak_rows(r["soak"])
    if r.get("swaps"):
        w = r["swaps"]
        rows.append(
            _row(
                f"scorer RSS over {w['later_swaps']} promotions after each kind loaded once",
                f"{w['later_growth_mb']:+.1f} MiB ({w['after_first_round_mb']:.0f} → "
                f"{w['end_mb']:.0f} MiB)",
                "-",
                None,
            )
        )
    b = r.get("backtest")
    if b:
        for label, bar in (("one_version", 50_000), ("three_versions", None)):
            rps = b[label]["records_per_second"]
            rows.append(
                _row(
                    f"backtest, {b[label]['versions']} version(s), {b[label]['records']:,} rec",
                    f"{rps:,.0f} rec/s",
                    f">= {bar:,} rec/s" if bar else "-",
                    rps >= bar if bar else None,
                )
            )
    d = r.get("detection")
    if d:
        streams = d["streams"]
        clean = streams.get("clean control", {}).get("riskstream drift monitor")
        if clean:
            rows.append(
                _row(
                    f"false alarms, clean control ({streams['clean control']['records']:,} rec)",
                    str(clean["false_alarms"]),
                    "0",
                    clean["false_alarms"] == 0,
                )
            )
        abrupt = streams.get("abrupt 0.5 sd glucose", {}).get("riskstream drift monitor")
        if abrupt:
            delay = abrupt["delay_windows"]
            rows.append(
                _row(
                    "delay, abrupt 0.5 sd shift",
                    "missed"
                    if delay is None
                    else f"{delay} windows ({abrupt['delay_records']:,} rec)",
                    "<= 2 windows",
                    delay is not None and delay <= 2,
                )
            )
        sequential = "riskstream sequential (CUSUMs + trend)"
        abrupt_row = streams.get("abrupt 0.5 sd glucose", {})
        if sequential in abrupt_row:
            delay = abrupt_row[sequential]["delay_records"]
            adwin = abrupt_row["river ADWIN per feature"]["delay_records"]
            quiet = [
                streams[name][sequential]["false_alarms_medium_or_above"]
                for name in ("clean control", "complete real Pima rows (clean)")
                if sequential in streams.get(name, {})
            ]
            rows.append(
                _row(
                    "sequential: delay, abrupt 0.5 sd; MEDIUM+ false alarms (clean, real rows)",
                    f"{'missed' if delay is None else f'{delay:,} rec'}; "
                    + ", ".join(str(q) for q in quiet),
                    f"<= ADWIN's ({adwin:,} rec); 0, 0" if adwin else "<= ADWIN's; 0, 0",
                    delay is not None
                    and adwin is not None
                    and delay <= adwin
                    and len(quiet) == 2
                    and not any(quiet),
                )
            )
        phases = d.get("onset_phases")
        if phases:
            rows.append(_phase_row(phases))
        gradual = streams.get("gradual 1 sd glucose over 20 windows", {})
        if sequential in gradual:
            rows.append(_gradual_row(gradual))
        draws = d.get("gradual_draws")
        if draws:
            rows.append(
                _spread_row(
                    f"sequential: delay, gradual 1 sd over 20 windows, {len(draws['seeds'])} "
                    "draws of the stream: median (worst)",
                    draws,
                )
            )
        joint = streams.get("correlation change (bmi mirrored)", {})
        if "riskstream multivariate (PCA)" in joint:
            delay = joint["riskstream multivariate (PCA)"]["delay_windows"]
            # the detectors that judge features one at a time, and stay quiet on clean data
            silent = [
                name
                for name in ("riskstream drift monitor", "river ADWIN per feature")
                if not joint[name]["detected"]
            ]
            rows.append(
                _row(
                    "correlation change: multivariate alert; per-feature riskstream and ADWIN",
                    f"{'missed' if delay is None else f'{delay} window(s)'}; "
                    f"{len(silent)} of 2 silent",
                    "<= 2 windows; both silent",
                    delay is not None and delay <= 2 and len(silent) == 2,
                )
            )
    e = r.get("estimation")
    if e and "coverage" in e.get("population-shift", {}):
        held = e["population-shift"]["coverage"]["reference"]["roc_auc"]
        rows.append(
            _row(
                "estimate's 95% interval holds the realized ROC-AUC, population shift",
                f"{held:.0%} of {e['population-shift']['windows']} windows",
                ">= 90%",
                held >= 0.9,
            )
        )
    return rows


def _phase_row(phases: dict[str, Any]) -> str:
    """The abrupt shift's delay over onsets across 100 records and draws: median (worst)."""
    draws = len(phases.get("seeds", [0]))
    return _spread_row(
        f"sequential: delay, abrupt 0.5 sd, onset at {len(phases['offsets'])} phases over 100 "
        f"records, {draws} draws of the stream: median (worst)",
        phases,
    )


def _spread_row(label: str, delays: dict[str, Any]) -> str:
    """The sequential test's delays against ADWIN's on the same streams: median (worst)."""

    def spread(found: list[int | None]) -> tuple[float | None, str]:
        if any(d is None for d in found):
            return None, "missed"
        mid = float(statistics.median([d for d in found if d is not None]))
        return mid, f"{mid:,.0f} ({max(d for d in found if d is not None):,})"

    ours, ours_text = spread(delays["sequential"])
    adwin, adwin_text = spread(delays["adwin"])
    return _row(
        label,
        ours_text,
        f"<= ADWIN's: {adwin_text}",
        ours is not None and adwin is not None and ours <= adwin,
    )


def _gradual_row(gradual: dict[str, Any]) -> str:
    """Issue #31's gradual bar: the fastest of riskstream's detectors against ADWIN."""
    ours = {
        name: s["delay_records"]
        for name, s in gradual.items()
        if name.startswith("riskstream") and isinstance(s, dict) and s["detected"]
    }
    adwin = gradual["river ADWIN per feature"]["delay_records"]
    best = min(ours, key=ours.__getitem__) if ours else None
    return _row(
        "gradual 1 sd over 20 windows: delay of the fastest riskstream detector"
        + (f" ({best.removeprefix('riskstream ')})" if best else ""),
        f"{ours[best]:,} rec" if best else "missed",
        f"<= ADWIN's ({adwin:,} rec)" if adwin is not None else "<= ADWIN's",
        best is not None and adwin is not None and ours[best] <= adwin,
    )


def _detection_table(d: dict[str, Any]) -> list[str]:
    rows = [
        f"Windows of {d['window_records']:,} records. Delay counts from the first drifted "
        "record to the record at which the detector fired (a window fires when it closes).",
        "",
        "| stream | detector | delay (records / windows) | missed | false alarms | per 100k "
        "| of them MEDIUM+ |",
        "|---|---|---|---|---|---|---|",
    ]
    for stream, row in d["streams"].items():
        for detector, s in row.items():
            if not isinstance(s, dict):
                continue
            if row["onset"] is None:
                delay, missed = "-", "-"
            else:
                delay = (
                    "-"
                    if s["delay_records"] is None
                    else f"{s['delay_records']:,} / {s['delay_windows']}"
                )
                missed = "yes" if not s["detected"] else "no"
            severe = s.get("false_alarms_medium_or_above")
            rows.append(
                f"| {stream} | {detector} | {delay} | {missed} | {s['false_alarms']} | "
                f"{s['false_alarms_per_100k']:.1f} | {'-' if severe is None else severe} |"
            )
    return rows


def _burst_table(b: dict[str, Any]) -> list[str]:
    rows = [
        f"{b['records']:,} records with glucose +0.75 sd at {b['rate']:,.0f}/s, then nothing; "
        f"windows of {b['window_s']} s, lateness {b['lateness_s']} s, idle timeout "
        f"{b['idle_s']} s (bound {b['bound_s']} s). riskstream rows are measured live (real "
        "scorer and monitor; seconds from the first record to a HIGH+ glucose alert); "
        "river's detectors see the same records one by one (the record at which they "
        "fired, in seconds at the burst's rate).",
        "",
        "| detector | delay (s) |",
        "|---|---|",
    ]
    for name, seconds in b["seconds"].items():
        if seconds is not None:
            shown = str(seconds)
        elif name.startswith("riskstream"):
            shown = "none within the bound + 45 s"
        else:
            shown = "never: every record it sees is shifted, it has no reference"
        rows.append(f"| {name} | {shown} |")
    return rows


def _soak_rows(s: dict[str, Any]) -> list[str]:
    rows = [
        _row(
            f"RSS growth after warm-up, {name} (soak, {s['records']:,} rec)",
            f"{g['growth']:+.1%} ({g['after_warm_up_mb']:.0f} → {g['end_mb']:.0f} MiB)",
            "<= 5%",
            g["growth"] <= 0.05,
        )
        for name, g in sorted(s["growth"].items())
    ]
    return rows + [
        _row(
            f"peak RSS in the soak, {_process(name)} ({how})",
            f"{mb:.0f} MiB",
            "<= 300 MB",
            mb <= RSS_BAR_MIB,
        )
        for name, (mb, how) in sorted(soak_peaks(s).items())
    ]


def _process(name: str) -> str:
    """A soak peak's key as the table says it: ``trainer_children`` is the trainer's
    largest child process."""
    return name.replace(CHILDREN, ", its largest child process")


def _soak_table(s: dict[str, Any]) -> list[str]:
    names = sorted(s["samples"][0]["rss_mb"]) if s["samples"] else []
    step = max(1, len(s["samples"]) // 12)
    shown = s["samples"][::step] + (
        [s["samples"][-1]] if s["samples"][::step][-1:] != s["samples"][-1:] else []
    )
    rows = [
        f"`riskstream run all` (every worker in its own process) under {s['records']:,} "
        f"records, each with its label (1 s mean delay), published at {s['rate']:,.0f}/s "
        f"asked, {s['achieved_rate'] or 0:,.0f}/s reached (one publishing process on the same "
        f"cores), for {s['seconds']:,.0f} s. Growth compares the median of the first six samples "
        "after warm-up with the median of the last six. Resident memory (VmRSS, MiB) of each "
        "worker, and the scorer group's lag on patient-records, sampled over the run "
        "(warm-up: the first fifth of the records):",
        "",
        "| t (s) | sent | scorer lag | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for x in shown:
        rows.append(
            f"| {x['t']:,.0f} | {x['sent']:,} | {x['backlog']:,} | "
            + " | ".join(f"{x['rss_mb'][n]:.0f}" for n in names)
            + " |"
        )
    return rows


def _rerun_on(r: dict[str, Any]) -> str:
    """Where sections re-run into this file ran on another CPU than the run's."""
    by_cpu: dict[str, list[str]] = {}
    for section, m in sorted(r.get("rerun_on", {}).items()):
        by_cpu.setdefault(f"{m['cores']} cores ({m['cpu']})", []).append(section)
    return "".join(f" Re-run on {cpu}: {', '.join(sections)}." for cpu, sections in by_cpu.items())


def render(r: dict[str, Any], source: Path) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run`) from "
        f"`{source}`; the analysis at the end is `bench/NOTES.md`. CI runs "
        "`python -m bench.run --smoke`, which checks that every benchmark runs and writes "
        "well-formed results, and asserts nothing about speed.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB. Apache Kafka "
        f"{m['kafka']} (KRaft, one broker on loopback), librdkafka {m['librdkafka']} "
        f"(confluent-kafka {m['confluent_kafka']}), Python {m['python']}. Run of "
        f"{r['started']}, {r['seconds']:.0f} s, mode {r['mode']}.{_rerun_on(r)}",
        "",
        "## Every figure against its bar",
        "",
        *_bars(r),
        "",
    ]
    t = r.get("throughput")
    if t:
        lines += [
            "## Throughput runs",
            "",
            f"{t['records']:,} records per run ({t['naive_records']:,} for the naive path), "
            f"{t['repeats']} runs, medians above. Records per second of each run:",
            "",
            "| path | runs |",
            "|---|---|",
            *[
                f"| {name} | {', '.join(f'{v:,.0f}' for v in values)} |"
                for name, values in t["runs"].items()
            ],
            "",
        ]
    if r.get("recovery"):
        title = "## Time to recovery: the demo's closed loop, phase by phase"
        lines += [title, "", *recovery.table(r["recovery"]), ""]
    if r.get("detection"):
        lines += ["## Drift-detection quality", "", *_detection_table(r["detection"]), ""]
    if r.get("burst"):
        lines += ["### A burst followed by silence", "", *_burst_table(r["burst"]), ""]
    if r.get("soak"):
        lines += [
            "## Soak: worker memory over millions of records",
            "",
            *_soak_table(r["soak"]),
            "",
        ]
    if r.get("swaps"):
        title = "## Model swaps: scorer memory over promotions"
        lines += [title, "", *_swaps_table(r["swaps"]), ""]
    if r.get("online"):
        title = "## Online learning: the river learner against the batch champion"
        lines += [title, "", *online_learning.table(r["online"]), ""]
    if r.get("estimation"):
        title = "## Performance estimated before labels (CBPE) against realized"
        lines += [title, "", *estimation.table(r["estimation"]), ""]
    if r.get("segments"):
        title = "## Per-source segments: one clinic's drift, and false alarms"
        lines += [title, "", *segments.table(r["segments"]), ""]
    if r.get("shadow"):
        title = "## A challenger in shadow: what it costs the scorer"
        lines += [title, "", *shadow.table(r["shadow"]), ""]
    if r.get("patient_data"):
        title = "## Patient data: what pseudonyms and sealed features cost"
        lines += [title, "", *patient_data.table(r["patient_data"]), ""]
    if NOTES.exists():
        lines += [fill_notes(NOTES.read_text(), r).rstrip(), ""]
    return "\n".join(lines)


def _swaps_table(w: dict[str, Any]) -> list[str]:
    kinds = ", ".join(f"{v['version']} ({v['kind']})" for v in w["versions"])
    rows = [
        f"One `ModelHolder` in a fresh process swaps through versions {kinds}, {w['rounds']} "
        f"times, as a scorer does on each promotion; RSS after each swap (`bench/model_swaps.py`, "
        f"{w['start_mb']:.0f} MiB before the first load).",
        "",
        "| round | " + " | ".join(f"v{v['version']} {v['kind']}" for v in w["versions"]) + " |",
        "|---|" + "---|" * len(w["versions"]),
    ]
    per_round: dict[int, list[str]] = {}
    for swap in w["swaps"]:
        per_round.setdefault(swap["round"], []).append(f"{swap['rss_mb']:.1f}")
    rows += [f"| {r + 1} | " + " | ".join(mbs) + " |" for r, mbs in sorted(per_round.items())]
    return rows
