"""Churn metrics: ranking, probability quality, and what a retention campaign earns.

Each function takes the true labels (1 = churned) and a score or probability,
and returns a plain number or a small table.

Examples
--------
>>> y = [1, 0, 1, 0, 0]
>>> p = [0.9, 0.2, 0.6, 0.4, 0.1]
>>> roc_auc(y, p)
1.0
>>> lift_at(y, p, 0.4)   # the top 2 of 5 are both churners; the base rate is 2/5
2.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CampaignProfit",
    "brier",
    "capture_rate_at",
    "evaluate",
    "evaluate_by_date",
    "expected_calibration_error",
    "expected_max_profit",
    "gain_table",
    "lift_at",
    "log_loss",
    "pr_auc",
    "roc_auc",
    "verdict_lines",
]

ArrayLike = Sequence[float] | np.ndarray | Any


def _arrays(y_true: ArrayLike, y_score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype="float64").ravel()
    s = np.asarray(y_score, dtype="float64").ravel()
    if y.shape != s.shape:
        raise ConfigError(f"y_true and y_score differ in length: {y.size:,} and {s.size:,}.")
    if y.size == 0:
        raise ConfigError("No rows to evaluate: y_true is empty.")
    if not np.isin(y, (0.0, 1.0)).all():
        bad = y[~np.isin(y, (0.0, 1.0))]
        raise ConfigError(f"y_true must hold 0 and 1 only; {bad.size:,} rows do not, e.g. {bad[0]!r}.")
    if np.isnan(s).any():
        raise ConfigError(f"y_score has {int(np.isnan(s).sum()):,} missing values; every row needs a score.")
    return y, s


def _probabilities(p: np.ndarray) -> np.ndarray:
    if ((p < 0) | (p > 1)).any():
        bad = p[(p < 0) | (p > 1)]
        raise ConfigError(f"Probabilities must lie in [0, 1]; {bad.size:,} do not, e.g. {bad[0]!r}.")
    return p


def _ranked(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Labels ordered from the highest score down; ties keep their input order."""
    return y[np.argsort(-s, kind="stable")]


def _top(n: int, share: float) -> int:
    if not 0 < share <= 1:
        raise ConfigError(f"share must be in (0, 1]. Got {share!r} instead.")
    return max(1, int(round(share * n)))


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve (ties count one half); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y, s = _arrays(y_true, y_score)
    if y.min() == y.max():
        return math.nan
    return float(roc_auc_score(y, s))


def pr_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision; NaN without churners."""
    from sklearn.metrics import average_precision_score

    y, s = _arrays(y_true, y_score)
    if y.max() == 0:
        return math.nan
    return float(average_precision_score(y, s))


def log_loss(y_true: ArrayLike, p: ArrayLike, *, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood, probabilities clipped to [eps, 1 - eps]."""
    y, q = _arrays(y_true, p)
    q = np.clip(_probabilities(q), eps, 1 - eps)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def brier(y_true: ArrayLike, p: ArrayLike) -> float:
    """Mean squared difference between probability and outcome."""
    y, q = _arrays(y_true, p)
    return float(np.mean((_probabilities(q) - y) ** 2))


def expected_calibration_error(y_true: ArrayLike, p: ArrayLike, *, n_bins: int = 10) -> float:
    """Weighted mean gap between predicted and observed churn rate over equal-width bins.

    ``sum over bins of (rows in bin / rows) * |churn rate in bin - mean probability in bin|``;
    bins are ``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]`` for ten bins.
    """
    y, q = _arrays(y_true, p)
    q = _probabilities(q)
    if n_bins < 1:
        raise ConfigError(f"n_bins must be a positive int. Got {n_bins!r} instead.")
    bins = np.minimum((q * n_bins).astype(int), n_bins - 1)
    rows = np.bincount(bins, minlength=n_bins)
    churned = np.bincount(bins, weights=y, minlength=n_bins)
    predicted = np.bincount(bins, weights=q, minlength=n_bins)
    used = rows > 0
    return float(np.sum(np.abs(churned[used] - predicted[used])) / y.size)


