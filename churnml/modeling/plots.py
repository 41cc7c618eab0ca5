"""Figures of a trained model's test slice: ROC, precision-recall, calibration, gain, feature importance.

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot,
so nothing global (backend, open windows) is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["calibration_figure", "gain_figure", "importance_figure", "pr_figure", "roc_figure"]

_SIZE = (5.5, 4.5)


def _figure() -> tuple[Figure, object]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE, layout="constrained")
    return figure, figure.add_subplot()


def _scores(predictions: pd.DataFrame) -> dict[str, str]:
    """Model name -> probability column, the model first."""
    names = {"model": "churn_probability"}
    for column in predictions.columns:
        if column.endswith("_probability") and column != "churn_probability":
            names[column.removesuffix("_probability")] = column
    return names


def _curves(predictions: pd.DataFrame, curve: Any, summary: str) -> tuple[Figure, Any]:
    """One line per model: ``curve(y, score)`` returns ``(x, y, figure of merit)``."""
    figure, ax = _figure()
    for name, column in _scores(predictions).items():
        x, y, merit = curve(predictions["label"], predictions[column])
        ax.plot(x, y, label=f"{name} ({summary} {merit:.3f})")
    return figure, ax


def roc_figure(predictions: pd.DataFrame) -> Figure:
    from sklearn.metrics import roc_auc_score, roc_curve

    def roc(y: Any, score: Any) -> tuple[Any, Any, float]:
        fpr, tpr, _ = roc_curve(y, score)
        return fpr, tpr, roc_auc_score(y, score)

    figure, ax = _curves(predictions, roc, "AUC")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test slice")
    ax.legend(loc="lower right")
    return figure


def pr_figure(predictions: pd.DataFrame) -> Figure:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    def pr(y: Any, score: Any) -> tuple[Any, Any, float]:
        precision, recall, _ = precision_recall_curve(y, score)
        return recall, precision, average_precision_score(y, score)

    figure, ax = _curves(predictions, pr, "AP")
    ax.axhline(predictions["label"].mean(), linestyle=":", color="grey", label="churn rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, test slice")
    ax.legend(loc="upper right")
    return figure


def calibration_figure(predictions: pd.DataFrame, *, n_bins: int = 10) -> Figure:
    """Observed churn rate against mean predicted probability, per equal-width bin."""
    figure, ax = _figure()
    for name, column in _scores(predictions).items():
        p = predictions[column].to_numpy(dtype="float64")
        y = predictions["label"].to_numpy(dtype="float64")
        bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
        rows = np.bincount(bins, minlength=n_bins)
        used = rows > 0
        mean_p = np.bincount(bins, weights=p, minlength=n_bins)[used] / rows[used]
        rate = np.bincount(bins, weights=y, minlength=n_bins)[used] / rows[used]
        ax.plot(mean_p, rate, marker="o", label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed churn rate", title="Calibration, test slice")
    ax.legend(loc="upper left")
    return figure


def gain_figure(predictions: pd.DataFrame) -> Figure:
    """Share of churners captured against share of accounts contacted, highest scores first."""
    figure, ax = _figure()
    y = predictions["label"].to_numpy(dtype="float64")
    share = np.arange(1, y.size + 1) / y.size
    for name, column in _scores(predictions).items():
        order = np.argsort(-predictions[column].to_numpy(), kind="stable")
        ax.plot(share, np.cumsum(y[order]) / max(y.sum(), 1), label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="random")
    ax.set(xlabel="share of accounts contacted", ylabel="share of churners captured", title="Cumulative gain")
    ax.legend(loc="lower right")
    return figure


def importance_figure(importance: pd.Series, *, top: int = 20) -> Figure:
    """Total gain of the ``top`` features, largest at the top."""
    from matplotlib.figure import Figure

    shown = importance.head(top)[::-1]
    figure = Figure(figsize=(6.5, 0.3 * len(shown) + 1.2), layout="constrained")
    ax = figure.add_subplot()
    ax.barh(list(shown.index), shown.to_numpy())
    ax.set(xlabel="total gain", title=f"Feature importance (top {len(shown)})")
    return figure
