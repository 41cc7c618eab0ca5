"""Backtests at a cutoff: trained before it, scored at it, labelled by what followed."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml import AccountSource, EventSource, InactivityChurn, SubscriptionChurn, SubscriptionSource, load
from churnml.cli import app
from churnml.engines import engine_named
from churnml.errors import ConfigError
from churnml.features._spec import FeatureBuilder
from churnml.modeling._backtesting import backtest

engine = engine_named("duckdb")

CUTOFF = dt.date(2024, 11, 1)  # the generator's year ends 2024-12-30: the 30-day label window is observed


@pytest.fixture(scope="module")
def product(small_product):
    return load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))


@pytest.mark.parametrize("definition", [SubscriptionChurn(horizon_days=30),
                                        InactivityChurn(horizon_days=30, active_window_days=30)],
                         ids=["subscription", "inactivity"])
def test_refitted_model_beats_every_baseline_at_a_held_out_cutoff(product, definition):
    result = backtest(product, definition, cutoffs=[CUTOFF],
                      builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    table = result.metrics.set_index("model")
    baselines = {"recency", "logistic"} | ({"bgnbd"} if isinstance(definition, InactivityChurn) else set())
    assert set(table.index) == {"model", "evaluated"} | baselines
    for name in baselines:
        assert table.loc["model", "roc_auc"] > table.loc[name, "roc_auc"], name
    assert table.loc["model", "roc_auc"] > table.loc["evaluated", "roc_auc"]  # the refit pays
    assert abs(table.loc["model", "mean_probability"] - table.loc["model", "churn_rate"]) < 0.03
    assert table.loc["model", "ece"] <= 0.05
    # trained only on what was known at the cutoff: every training label window ends by it
    trained = result.trainers[CUTOFF]
    last = max(d for days in trained.split_.dates.values() for d in days)
    assert last + dt.timedelta(days=definition.label_span_days) <= CUTOFF


def test_scored_accounts_and_labels_are_the_point_in_time_ones(product):
    definition = InactivityChurn(horizon_days=30, active_window_days=30)
    result = backtest(product, definition, cutoffs=[CUTOFF], step_days=30)
    predictions = result.predictions.set_index("user_id")
    spec = result.trainers[CUTOFF].model_.spec
    # the accounts and labels the full history gives at the cutoff (features at t read only events before t)
    expected = engine.compute(product, spec, definition, [CUTOFF], labels=True).set_index("user_id")
    assert list(predictions.index) == list(expected.index)
    assert (predictions["label"] == expected["label"]).all()
    row = result.metrics.set_index("model").loc["model"]
    assert row["rows"] == len(expected) and row["churn_rate"] == pytest.approx(expected["label"].mean())


def test_truncated_data_knows_nothing_after_the_cutoff(product):
    cut = engine.truncated(product, CUTOFF)
    first, last = engine.time_span(cut)
    assert last < pd.Timestamp(CUTOFF)
    running = cut.backend.fetchone(f"SELECT count(*) FROM {cut.subscriptions.view} WHERE \"end\" IS NULL")[0]
    ended_later = product.backend.fetchone(
        f"SELECT count(*) FROM {product.subscriptions.view} WHERE start < DATE '{CUTOFF}' "
        f"AND (\"end\" IS NULL OR \"end\" >= DATE '{CUTOFF}')")[0]
    assert running == ended_later > 0  # ends after the cutoff are not known at it


def test_a_cutoff_whose_label_window_is_not_observed_is_refused(product):
    with pytest.raises(ConfigError, match=r"needs its 30-day label window observed.*on or before 2024-11-30"):
        backtest(product, InactivityChurn(horizon_days=30, active_window_days=30), cutoffs=["2024-12-15"])
    with pytest.raises(ConfigError, match="at least one cutoff"):
        backtest(product, cutoffs=[])


def test_backtest_cli_prints_logs_and_writes(small_product, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    # the default store (mlflow.db in the working folder): a module fixture's MLflow use may have set the variable
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    sources = ["--events", str(small_product["events"]), "--subscriptions", str(small_product["subscriptions"]),
               "--churn", "subscription", "--horizon-days", "30", "--step-days", "30"]
    result = CliRunner().invoke(app, ["backtest", "--cutoff", "2024-10-01", "--cutoff", "2024-11-01",
                                      "--out", "bt.csv", *sources])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "bt.csv")
    assert sorted(table["cutoff"].unique()) == ["2024-10-01", "2024-11-01"]
    for cutoff in ("2024-10-01", "2024-11-01"):
        assert f"{cutoff}  model" in result.output
    run_id = result.output.split("run id: ")[1].split()[0]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    logged = mlflow.get_run(run_id).data.metrics
    model = table[(table["cutoff"] == "2024-11-01") & (table["model"] == "model")].iloc[0]
    assert logged["backtest.2024-11-01.model.roc_auc"] == pytest.approx(model["roc_auc"])
    assert {"backtest.2024-10-01.logistic.ece", "backtest.2024-11-01.recency.mean_probability"} <= set(logged)
    again = CliRunner().invoke(app, ["backtest", "--cutoff", "2024-11-01", "--out", "bt.csv", *sources])
    assert again.exit_code == 1 and "--overwrite" in str(again.exception)  # refused before any training