def lift_at(y_true: ArrayLike, y_score: ArrayLike, share: float) -> float:
    """Churn rate among the top ``share`` of accounts by score, over the overall churn rate."""
    y, s = _arrays(y_true, y_score)
    base = y.mean()
    if base == 0:
        return math.nan
    return float(_ranked(y, s)[:_top(y.size, share)].mean() / base)


def capture_rate_at(y_true: ArrayLike, y_score: ArrayLike, share: float) -> float:
    """Share of all churners found in the top ``share`` of accounts by score."""
    y, s = _arrays(y_true, y_score)
    total = y.sum()
    if total == 0:
        return math.nan
    return float(_ranked(y, s)[:_top(y.size, share)].sum() / total)


def gain_table(y_true: ArrayLike, y_score: ArrayLike, *, n_bins: int = 10) -> pd.DataFrame:
    """Accounts ranked by score, cut into ``n_bins`` groups of (nearly) equal size.

    Columns: ``decile`` (1 = highest scores), ``accounts``, ``churners``,
    ``churn_rate``, ``lift`` (churn rate over the overall rate),
    ``cumulative_share`` of accounts and ``cumulative_capture`` of churners.
    """
    import pandas as pd

    y, s = _arrays(y_true, y_score)
    ranked = _ranked(y, s)
    groups = np.array_split(ranked, n_bins)
    accounts = np.array([g.size for g in groups])
    churners = np.array([g.sum() for g in groups])
    base = y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = churners / accounts
        lift = rate / base if base > 0 else np.full(n_bins, np.nan)
        capture = np.cumsum(churners) / y.sum() if y.sum() > 0 else np.full(n_bins, np.nan)
    return pd.DataFrame({"decile": np.arange(1, n_bins + 1), "accounts": accounts, "churners": churners.astype(int),
                         "churn_rate": rate, "lift": lift, "cumulative_share": np.cumsum(accounts) / y.size,
                         "cumulative_capture": capture})


@dataclass(frozen=True)
class CampaignProfit:
    """The best a retention campaign can do with this ranking.

    ``profit`` is the total over the contacted accounts, ``profit_per_account``
    that total over all accounts (the figure to compare across data sets),
    ``share_contacted`` the profit-optimal fraction of accounts to contact.
    """

    profit: float
    profit_per_account: float
    share_contacted: float
    accounts_contacted: int


def expected_max_profit(y_true: ArrayLike, y_score: ArrayLike, *, customer_value: float = 200.0,
                        offer_cost: float = 10.0, contact_cost: float = 1.0,
                        acceptance_rate: float = 0.3) -> CampaignProfit:
    """Expected profit of contacting the top accounts, at the profit-maximising cut.

    The campaign contacts accounts from the highest score down and offers each an
    incentive. A contacted churner accepts with probability ``acceptance_rate`` and
    stays (worth ``customer_value - offer_cost``), else leaves anyway; a contacted
    account that would have stayed takes the offer all the same. Every contact costs
    ``contact_cost``. So each contacted account is expected to earn

    - churner: ``acceptance_rate * (customer_value - offer_cost) - contact_cost``
    - non-churner: ``-(offer_cost + contact_cost)``

    and the cut is chosen where the running total peaks (contacting no one earns 0).
    The defaults are those of Verbraken et al. (2013), with the acceptance rate at
    the mean of their Beta(6, 14).
    """
    y, s = _arrays(y_true, y_score)
    for name, value in (("customer_value", customer_value), ("offer_cost", offer_cost),
                        ("contact_cost", contact_cost)):
        if value < 0:
            raise ConfigError(f"{name} must be >= 0. Got {value!r} instead.")
    if not 0 <= acceptance_rate <= 1:
        raise ConfigError(f"acceptance_rate must be in [0, 1]. Got {acceptance_rate!r} instead.")
    gain_churner = acceptance_rate * (customer_value - offer_cost) - contact_cost
    gain_stayer = -(offer_cost + contact_cost)
    running = np.cumsum(np.where(_ranked(y, s) == 1, gain_churner, gain_stayer))
    best = int(np.argmax(running))
    contacted, profit = (best + 1, float(running[best])) if running[best] > 0 else (0, 0.0)
    return CampaignProfit(profit=profit, profit_per_account=profit / y.size, share_contacted=contacted / y.size,
                          accounts_contacted=contacted)


