"""Expected performance from calibrated probabilities: against the pairs written out, against simulation of
the labels the probabilities promise, and the band's coverage."""

from __future__ import annotations

import numpy as np
import pytest

from churnml.errors import ConfigError
from churnml.modeling import metrics
from churnml.scoring._estimation import churner_band, expected_performance, expected_roc_auc, tier_figures


def _pairs_written_out(p, s):
    """sum over i != j of p_i (1 - p_j) [s_i > s_j + ties half] over sum over i != j of p_i (1 - p_j)."""
    weight = p[:, None] * (1 - p[None, :])
    np.fill_diagonal(weight, 0.0)
    order = (s[:, None] > s[None, :]) + 0.5 * (s[:, None] == s[None, :])
    return float((weight * order).sum() / weight.sum())


def test_expected_auc_is_the_ratio_of_the_expected_pair_counts_with_ties():
    rng = np.random.default_rng(0)
    p = np.round(rng.beta(0.7, 3, 120), 2)  # rounded: many ties
    assert expected_roc_auc(p) == pytest.approx(_pairs_written_out(p, p), abs=1e-12)
    score = np.round(p + rng.normal(0, 0.1, p.size), 1)  # another score, judged by p's outcomes
    assert expected_roc_auc(p, score) == pytest.approx(_pairs_written_out(p, score), abs=1e-12)
    shuffled = rng.permutation(p.size)
    assert expected_roc_auc(p[shuffled]) == pytest.approx(expected_roc_auc(p), abs=1e-12)  # row order is irrelevant


def test_expected_auc_matches_the_mean_auc_of_labels_drawn_from_the_probabilities():
    rng = np.random.default_rng(1)
    p = rng.beta(0.5, 4, 400)  # continuous: no ties, so the rank-sum form of the AUC holds
    draws = rng.random((20_000, p.size)) < p
    ranks = np.empty(p.size)
    ranks[np.argsort(p)] = np.arange(1, p.size + 1)
    n1 = draws.sum(axis=1)
    keep = (n1 > 0) & (n1 < p.size)
    auc = ((draws * ranks).sum(axis=1) - n1 * (n1 + 1) / 2)[keep] / (n1 * (p.size - n1))[keep]
    assert auc[0] == pytest.approx(metrics.roc_auc(draws[keep][0], p))  # the rank-sum form is the AUC
    assert abs(expected_roc_auc(p) - auc.mean()) < 0.002 < auc.std()  # far inside the spread of one realised AUC


def test_with_certain_outcomes_the_expectation_is_the_realised_figure():
    y = np.array([1, 0, 1, 0, 0, 1, 0], dtype=float)
    assert expected_roc_auc(y, [0.9, 0.1, 0.4, 0.5, 0.2, 0.8, 0.3]) == pytest.approx(
        metrics.roc_auc(y, [0.9, 0.1, 0.4, 0.5, 0.2, 0.8, 0.3]))


def test_tier_figures_and_the_band():
    p = np.array([0.9, 0.7, 0.6, 0.3, 0.25, 0.1, 0.05, 0.05])
    cuts = {"high": 0.6, "medium": 0.25}
    y = np.array([1, 0, 1, 1, 0, 0, 0, 1])
    realised = tier_figures(p, y, cuts)
    assert [realised[f"tier.{t}.accounts"] for t in ("high", "medium", "low")] == [3, 2, 3]
    assert [realised[f"tier.{t}.churners"] for t in ("high", "medium", "low")] == [2, 1, 1]
    assert realised["precision_at.high"] == pytest.approx(2 / 3) and realised["recall_at.high"] == pytest.approx(2 / 4)
    assert realised["precision_at.medium"] == pytest.approx(3 / 5)
    assert realised["recall_at.medium"] == pytest.approx(3 / 4)
    expected = expected_performance(p, cuts)
    assert expected["tier.high.churners"] == pytest.approx(2.2) and expected["churners"] == pytest.approx(p.sum())
    assert expected["precision_at.high"] == pytest.approx(2.2 / 3)
    assert expected["recall_at.medium"] == pytest.approx((2.2 + 0.55) / p.sum())
    # the 99% band holds the churner count of about 99% of outcomes drawn from the probabilities
    rng = np.random.default_rng(2)
    q = rng.beta(0.6, 5, 2_000)
    low, high = churner_band(q, 0.99)
    counts = (rng.random((4_000, q.size)) < q).sum(axis=1)
    assert 0.98 < np.mean((counts >= low) & (counts <= high)) < 0.997


@pytest.mark.parametrize("p, message", [([0.2, 1.5], r"1 do not, e\.g\. 1\.5"), ([0.2, float("nan")], "1 do not"),
                                        ([], "nothing to estimate")])
def test_bad_probabilities_are_refused(p, message):
    with pytest.raises(ConfigError, match=message):
        expected_performance(p, {"high": 0.5, "medium": 0.2})
