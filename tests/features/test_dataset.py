"""Training sets against the generator's ground truth and on every real event log."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.cli import app
from churnml.contract._definitions import InactivityChurn, SubscriptionChurn
from churnml.features._dataset import build_dataset
from churnml.features._spec import FeatureBuilder

runner = CliRunner()


@pytest.fixture(scope="module")
def product(small_product):
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    truth = pd.read_parquet(small_product["ground_truth"])
    truth["churn_date"] = pd.to_datetime(truth["churn_date"])
    return data, truth


def test_subscription_labels_equal_the_ground_truth(product):
    # The generator ends the last subscription on the churn date and plan changes are
    # contiguous, so with no gap tolerance a user running at t churns within h days
    # exactly when the true churn date is before t + h, with the same churn type.
    data, truth = product
    frame = build_dataset(data, SubscriptionChurn(horizon_days=30),
                          builder=FeatureBuilder(windows=(30,), trend_windows=())).frame
    merged = frame.merge(truth, on="user_id", suffixes=("", "_true"))
    truly = merged["churn_date"].notna() & (merged["churn_date"] < merged["observation_date"] + pd.Timedelta(days=30))
    assert len(merged) > 5_000 and truly.sum() > 300
    assert (merged["label"] == truly.astype(int)).all()
    assert (merged.loc[truly, "churn_type"] == merged.loc[truly, "churn_type_true"]).all()


def test_inactivity_labels_against_the_ground_truth(product):
    # Inactivity churn sees only usage: every eligible user whose true churn date is at or
    # before t is labelled churned (they produce no events after it), and a user who
    # stays beyond the window is labelled churned only if silent for all h days while
    # still subscribed, which the generator's engagement makes rare (under 2%).
    data, truth = product
    frame = build_dataset(data, InactivityChurn(horizon_days=30, active_window_days=30),
                          builder=FeatureBuilder(windows=(30,), trend_windows=())).frame
    merged = frame.merge(truth, on="user_id")
    gone = merged["churn_date"].notna() & (merged["churn_date"] <= merged["observation_date"])
    stays = merged["churn_date"].isna() | (merged["churn_date"] >= merged["observation_date"] + pd.Timedelta(days=30))
    assert gone.sum() > 100
    assert merged.loc[gone, "label"].eq(1).all()
    assert merged.loc[stays, "label"].mean() < 0.02


def test_grid_is_monthly_and_right_censored(product):
    data, _ = product
    training = build_dataset(data, InactivityChurn(horizon_days=90, active_window_days=90), step_days=30)
    dates = training.observation_dates
    assert all((b - a).days == 30 for a, b in zip(dates, dates[1:]))
    last_event = data.backend.fetchone(f"SELECT max(timestamp) FROM {data.events.view}")[0]
    assert (last_event.date() - dates[-1]).days == 90          # the latest labelled date
    assert (last_event.date() - dates[-1]).days - 90 < 30       # no labelled date left out at the end
    assert set(training.frame["observation_date"].dt.date) <= set(dates)


def dataset_cli(tmp_path, *args):
    out = tmp_path / "dataset.parquet"
    result = runner.invoke(app, ["dataset", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out), result.output


@pytest.mark.slow
def test_dataset_cli_on_online_retail(shared_data, tmp_path):
    frame, output = dataset_cli(
        tmp_path, "--events", str(shared_data / "online_retail/online_retail.parquet"),
        "--user-col", "CustomerID", "--time-col", "InvoiceDate", "--value-col", "Quantity * UnitPrice",
        "--where", "CustomerID IS NOT NULL", "--horizon-days", "90", "--step-days", "30")
    # user, date, label + 27 features: recency, then per window (7, 30, 90) count, active days,
    # value sum and mean, two trends, tenure, mean gap, overdue ratio (no event types: no breadth),
    # seven whole-history features (events, active days, value sum and mean, activity rate, active span,
    # first repeat) and two BG/NBD ones (p_alive, expected active days in the 90-day horizon).
    assert frame.shape == (13_470, 3 + 27)
    assert frame["observation_date"].nunique() == 7
    assert frame["label"].mean() == pytest.approx(0.383, abs=0.005)
    assert "label rate 38.3%" in output


@pytest.mark.slow
def test_dataset_cli_on_complete_journey(shared_data, tmp_path):
    frame, _ = dataset_cli(
        tmp_path, "--events", str(shared_data / "complete_journey/transactions_sample.parquet"),
        "--user-col", "household_id", "--time-col", "transaction_timestamp", "--value-col", "sales_value",
        "--horizon-days", "30", "--active-window-days", "60")
    assert frame.shape == (16_662, 3 + 18 + 9)  # + seven whole-history and two BG/NBD features
    assert frame["observation_date"].nunique() == 9
    assert frame["label"].mean() == pytest.approx(0.267, abs=0.005)


@pytest.mark.slow
def test_dataset_cli_on_segment_events(shared_data, tmp_path):
    # Most Segment users appear on one day only, so nearly everyone active in a week is
    # silent the next two: a label rate near 96% is the data, not a bug.
    frame, _ = dataset_cli(
        tmp_path, "--events", str(shared_data / "segment_events/event_data.parquet"),
        "--user-col", "anonymousId", "--time-col", "timestamp", "--type-col", "coalesce(event, type)",
        "--horizon-days", "14", "--active-window-days", "14", "--step-days", "7",
        "--windows", "7,14", "--trend-windows", "7")
    assert frame.shape[0] == 13_700 and frame["observation_date"].nunique() == 10
    assert {"count_feature_run_clicked_14d", "days_since_last_identify"} <= set(frame.columns)
    assert frame["label"].mean() == pytest.approx(0.960, abs=0.005)


def test_features_cli_one_row_per_eligible_user(small_product, tmp_path):
    out = tmp_path / "features.csv"
    args = ["features", "--as-of", "2024-07-01", "--out", str(out), "--events", str(small_product["events"]),
            "--accounts", str(small_product["accounts"]), "--active-window-days", "30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame["user_id"].is_unique and (frame["observation_date"] == "2024-07-01").all()
    assert "label" not in frame.columns
    assert frame["days_since_last_event"].max() <= 30  # eligible = active in the last 30 days
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already exists" in str(again.exception)


def test_dataset_cli_reads_churn_and_features_from_the_config_file(small_product, tmp_path):
    config = tmp_path / "churnml.toml"
    config.write_text(f"""
[events]
path = "{small_product['events'].as_posix()}"

[subscriptions]
path = "{small_product['subscriptions'].as_posix()}"

[churn]
definition = "subscription"
horizon_days = 30
step_days = 60

[features]
windows = [14]
trend_windows = []
""")
    frame, output = dataset_cli(tmp_path, "--config", str(config))
    assert "subscription churn, 30-day horizon" in output
    assert "churn_type" in frame.columns and "count_events_14d" in frame.columns
    assert "count_events_30d" not in frame.columns
    dates = sorted(frame["observation_date"].unique())
    assert all((b - a).days == 60 for a, b in zip(dates, dates[1:]))
    # A flag overrides the file.
    frame, output = dataset_cli(tmp_path / "flag", "--config", str(config), "--churn", "inactivity",
                                "--horizon-days", "20", "--active-window-days", "30")
    assert "inactivity churn, 20-day horizon" in output and "churn_type" not in frame.columns
