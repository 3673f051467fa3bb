"""Evaluation plots logged with every training run: ROC, PR, calibration, confusion matrix."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve


def evaluation_figures(
    y: np.ndarray, risk: np.ndarray, threshold: float, title: str
) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    fig, ax = plt.subplots(figsize=(4.5, 4))
    fpr, tpr, _ = roc_curve(y, risk)
    ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC: {title}")
    figures["roc.png"] = fig

    fig, ax = plt.subplots(figsize=(4.5, 4))
    precision, recall, _ = precision_recall_curve(y, risk)
    ax.plot(recall, precision)
    ax.set(xlabel="recall", ylabel="precision", title=f"PR: {title}")
    figures["pr.png"] = fig

    fig, ax = plt.subplots(figsize=(4.5, 4))
    observed, predicted = calibration_curve(y, risk, n_bins=8, strategy="quantile")
    ax.plot(predicted, observed, marker="o")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="predicted risk", ylabel="observed rate", title=f"calibration: {title}")
    figures["calibration.png"] = fig

    fig, ax = plt.subplots(figsize=(4, 4))
    matrix = confusion_matrix(y, (risk >= threshold).astype(int), labels=[0, 1])
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center")
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xlabel="predicted",
        ylabel="observed",
        title=f"confusion @ {threshold:.2f}",
    )
    figures["confusion.png"] = fig
    return figures


def close(figures: dict[str, Figure]) -> None:
    for fig in figures.values():
        plt.close(fig)
