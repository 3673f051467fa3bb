"""The backtest's self-contained HTML report: plots embedded as PNG data, no network needed."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from riskstream.app.tools.backtest import BacktestResult

METRICS = ("roc_auc", "accuracy", "f1", "brier")


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def time_labels(start_ms: int, bucket_ms: int, count: int) -> list[str]:
    """Bucket start times at the precision the bucket width needs, so no two share a label
    (over a run of seconds, whole seconds folded every bucket into one point): milliseconds
    for sub-second buckets, dates for buckets of a day or more. UTC."""
    if bucket_ms < 1000:
        fmt, trim = "%H:%M:%S.%f", 3
    elif bucket_ms < 3_600_000:
        fmt, trim = "%H:%M:%S", 0
    elif bucket_ms < 86_400_000:
        fmt, trim = "%m-%d %H:%M", 0
    else:
        fmt, trim = "%Y-%m-%d", 0
    labels = []
    for b in range(count):
        text = datetime.fromtimestamp((start_ms + b * bucket_ms) / 1000, UTC).strftime(fmt)
        labels.append(text[:-trim] if trim else text)
    return labels


def duration_text(ms: int) -> str:
    """A bucket width as a person says it: 250 ms, 12 s, 5 min, 3 h, 2 d."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            value = ms / size
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value.is_integer()
                else f"{value:.1f} {unit}"
            )
    return f"{ms} ms"


def _bucket_labels(r: BacktestResult) -> list[str]:
    count = len(r.versions[0].buckets) if r.versions else 0
    return time_labels(r.start_ms, r.bucket_ms, count)


def metrics_figure(r: BacktestResult) -> str:
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex=True)
    labels = _bucket_labels(r)
    for ax, metric in zip(axes.flat, METRICS, strict=True):
        for v in r.versions:
            ax.plot(
                labels,
                [b.get(metric, np.nan) for b in v.buckets],
                marker="o",
                label=f"v{v.version}",
            )
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", rotation=45)
    axes.flat[0].legend()
    fig.suptitle("metrics per time bucket")
    return _png(fig)


def drift_figure(r: BacktestResult) -> str:
    fig, axes = plt.subplots(1, len(r.versions), figsize=(6.5 * len(r.versions), 4), squeeze=False)
    labels = _bucket_labels(r)
    for ax, v in zip(axes[0], r.versions, strict=True):
        names = list(v.drift)
        matrix = np.array([v.drift[n] for n in names])
        image = ax.imshow(
            matrix, aspect="auto", cmap="Reds", vmin=0, vmax=max(0.5, np.nanmax(matrix))
        )
        ax.set_yticks(range(len(names)), names)
        ax.set_xticks(range(len(labels)), labels, rotation=45)
        ax.set_title(f"PSI against v{v.version}'s reference")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return _png(fig)


def calibration_figure(r: BacktestResult) -> str:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for v in r.versions:
        if v.calibration:
            predicted, observed, _ = zip(*v.calibration, strict=True)
            ax.plot(predicted, observed, marker="o", label=f"v{v.version}")
    ax.set_xlabel("mean predicted risk")
    ax.set_ylabel("observed rate")
    ax.set_title("calibration")
    ax.legend()
    return _png(fig)


def render_html(r: BacktestResult) -> str:
    s = r.summary()
    window = (
        f"{datetime.fromtimestamp(r.start_ms / 1000, UTC):%Y-%m-%d %H:%M:%S} to "
        f"{datetime.fromtimestamp(r.end_ms / 1000, UTC):%Y-%m-%d %H:%M:%S} UTC"
    )
    rows = "".join(
        f"<tr><td>{rank}</td><td>v{html.escape(v.version)} ({html.escape(v.ref)}, {v.kind})</td>"
        + "".join(f"<td>{v.overall.get(m, float('nan')):.3f}</td>" for m in METRICS)
        + "</tr>"
        for rank, v in enumerate(sorted(r.versions, key=lambda v: r.ranking.index(v.version)), 1)
    )
    best = s["better_champion"]
    header = "".join(f"<th>{m}</th>" for m in METRICS)
    images = "".join(
        f'<h2>{title}</h2><img alt="{title}" src="data:image/png;base64,{png}">\n'
        for title, png in (
            ("Metrics over time", metrics_figure(r)),
            ("Drift per bucket", drift_figure(r)),
            ("Calibration", calibration_figure(r)),
        )
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>riskstream backtest</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px}}
.best{{background:#e8f5e9;padding:0.6em 1em;border-left:4px solid #2e7d32}}</style></head>
<body>
<h1>Backtest</h1>
<p>{html.escape(window)}: {r.records:,} labeled records ({r.invalid:,} invalid,
{r.unlabeled:,} without ground truth yet), {len(r.versions[0].buckets) if r.versions else 0}
buckets of {duration_text(r.bucket_ms)}.</p>
<p class="best" id="verdict">Over this period, <b>version {html.escape(str(best))}</b> would have
been the better champion (ranked by {html.escape(r.ranking_metric)}, Brier score breaking ties).</p>
<h2>Ranking</h2>
<table><tr><th>rank</th><th>version</th>{header}</tr>{rows}</table>
{images}</body></html>
"""
