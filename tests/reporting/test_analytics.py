"""Retention analytics on tiny hand-written data (answers worked out in the comments), the generator's
ground truth, and the CLI."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.errors import ConfigError
from churnml.reporting import analytics

T = pd.Timestamp


def _events(rows):
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"], format="mixed"))


def _subscriptions(rows):
    frame = pd.DataFrame(rows, columns=["user_id", "start", "end", "mrr", "end_reason"])
    return frame.assign(start=pd.to_datetime(frame["start"]), end=pd.to_datetime(frame["end"]))


@pytest.fixture
def subscribed():
    # Events only fix the span: 2024-01-01 to 2024-03-31, so January to March are whole months.
    events = _events([(1, "2024-01-01 10:00", "login"), (1, "2024-03-31 10:00", "login")])
    subscriptions = _subscriptions([
        (1, "2024-01-01", None, 10.0, None),                    # never leaves
        (2, "2024-01-01", "2024-02-10", 10.0, "cancelled"),     # lost in February
        (3, "2024-01-01", "2024-01-20", 10.0, "payment_failed"),  # lost in January, involuntary
        (4, "2024-01-15", "2024-03-01", 10.0, "cancelled"),     # joins mid-January; gone at 1 March: lost in February
        (5, "2024-01-01", "2024-02-01", 10.0, "cancelled"),     # gone at 1 February: lost in January ...
        (5, "2024-02-03", None, 10.0, None),                    # ... back two days later
    ])
    return load(EventSource(events), SubscriptionSource(subscriptions))


def test_churn_rate_by_subscriptions_by_hand(subscribed):
    frame = analytics.churn_rate(subscribed)
    # January: users 1, 2, 3, 5 run at 1 Jan (4 joins later); 3 and 5 are gone by 1 Feb -> 2 / 4
    # February: 1, 2, 4 run at 1 Feb (5 is between its subscriptions); 2 and 4 gone by 1 Mar -> 2 / 3
    # March: 1 and 5 run at 1 Mar; nobody leaves -> 0 / 2
    assert frame["period"].astype(str).tolist() == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert frame["active_at_start"].tolist() == [4, 3, 2]
    assert frame["churned"].tolist() == [2, 2, 0]
    assert frame["churned_involuntary"].tolist() == [1, 0, 0]  # user 3's payment failure
    assert frame["churned_voluntary"].tolist() == [1, 2, 0]
    assert frame["churn_rate"].tolist() == pytest.approx([0.5, 2 / 3, 0.0])
    # annualised from monthly: 1 - (1 - 0.5)^12
    assert frame["annualised_churn_rate"].iloc[0] == pytest.approx(1 - 0.5 ** 12)


def test_gap_tolerance_merges_a_quick_return_and_needs_the_days_after(subscribed):
    frame = analytics.churn_rate(subscribed, gap_tolerance_days=7)
    # user 5's two-day gap is forgiven: January loses only user 3 (1 of 4); February: 1, 2, 4, 5 run and
    # 2, 4 leave (2 of 4). March would need 7 days after 31 March to be sure, so it is not reported.
    assert frame["active_at_start"].tolist() == [4, 4]
    assert frame["churned"].tolist() == [1, 2]


def test_churn_rate_by_inactivity_by_hand():
    data = load(EventSource(_events([
        (9, "2023-12-02", "a"),
        (1, "2024-01-05", "a"), (1, "2024-02-05", "a"), (1, "2024-03-05", "a"), (1, "2024-03-31", "a"),
        (2, "2024-01-10", "a"),
        (3, "2024-01-20", "a"), (3, "2024-02-25", "a"),
    ])))
    frame = analytics.churn_rate(data, active_window_days=30)
    # The data starts on 2 December: January has its 30 days of history, so it is the first month reported.
    # 1 Jan: active = an event in [2 Dec, 1 Jan): user 9; 1 Feb: an event in [2 Jan, 1 Feb): not 9: 1 / 1.
    # 1 Feb: users 1, 2, 3 active. 1 Mar: an event in [31 Jan, 1 Mar): 1 and 3, so user 2 is lost: 1 / 3.
    # 1 Mar: 1, 3 active; 1 Apr: an event in [2 Mar, 1 Apr): only 1: 1 / 2.
    assert frame["period"].astype(str).tolist() == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert frame["active_at_start"].tolist() == [1, 3, 2]
    assert frame["churned"].tolist() == [1, 1, 1]
    assert frame["churn_rate"].tolist() == pytest.approx([1.0, 1 / 3, 1 / 2])
    assert "churned_involuntary" not in frame
    # a 60-day window needs history back to 2 Nov for January, 2 Dec for February: February comes first
    assert analytics.churn_rate(data, active_window_days=60)["period"].astype(str).tolist()[0] == "2024-02-01"
    weekly = analytics.churn_rate(data, period="week", active_window_days=30)
    assert (weekly["period"].map(lambda d: d.weekday()) == 0).all()  # weeks start on Monday


def test_revenue_churn_with_expansion_larger_than_the_losses():
    events = _events([(1, "2024-01-01 00:00", "login"), (1, "2024-01-31 12:00", "login")])
    subscriptions = _subscriptions([
        (1, "2023-12-01", "2024-01-15", 100.0, "upgrade"), (1, "2024-01-15", None, 300.0, None),  # +200 expansion
        (2, "2023-12-01", "2024-01-20", 50.0, "cancelled"),                                      # 50 churned
        (3, "2023-12-01", "2024-01-10", 80.0, "downgrade"), (3, "2024-01-10", None, 60.0, None),  # 20 contraction
        (4, "2024-01-05", None, 40.0, None),                                                     # 40 new
    ])
    frame = analytics.revenue_churn(load(EventSource(events), SubscriptionSource(subscriptions)))
    row = frame.iloc[0]
    assert str(row["period"]) == "2024-01-01" and len(frame) == 1
    assert row["accounts_at_start"] == 3  # accounts 1, 2 and 3 had MRR on 1 Jan; 4 is new
    # MRR at 1 Jan: 100 + 50 + 80 = 230; at 1 Feb: 300 + 60 + 40 = 400 = 230 - 50 - 20 + 200 + 40
    assert (row["mrr_start"], row["mrr_churned"], row["mrr_contraction"], row["mrr_expansion"], row["mrr_new"],
            row["mrr_end"]) == (230, 50, 20, 200, 40, 400)
    # gross = (50 + 20) / 230 x 100 = 30.43%; net = (50 + 20 - 200) / 230 x 100 = -56.52%
    assert row["gross_mrr_churn_pct"] == pytest.approx(70 / 230 * 100)
    assert row["net_mrr_churn_pct"] == pytest.approx(-130 / 230 * 100)
    assert row["net_mrr_churn_pct"] < 0
    with pytest.raises(ConfigError, match="mrr"):
        analytics.revenue_churn(load(EventSource(events)))


def test_activation_300_of_1000():
    # 1,000 accounts sign up in January; 300 do the activation event 2 days after signup, 100 more only after
    # 10 days (too late for a 7-day window): 300 / 1000 x 100 = 30%. Ten February signups on 26 Feb cannot be
    # judged yet (their week ends after the data, 1 March).
    signups = pd.date_range("2024-01-01", periods=1000, freq="40min")
    accounts = pd.DataFrame({"user_id": range(1000), "signup_date": signups})
    late = pd.DataFrame({"user_id": range(1000, 1010), "signup_date": T("2024-02-26")})
    rows = [(u, s + pd.Timedelta(days=2), "setup_done") for u, s in zip(range(300), signups[:300])]
    rows += [(u, s + pd.Timedelta(days=10), "setup_done") for u, s in zip(range(300, 400), signups[300:400])]
    rows += [(u, s + pd.Timedelta(hours=1), "login") for u, s in zip(range(1000), signups)]
    rows += [(1005, T("2024-02-29 18:00"), "setup_done")]
    data = load(EventSource(pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type"])),
                accounts=AccountSource(pd.concat([accounts, late], ignore_index=True)))
    frame = analytics.activation(data, events=["setup_done"], days=7)
    january, february = frame.iloc[0], frame.iloc[1]
    assert (january["acquired"], january["activated"]) == (1000, 300)
    assert january["activation_rate_pct"] == pytest.approx(30.0)
    assert january["median_days_to_activation"] == pytest.approx(2.0)
    assert (february["acquired"], february["not_yet_observed"]) == (0, 10)
    assert math.isnan(february["activation_rate_pct"])
    with pytest.raises(ConfigError, match="activation event"):
        analytics.activation(data, events=[])


def test_inactive_counts_list_and_history():
    data = load(EventSource(_events([
        (1, "2024-01-01 12:00", "a"), (1, "2024-03-31 12:00", "a"),   # 0.5 days inactive on 1 April
        (2, "2024-01-15 12:00", "a"), (2, "2024-02-25 00:00", "a"),   # 36 days
        (3, "2024-01-01 00:00", "a"),                                 # 91 days
    ])))
    result = analytics.inactive(data, as_of="2024-04-01", thresholds=(30, 60, 90))
    assert result.counts["inactive_accounts"].tolist() == [2, 1, 1]
    assert result.counts["share_of_accounts"].tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert result.users["user_id"].tolist() == [3, 2]   # most inactive first
    assert result.users["days_inactive"].tolist() == pytest.approx([91.0, 36.0])
    history = result.over_time.set_index(result.over_time["date"].astype(str))
    # on 1 March: user 3 silent since 1 Jan (60 days), user 2 active 4 days ago, user 1 since 1 Jan 12:00
    assert history.loc["2024-03-01", ["accounts_seen", "inactive_30d", "inactive_60d"]].tolist() == [3, 2, 1]
    assert history.loc["2024-04-01", "inactive_90d"] == 1


def test_segments_by_rules_with_churn_rates_and_the_least_engaged_profile():
    as_of = T("2024-06-01")
    rows = [(1, as_of - pd.Timedelta(days=d, hours=12), "a") for d in range(20)]      # champion
    rows += [(1, as_of + pd.Timedelta(days=5), "a"), (2, as_of + pd.Timedelta(days=40), "a")]  # 1 stays, the rest leave
    rows += [(2, as_of - pd.Timedelta(days=10), "a"),     # active
             (3, as_of - pd.Timedelta(days=45), "a"),     # at risk
             (4, as_of - pd.Timedelta(days=75), "a"),     # dormant
             (5, as_of - pd.Timedelta(days=120), "a"), (6, as_of - pd.Timedelta(days=150), "a"),  # inactive
             (6, as_of - pd.Timedelta(days=155), "a")]
    data = load(EventSource(_events(rows)))
    result = analytics.segments(data, as_of="2024-06-01", horizon_days=30)
    by_user = dict(zip(result.accounts["user_id"], result.accounts["segment"].astype(str)))
    assert by_user == {1: "champions", 2: "active", 3: "at risk", 4: "dormant", 5: "inactive", 6: "inactive"}
    summary = result.summary.set_index(result.summary["segment"].astype(str))
    assert summary["accounts"].tolist() == [1, 1, 1, 1, 2]
    # churn = no event in the 30 days after 1 June: only user 1 has one (user 2's is 40 days later)
    assert summary["churn_rate"].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert result.least_engaged == "inactive"
    profile = result.profile.set_index("feature")
    assert profile.loc["days_since_last_event", "segment_mean"] == pytest.approx(np.mean([120.0, 150.0]))
    assert profile.loc["days_since_last_event", "effect_size"] > 1
    quantiles = analytics.segments(data, as_of="2024-06-01", method="quantiles")
    assert quantiles.summary["accounts"].sum() == 6


def test_cohort_retention_matrix():
    data = load(EventSource(_events([
        (1, "2024-01-05", "a"), (1, "2024-02-05", "a"), (1, "2024-03-05", "a"),
        (2, "2024-01-20", "a"),
        (3, "2024-02-10", "a"), (3, "2024-03-10", "a"), (3, "2024-03-31", "a"),
    ])))
    matrix = analytics.cohorts(data)
    # January cohort (users 1, 2): month 0 both, months 1 and 2 only user 1. February cohort (user 3):
    # months 0 and 1; its month 2 (April) is not observed (the data ends on 31 March).
    assert matrix["accounts"].tolist() == [2, 1]
    assert matrix.loc[matrix.index[0], [0, 1, 2]].tolist() == [1.0, 0.5, 0.5]
    assert matrix.loc[matrix.index[1], [0, 1]].tolist() == [1.0, 1.0]
    assert math.isnan(matrix.loc[matrix.index[1], 2])
    figure = analytics.cohort_figure(matrix)
    assert len(figure.axes) == 2  # heatmap and its colour bar


def test_gaps_between_active_days_and_the_horizon_they_suggest():
    data = load(EventSource(_events([
        (1, "2024-01-01 09:00", "a"), (1, "2024-01-01 18:00", "a"), (1, "2024-01-02", "a"), (1, "2024-01-12", "a"),
        (2, "2024-01-05", "a"), (2, "2024-02-04", "a"),
        (3, "2024-03-01", "a"),
    ])))
    gaps = analytics.inter_event_gaps(data)
    # user 1: active on 1, 2 and 12 January (two events on the 1st are one active day): gaps 1 and 10;
    # user 2: 30 days; user 3: a single active day, no gap
    assert gaps.to_dict("list") == {"gap_days": [1, 10, 30], "gaps": [1, 1, 1]}
    assert analytics.horizon_from_gaps(gaps, 0.5) == 10 and analytics.horizon_from_gaps(gaps, 0.9) == 30


def test_monthly_churn_rate_matches_the_generators_ground_truth(small_product):
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    ours = analytics.churn_rate(data)
    # Ground truth: a user is a customer from signup until its churn date (midnight); lost in a month
    # when the churn date falls after the month's first instant and by the next month's first instant.
    truth = duckdb.sql(f"""
        WITH p AS (SELECT CAST(unnest(generate_series(DATE '2024-01-01', DATE '2024-12-01', INTERVAL 1 MONTH))
                   AS DATE) AS s),
        u AS (SELECT a.user_id, a.signup_date, g.churn_date, g.churn_type
              FROM read_parquet('{small_product["accounts"].as_posix()}') a
              JOIN read_parquet('{small_product["ground_truth"].as_posix()}') g USING (user_id))
        SELECT s AS period,
               count(*) FILTER (WHERE signup_date <= s AND (churn_date IS NULL OR churn_date > s)) AS active,
               count(*) FILTER (WHERE signup_date <= s AND churn_date > s AND churn_date <= s + INTERVAL 1 MONTH)
                   AS churned,
               count(*) FILTER (WHERE signup_date <= s AND churn_date > s AND churn_date <= s + INTERVAL 1 MONTH
                                AND churn_type = 'involuntary') AS involuntary
        FROM p, u GROUP BY 1 ORDER BY 1""").df()
    truth["period"] = pd.to_datetime(truth["period"]).dt.date
    truth = truth[truth["period"].isin(ours["period"])].reset_index(drop=True)
    assert len(ours) >= 10
    assert ours["active_at_start"].tolist() == truth["active"].tolist()
    assert ours["churned"].tolist() == truth["churned"].tolist()
    assert ours["churned_involuntary"].tolist() == truth["involuntary"].tolist()
    assert ours["churn_rate"].iloc[1:].between(0.02, 0.3).all()


def test_cli_commands_print_write_and_fail_cleanly(small_product, tmp_path):
    from typer.testing import CliRunner

    from churnml.cli import app, main

    sources = ["--events", str(small_product["events"]), "--subscriptions", str(small_product["subscriptions"]),
               "--accounts", str(small_product["accounts"])]
    runner = CliRunner()
    result = runner.invoke(app, ["analytics", "churn-rate", *sources, "--out", str(tmp_path / "churn.csv"),
                                 "--plot", str(tmp_path / "churn.png")])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "churn.csv")
    assert list(written.columns[:3]) == ["period", "active_at_start", "churned"]
    assert "annualised" in result.output and (tmp_path / "churn.png").read_bytes()[:4] == b"\x89PNG"
    for command in (["revenue-churn"], ["activation", "--event", "core_action"], ["inactive"],
                    ["segments", "--as-of", "2024-10-01"], ["cohorts"]):
        result = runner.invoke(app, ["analytics", *command, *sources])
        assert result.exit_code == 0, (command, result.output)
    with pytest.raises(SystemExit) as exit_info:
        main(["analytics", "revenue-churn", "--events", str(small_product["events"])])
    assert exit_info.value.code == 1