def evaluate(y_true: ArrayLike, p: ArrayLike, *, probabilities: bool = True,
             campaign: dict[str, float] | None = None) -> dict[str, float]:
    """Every headline metric of one set of predictions, as a flat dict.

    ``probabilities=False`` (a score that is not a probability, such as days since
    the last event) leaves out log loss, Brier and calibration error.
    """
    y, s = _arrays(y_true, p)
    out = {"rows": float(y.size), "churn_rate": float(y.mean()), "roc_auc": roc_auc(y, s), "pr_auc": pr_auc(y, s)}
    if probabilities:
        out.update(log_loss=log_loss(y, s), brier=brier(y, s), ece=expected_calibration_error(y, s))
    for share in (0.1, 0.2):
        tag = f"{round(share * 100)}"
        out[f"lift_at_{tag}"] = lift_at(y, s, share)
        out[f"capture_at_{tag}"] = capture_rate_at(y, s, share)
    profit = expected_max_profit(y, s, **(campaign or {}))
    out["max_profit_per_account"] = profit.profit_per_account
    out["profit_share_contacted"] = profit.share_contacted
    return out


def evaluate_by_date(frame: pd.DataFrame, *, label: str = "label", score: str = "churn_probability",
                     date: str = "observation_date", probabilities: bool = True,
                     campaign: dict[str, float] | None = None) -> pd.DataFrame:
    """:func:`evaluate` for each observation date: one row per date."""
    import pandas as pd

    rows = []
    for day, part in frame.groupby(date, observed=True, sort=True):
        rows.append({date: day, **evaluate(part[label], part[score], probabilities=probabilities,
                                            campaign=campaign)})
    return pd.DataFrame(rows)


def verdict_lines(evaluation: pd.DataFrame, *, ece_bar: float = 0.05) -> list[str]:
    """What an evaluation table says, computed from it: the model against each baseline, then calibration.

    >>> import pandas as pd
    >>> table = pd.DataFrame({"roc_auc": [0.75, 0.76], "pr_auc": [0.52, 0.50], "ece": [0.02, 0.06]},
    ...                      index=["model", "logistic"])
    >>> print("\\n".join(verdict_lines(table)))
    against logistic: ROC-AUC 0.750 vs 0.760 (behind by 0.010), PR-AUC 0.520 vs 0.500 (ahead by 0.020)
    calibration: ECE 0.020, within the 0.05 bar
    """
    import pandas as pd

    def compare(metric: str, name: str, baseline: str) -> str:
        mine, theirs = float(evaluation.loc["model", metric]), float(evaluation.loc[baseline, metric])
        side = "level" if round(mine - theirs, 3) == 0 else "ahead" if mine > theirs else "behind"
        return f"{name} {mine:.3f} vs {theirs:.3f} ({side}{'' if side == 'level' else f' by {abs(mine - theirs):.3f}'})"

    lines = [f"against {baseline}: {compare('roc_auc', 'ROC-AUC', baseline)}, {compare('pr_auc', 'PR-AUC', baseline)}"
             for baseline in evaluation.index if baseline != "model" and pd.notna(evaluation.loc[baseline, "roc_auc"])]
    ece = float(evaluation.loc["model", "ece"])
    lines.append(f"calibration: ECE {ece:.3f}, {'within' if ece <= ece_bar else 'outside'} the {ece_bar:g} bar")
    return lines
