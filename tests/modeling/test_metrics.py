"""Each metric against an example small enough to work out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnml.errors import ConfigError
from churnml.modeling import metrics


def test_roc_auc_counts_ordered_pairs():
    # churners 0.8, 0.35; stayers 0.4, 0.1: pairs won 0.8>0.4, 0.8>0.1, 0.35>0.1; lost 0.35<0.4 -> 3/4
    assert metrics.roc_auc([1, 0, 1, 0], [0.8, 0.4, 0.35, 0.1]) == pytest.approx(0.75)
    # a tie counts one half: churner 0.5 vs stayers 0.5 (tie) and 0.1 (won) -> 1.5/2
    assert metrics.roc_auc([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)
    assert math.isnan(metrics.roc_auc([0, 0], [0.1, 0.2]))


def test_pr_auc_is_average_precision():
    # ranked: 1, 0, 1, 0 -> recall steps of 1/2 at precisions 1/1 and 2/3 -> 0.5 + 0.5 * 2/3
    assert metrics.pr_auc([1, 0, 1, 0], [0.8, 0.4, 0.35, 0.1]) == pytest.approx(0.5 + 1 / 3)


def test_log_loss_and_brier():
    # -(ln 0.8 + ln 0.6) / 2 and ((0.8 - 1)^2 + 0.4^2) / 2
    assert metrics.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert metrics.brier([1, 0], [0.8, 0.4]) == pytest.approx(0.1)
    assert metrics.log_loss([1], [0.0]) == pytest.approx(-math.log(1e-15))  # clipped, not infinite


def test_expected_calibration_error_by_bins():
    # bin [0.1, 0.2): two rows, rate 1/2, mean p 0.15 -> 2/4 * 0.35
    # bin [0.7, 0.8): one stayer at 0.75 -> 1/4 * 0.75; bin [0.8, 0.9): one churner at 0.85 -> 1/4 * 0.15
    ece = metrics.expected_calibration_error([1, 0, 1, 0], [0.15, 0.15, 0.85, 0.75])
    assert ece == pytest.approx(0.175 + 0.1875 + 0.0375)
    # a probability of exactly 1 lands in the last bin, not past it
    assert metrics.expected_calibration_error([1, 1], [1.0, 1.0]) == pytest.approx(0.0)


Y10 = [1, 0, 1, 0, 0, 0, 0, 0, 1, 0]                   # 3 churners in 10, rate 0.3
S10 = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]  # already in ranked order


def test_lift_and_capture_at_the_top():
    # top 10% = 1 account, a churner: rate 1 / 0.3; captures 1 of 3
    assert metrics.lift_at(Y10, S10, 0.1) == pytest.approx(1 / 0.3)
    assert metrics.capture_rate_at(Y10, S10, 0.1) == pytest.approx(1 / 3)
    # top 20% = 2 accounts, one churner: rate 0.5 / 0.3
    assert metrics.lift_at(Y10, S10, 0.2) == pytest.approx(0.5 / 0.3)
    assert metrics.capture_rate_at(Y10, S10, 0.2) == pytest.approx(1 / 3)


def test_gain_table_by_decile():
    table = metrics.gain_table(Y10, S10)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["accounts"].tolist() == [1] * 10
    assert table["churners"].tolist() == Y10
    assert table["cumulative_capture"].iloc[[0, 2, 8, 9]].tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1])
    assert table["lift"].iloc[0] == pytest.approx(1 / 0.3)
    # order of input rows does not matter, only the scores
    order = np.random.default_rng(0).permutation(10)
    shuffled = metrics.gain_table(np.array(Y10)[order], np.array(S10)[order])
    pd.testing.assert_frame_equal(shuffled, table)


def test_expected_max_profit_stops_where_the_running_total_peaks():
    # value 100, offer 10, contact 1, acceptance 0.5: a churner earns 0.5 * 90 - 1 = 44, a stayer -11
    # ranked labels 1, 1, 0, 1, 0 -> running 44, 88, 77, 121, 110: contact 4 of 5 for 121
    result = metrics.expected_max_profit([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5], customer_value=100,
                                         offer_cost=10, contact_cost=1, acceptance_rate=0.5)
    assert result.profit == pytest.approx(121)
    assert result.accounts_contacted == 4
    assert result.share_contacted == pytest.approx(0.8)
    assert result.profit_per_account == pytest.approx(121 / 5)
    # when every contact loses money, contact no one
    none = metrics.expected_max_profit([0, 0, 1], [0.9, 0.8, 0.1], acceptance_rate=0.0)
    assert (none.profit, none.accounts_contacted) == (0.0, 0)


def test_evaluate_and_per_date():
    frame = pd.DataFrame({"observation_date": pd.to_datetime(["2024-01-01"] * 4 + ["2024-02-01"] * 4),
                          "label": [1, 0, 1, 0, 1, 0, 0, 0],
                          "churn_probability": [0.8, 0.4, 0.35, 0.1, 0.6, 0.5, 0.2, 0.1]})
    overall = metrics.evaluate(frame["label"], frame["churn_probability"])
    assert overall["rows"] == 8 and overall["churn_rate"] == pytest.approx(3 / 8)
    assert overall["brier"] == pytest.approx(metrics.brier(frame["label"], frame["churn_probability"]))
    per_date = metrics.evaluate_by_date(frame)
    assert per_date["roc_auc"].tolist() == pytest.approx([0.75, 1.0])
    assert per_date["rows"].tolist() == [4, 4]
    scores = metrics.evaluate([1, 0, 0], [30.0, 2.0, 5.0], probabilities=False)  # days since last event
    assert "log_loss" not in scores and scores["roc_auc"] == 1.0


@pytest.mark.parametrize(("y", "p", "message"), [
    ([1, 0], [0.5], "differ in length"),
    ([], [], "empty"),
    ([1, 2], [0.5, 0.5], "0 and 1 only"),
    ([1, 0], [0.5, float("nan")], "missing values"),
])
def test_bad_inputs(y, p, message):
    with pytest.raises(ConfigError, match=message):
        metrics.roc_auc(y, p)


def test_probabilities_out_of_range():
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        metrics.brier([1, 0], [1.5, 0.2])
