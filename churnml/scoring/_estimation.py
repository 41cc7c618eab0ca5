"""What a scoring run should achieve, from its calibrated probabilities alone (no labels yet).

If the model is calibrated, each scored account churns with its probability ``p_i``.
Every figure here is the expectation of the realised figure under that assumption,
so it can be read the day the scores are written and compared with the outcome once
the horizon has passed (``churnml evaluate``). This is confidence-based performance
estimation (CBPE, as NannyML names it) specialised to a churn list.

- **Expected churners**: ``sum p_i`` overall and per risk tier, exactly. Their band is
  the central ``level`` (default 99%) interval of the Poisson-binomial count of
  churners, by its normal approximation: ``sum p_i +- z * sqrt(sum p_i (1 - p_i))``.
  A realised count outside it is unlikely under calibration.
- **Expected precision at a tier's cut-off** (accounts with ``p >= cut``): the mean
  probability above the cut, exactly (the number of accounts is fixed).
- **Expected recall at a cut-off**: ``sum of p above the cut / sum of all p``.
- **Expected ROC-AUC**: ``E[concordant pairs] / E[churner x non-churner pairs]``, with
  both expectations exact over distinct accounts ``i != j``:
  ``sum_{i != j} p_i (1 - p_j) [1(s_i > s_j) + 1/2 1(s_i = s_j)] / sum_{i != j} p_i (1 - p_j)``.
  ROC-AUC is a ratio of two random counts, and the expectation of a ratio is not the
  ratio of expectations; by the delta method the two differ by ``O(1/n)`` (the
  relative variance of the pair count), far below the ``O(1/sqrt(n))`` sampling
  spread of the realised AUC itself (the tests check it against simulation). The
  same ratio-of-expectations reading is used for recall. It takes one sort:
  ``O(n log n)`` time, ``O(n)`` memory.

What these assume: calibration holds for the scored population (the model's probabilities are
right on average at every level), and accounts churn independently. A realised figure far from
its estimate means one of them failed: the inputs moved (see the drift), or the world did.

Examples
--------
>>> round(expected_roc_auc([0.9, 0.1]), 4)   # ordered right: 0.81 of the 0.82 chance the pair is mixed
0.9878
>>> figures = expected_performance([0.8, 0.5, 0.1, 0.1], {"high": 0.7, "medium": 0.3})
>>> round(figures["churners"], 6), figures["tier.high.churners"], figures["precision_at.medium"]
(1.5, 0.8, 0.65)
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from churnml.errors import ConfigError

__all__ = ["ASSUMPTION", "churner_band", "expected_performance", "expected_roc_auc", "tier_figures"]

TIERS = ("high", "medium", "low")
ASSUMPTION = ("expected figures assume calibration holds for these accounts (each churns with its probability, "
              "independently); they are checked by `churnml evaluate` once the horizon has passed")


def _probabilities(p: Any) -> np.ndarray:
    q = np.asarray(p, dtype="float64").ravel()
    bad = np.isnan(q) | (q < 0) | (q > 1)
    if bad.any():
        raise ConfigError(f"Churn probabilities must lie in [0, 1]; {int(bad.sum()):,} do not, e.g. "
                          f"{float(q[bad][0])!r}.")
    return q


def expected_roc_auc(p: Any, score: Any = None) -> float:
    """Expected ROC-AUC of ``score`` (default: ``p`` itself) when account ``i`` churns with probability ``p[i]``.

    The ratio of the expected concordant pairs to the expected churner/non-churner pairs (see the module
    docstring); NaN with fewer than two accounts or when no pair can be mixed.
    """
    q = _probabilities(p)
    s = q if score is None else np.asarray(score, dtype="float64").ravel()
    if s.shape != q.shape:
        raise ConfigError(f"p and score differ in length: {q.size:,} and {s.size:,}.")
    if q.size < 2:
        return math.nan
    _, group = np.unique(s, return_inverse=True)  # sorted distinct scores: one sort
    churn = np.bincount(group, weights=q)
    stay = np.bincount(group, weights=1.0 - q)
    same = np.bincount(group, weights=q * (1.0 - q))  # the pairs (i, i), which are not pairs
    below = np.cumsum(stay) - stay  # expected non-churners with a lower score
    pairs = churn.sum() * stay.sum() - same.sum()
    if pairs <= 0:
        return math.nan
    concordant = float(np.dot(churn, below)) + 0.5 * float(np.sum(churn * stay - same))
    return concordant / float(pairs)


def churner_band(p: Any, level: float = 0.99) -> tuple[float, float]:
    """The central ``level`` interval of the number of churners (normal approximation to the
    Poisson-binomial), clipped to ``[0, n]``."""
    if not 0 < level < 1:
        raise ConfigError(f"The band level must be in (0, 1). Got {level!r} instead.")
    q = _probabilities(p)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    mean, spread = float(q.sum()), z * math.sqrt(float(np.sum(q * (1 - q))))
    return max(0.0, mean - spread), min(float(q.size), mean + spread)


def tier_figures(p: Any, outcome: Any, thresholds: dict[str, float]) -> dict[str, float]:
    """Churners per risk tier and precision / recall at each tier's cut-off.

    ``outcome`` is the realised labels (0/1), or ``p`` itself for the expectations. Keys:
    ``tier.<tier>.accounts``, ``tier.<tier>.churners``, ``precision_at.<tier>`` and ``recall_at.<tier>``
    for the high and medium cut-offs (accounts at or above the cut-off: the high tier, then the high and
    medium tiers together); NaN where a cut-off holds no account or there is no churner.
    """
    q = _probabilities(p)
    y = np.asarray(outcome, dtype="float64").ravel()
    if y.shape != q.shape:
        raise ConfigError(f"p and outcome differ in length: {q.size:,} and {y.size:,}.")
    high, medium = float(thresholds["high"]), float(thresholds["medium"])
    tier = np.where(q >= high, 0, np.where(q >= medium, 1, 2))
    accounts = np.bincount(tier, minlength=3)
    churners = np.bincount(tier, weights=y, minlength=3)
    total = float(y.sum())
    out: dict[str, float] = {}
    for i, name in enumerate(TIERS):
        out[f"tier.{name}.accounts"] = float(accounts[i])
        out[f"tier.{name}.churners"] = float(churners[i])
    for i, name in enumerate(TIERS[:2]):
        above, caught = accounts[:i + 1].sum(), churners[:i + 1].sum()
        out[f"precision_at.{name}"] = float(caught / above) if above else math.nan
        out[f"recall_at.{name}"] = float(caught / total) if total > 0 else math.nan
    return out


def expected_performance(p: Any, thresholds: dict[str, float], *, level: float = 0.99) -> dict[str, float]:
    """Every expected figure of one scoring run (flat dict, MLflow-ready).

    Keys: ``accounts``, ``churners`` (expected), ``churn_rate``, ``churners_low`` / ``churners_high`` and
    ``churn_rate_low`` / ``churn_rate_high`` (the ``level`` band), ``band_level``, ``roc_auc``, and those of
    :func:`tier_figures`.

    Raises
    ------
    churnml.errors.ConfigError
        No probabilities, or one outside [0, 1].
    """
    q = _probabilities(p)
    if q.size == 0:
        raise ConfigError("No scored accounts: there is nothing to estimate.")
    low, high = churner_band(q, level)
    out = {"accounts": float(q.size), "churners": float(q.sum()), "churn_rate": float(q.mean()),
           "churners_low": low, "churners_high": high, "churn_rate_low": low / q.size,
           "churn_rate_high": high / q.size, "band_level": float(level), "roc_auc": expected_roc_auc(q)}
    out.update(tier_figures(q, q, thresholds))
    return out
