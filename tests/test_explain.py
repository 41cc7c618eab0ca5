"""ChurnExplainer: exact TreeSHAP against the shap package, additivity, and sentences for every feature family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.dataset import build_dataset
from churnml.definitions import InactivityChurn, SubscriptionChurn
from churnml.explain import ChurnExplainer
from churnml.features import FeatureBuilder, FeatureInfo
from churnml.trainer import ChurnTrainer
from gpu import requires_cuda


@pytest.fixture(scope="module")
def generated(small_product):
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    training = build_dataset(data, SubscriptionChurn(horizon_days=30),
                             builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    return training, ChurnTrainer().fit(training)


def _check_against_shap(trainer, rows):
    import shap
    import xgboost as xgb

    explainer = ChurnExplainer(trainer.model_)
    explanation = explainer.explain(rows)
    first, last = trainer.model_._iterations()  # the trees up to early stopping's best round
    # shap's own TreeSHAP, on the rows with categories as their codes (how shap reads categorical splits)
    reference = shap.TreeExplainer(trainer.model_.booster[first:last]).shap_values(explanation.to_shap().data)
    assert np.abs(explanation.values - reference).max() < 1e-4
    margin = trainer.model_.booster.predict(xgb.DMatrix(explanation.data, enable_categorical=True),
                                            output_margin=True, iteration_range=(first, last))
    assert np.abs(explanation.margin - margin).max() < 1e-4  # base + contributions = margin
    return explainer, explanation


def test_contributions_match_shap_and_add_up_on_the_generator(generated):
    training, trainer = generated
    _check_against_shap(trainer, training.frame.sample(400, random_state=0))


@pytest.mark.slow
def test_contributions_match_shap_and_add_up_on_online_retail(shared_data):
    data = load(EventSource(shared_data / "online_retail" / "online_retail.parquet", user_id="CustomerID",
                            timestamp="InvoiceDate", value="Quantity * UnitPrice", where="CustomerID IS NOT NULL"))
    training = build_dataset(data, InactivityChurn(horizon_days=90), step_days=30)
    trainer = ChurnTrainer(baselines=False).fit(training)
    explainer, explanation = _check_against_shap(trainer, training.frame.sample(500, random_state=1))
    reasons = explainer.reasons(training.frame.sample(500, random_state=1), explanation=explanation)
    assert reasons["reason_1"].notna().mean() > 0.9


def test_reasons_are_the_strongest_risk_raising_drivers(generated):
    training, trainer = generated
    rows = training.frame.head(300)
    explainer = ChurnExplainer(trainer.model_, top_k=3)
    explanation = explainer.explain(rows)
    reasons = explainer.reasons(rows, explanation=explanation)
    assert list(reasons.index) == list(rows.index)
    np.testing.assert_allclose(reasons["churn_probability"], trainer.model_.predict_proba(rows), atol=1e-6)
    names = explanation.feature_names
    for position in range(0, 300, 37):
        contributions = pd.Series(explanation.values[position], index=names)
        expected = contributions[contributions > 0].sort_values(ascending=False, kind="stable").head(3)
        got = [reasons.iloc[position][f"reason_{i}_feature"] for i in (1, 2, 3)]
        assert [g for g in got if g is not None] == list(expected.index)
        assert reasons.iloc[position]["reason_1_contribution"] == pytest.approx(expected.iloc[0])
        assert isinstance(reasons.iloc[position]["reason_1"], str)
        assert "(retained accounts: " in reasons.iloc[position]["reason_1"]


def test_reference_is_the_median_among_retained_accounts(generated):
    training, trainer = generated
    # the evaluated model: retained accounts of its train slice
    train = training.frame[trainer.split_.masks["train"]]
    retained = train[train["label"] == 0]
    assert trainer.evaluated_model_.info["reference"]["days_since_last_event"] == pytest.approx(
        retained["days_since_last_event"].median())
    # the shipped (refitted) model: retained accounts at the latest labelled date, whom it scores next
    latest = training.frame[training.frame["observation_date"] == training.frame["observation_date"].max()]
    assert trainer.model_.info["reference"]["days_since_last_event"] == pytest.approx(
        latest.loc[latest["label"] == 0, "days_since_last_event"].median())


def _info(name, family, unit, **extra):
    return FeatureInfo(name, family, "", unit, 1, **extra)


@pytest.mark.parametrize(("info", "values", "expected"), [
    (_info("days_since_last_event", "recency", "days"), [45.2, 1.0, None],
     ["No activity for 45 days", "No activity for 1 day", "No activity before this date"]),
    (_info("days_since_last_purchase", "recency", "days", event_type="purchase"), [3.0, None],
     ["Last purchase 3 days ago", "Never a purchase event"]),
    (_info("count_payment_failure_30d", "frequency", "events", event_type="payment_failure", window_days=30),
     [2.0, 1.0], ["2 payment failures in the last 30 days", "1 payment failure in the last 30 days"]),
    (_info("count_events_7d", "frequency", "events", window_days=7), [0.0, 12.0],
     ["0 events in the last 7 days", "12 events in the last 7 days"]),
    (_info("active_days_30d", "frequency", "days", window_days=30), [1.0, 4.0],
     ["Active on 1 day of the last 30", "Active on 4 days of the last 30"]),
    (_info("value_sum_90d", "monetary", "value", window_days=90), [1234.5], ["Spent 1,234.50 in the last 90 days"]),
    (_info("value_mean_30d", "monetary", "value", window_days=30), [None],
     ["No valued events in the last 30 days"]),
    (_info("distinct_types_30d", "breadth", "types", window_days=30), [1.0],
     ["Used 1 kind of event in the last 30 days"]),
    (_info("trend_count_login_30d", "trend", "fraction", event_type="login", window_days=30), [-0.8, 0.5, None],
     ["Login events fell 80% vs the previous 30 days", "Login events rose 50% vs the previous 30 days",
      "Login events: none in the previous 30 days to compare with"]),
    (_info("tenure_days", "tenure", "days"), [400.0], ["Customer for 400 days"]),
    (_info("mean_gap_days", "rhythm", "days"), [2.5, None],
     ["Usually active every 2.5 days", "Active on a single day of the lookback, no usual rhythm yet"]),
    (_info("overdue_ratio", "rhythm", "ratio"), [3.0], ["3x the usual gap since the last event"]),
    (FeatureInfo("activated", "activation", "Activated within 7 days of signup: {value}", "flag", -1), [0.0, 1.0],
     ["Not activated within 7 days of signup", "Activated within 7 days of signup"]),
    (_info("days_to_activation", "activation", "days"), [None], ["Not activated in time"]),
    (_info("mrr", "subscription", "value"), [29.0, None], ["Pays 29 per month", "No running subscription"]),
    (_info("subscription_tenure_days", "subscription", "days"), [31.0], ["Subscribed for 31 days"]),
    (_info("downgrades_90d", "subscription", "events", window_days=90), [1.0], ["1 downgrade in the last 90 days"]),
    (_info("mrr_change_90d", "subscription", "value", window_days=90), [-50.0],
     ["Monthly revenue changed by -50 in the last 90 days"]),
])
def test_sentences_for_every_feature_family(info, values, expected):
    from churnml.explain import _describe

    column = pd.Series(values, dtype="float64")
    assert _describe(info, column).tolist() == expected


def test_rare_types_are_named_and_references_keep_their_unit():
    from churnml.explain import _describe, _format_reference

    other = _info("days_since_last_other", "recency", "days", event_type="other")
    words = "rare event (payment failure)"
    assert _describe(other, pd.Series([2.0, None]), other=words).tolist() == [
        "Last rare event (payment failure) 2 days ago", "Never a rare event (payment failure)"]
    assert _format_reference(other, 36.4) == "36 days"
    assert _format_reference(_info("count_login_30d", "frequency", "events", event_type="login"), 1.0) == "1 login"
    assert _format_reference(_info("mean_gap_days", "rhythm", "days"), 2.5) == "every 2.5 days"
    assert _format_reference(FeatureInfo("activated", "activation", "", "flag", -1), 1.0) == "activated"
    assert _format_reference(_info("trend_count_7d", "trend", "fraction"), -0.25) == "fell 25%"
    assert _format_reference(None, 70.351) == "70.35"


def test_sentences_for_categories_and_table_columns():
    from churnml.explain import _describe, _generic

    plan = pd.Series(pd.Categorical(["pro", None], categories=["basic", "pro", "other"]))
    assert _describe(_info("plan", "subscription", "category"), plan).tolist() == [
        "On the pro plan", "No running subscription"]
    assert _generic("Contract", pd.Series(["Month-to-month"])).tolist() == ["Contract: Month-to-month"]
    assert _generic("MonthlyCharges", pd.Series([70.35, np.nan])).tolist() == [
        "MonthlyCharges: 70.35", "MonthlyCharges: missing"]


def test_top_k_must_be_positive(generated):
    from churnml.errors import ConfigError

    with pytest.raises(ConfigError, match="'top_k' parameter"):
        ChurnExplainer(generated[1].model_, top_k=0)


def test_cli_explain_prints_drivers_and_writes_the_waterfall(generated, small_product, tmp_path):
    from typer.testing import CliRunner

    from churnml.cli import app, main

    training, trainer = generated
    folder = trainer.model_.save(tmp_path / "model")
    # the saved model is the shipped (refitted) one: its own probabilities on the test slice
    test = trainer.test_predictions_.assign(churn_probability=trainer.model_.predict_proba(trainer.test_features_))
    riskiest = test.sort_values("churn_probability").iloc[-1]
    as_of = f"{riskiest['observation_date']:%Y-%m-%d}"
    sources = ["--events", str(small_product["events"]), "--subscriptions", str(small_product["subscriptions"]),
               "--accounts", str(small_product["accounts"])]
    result = CliRunner().invoke(app, ["explain", "--model", str(folder), "--as-of", as_of, "--user",
                                      str(riskiest["user_id"]), "--plot", str(tmp_path / "why.png"), *sources])
    assert result.exit_code == 0, result.output
    assert f"churn probability {riskiest['churn_probability']:.1%}, risk tier high" in result.output
    assert "(retained accounts: " in result.output
    assert (tmp_path / "why.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--model", str(folder), "--as-of", as_of, "--user", "no-such-user", *sources])
    assert exit_info.value.code == 1


@requires_cuda
def test_cuda_model_is_explained_on_the_gpu_with_the_same_values(generated):
    training, _ = generated
    trainer = ChurnTrainer(device="cuda", baselines=False).fit(training)
    rows = training.frame.head(500)
    explanation = ChurnExplainer(trainer.model_).explain(rows)
    assert trainer.model_.info["params"]["device"] == "cuda"
    margin = trainer.model_.booster.predict(__import__("xgboost").DMatrix(explanation.data, enable_categorical=True),
                                            output_margin=True, iteration_range=trainer.model_._iterations())
    assert np.abs(explanation.margin - margin).max() < 1e-3


def test_numbers_in_sentences_do_not_depend_on_summation_order_or_print_minus_zero():
    """Two engines summing the same values in another order differ in the last bits; the words must not."""
    from churnml.explain import _number

    order_a, order_b = 19.1149999999995, 19.1150000000005  # one sum from two engines, 1e-12 apart
    assert f"{order_a:.2f}" != f"{order_b:.2f}"  # rounded as they are, they would print differently
    assert _number(pd.Series([order_a]), 2)[0] == _number(pd.Series([order_b]), 2)[0]
    assert _number(pd.Series([-1e-13, -0.004, -2.5]), 2).tolist() == ["0", "0.00", "-2.50"]
