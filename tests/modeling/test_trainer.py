"""ChurnTrainer: the out-of-time split, calibration, baselines, and the models on real and generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.contract._definitions import InactivityChurn, SubscriptionChurn
from churnml.contract._labelled import LabelledTableSource
from churnml.errors import ConfigError, LabelError
from churnml.features._dataset import build_dataset
from churnml.features._spec import FeatureBuilder
from churnml.modeling._trainer import ChurnTrainer, SLICES, split_at_random, split_by_date
from gpu import requires_cuda


@pytest.fixture(scope="module")
def training(small_product):
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    return build_dataset(data, SubscriptionChurn(horizon_days=30),
                         builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))


@pytest.fixture(scope="module")
def trained(training):
    return ChurnTrainer().fit(training)


# ----------------------------------------------------------------- the split


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=200), st.integers(4, 12))
def test_split_by_date_partitions_rows_into_ordered_slices(day_numbers, n_dates):
    days = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta([d % n_dates * 30 for d in day_numbers], "D"))
    if days.nunique() < 4:
        with pytest.raises(ConfigError, match="at least 4 observation dates"):
            split_by_date(days)
        return
    split = split_by_date(days)
    stacked = np.vstack([split.masks[name] for name in SLICES])
    assert (stacked.sum(axis=0) == 1).all()  # every row in exactly one slice
    for earlier, later in zip(SLICES, SLICES[1:]):
        assert split.dates[earlier] and split.dates[later]
        assert max(split.dates[earlier]) < min(split.dates[later])
        assert days[split.masks[earlier]].max() < days[split.masks[later]].min()


def test_held_out_users_never_train_and_the_others_never_judge(training, trained):
    users = training.frame["user_id"]
    in_train = set(users[trained.split_.masks["train"]])
    later = set().union(*(set(users[trained.split_.masks[name]]) for name in SLICES[1:]))
    assert in_train and later and not in_train & later
    share = len(later) / users.nunique()
    assert 0.15 < share < 0.35  # users present at the later dates, 30% of all by the hash


def test_the_shipped_model_is_refitted_on_every_labelled_row(training, trained):
    refit = trained.model_.info["refit"]
    assert refit["rows"] == len(training.frame) and trained.model_.info["exported"] == "refit"
    assert refit["rounds"] == trained.best_iteration_ + 1 == trained.model_.booster.num_boosted_rounds()
    assert trained.evaluated_model_.info["exported"] == "evaluated"
    assert trained.evaluated_model_ is not trained.model_
    # every labelled row was predicted by a booster that never trained on its user
    predictions = trained.refit_predictions_
    assert len(predictions) == len(training.frame) and predictions["churn_probability"].between(0, 1).all()
    assert predictions["churn_probability"].mean() == pytest.approx(predictions["label"].mean(), abs=0.02)
    # retained accounts, drift reference and tiers read the latest labelled date
    latest = training.frame[training.frame["observation_date"] == training.frame["observation_date"].max()]
    retained = latest[latest["label"] == 0]
    assert trained.model_.info["reference"]["days_since_last_event"] == pytest.approx(
        retained["days_since_last_event"].median())
    kept = ChurnTrainer(refit=False).fit(training)
    assert kept.model_ is kept.evaluated_model_ and kept.model_.info["exported"] == "evaluated"


def test_no_users_future_rows_sit_in_an_earlier_slice(training, trained):
    frame = training.frame
    slice_of = pd.Series("", index=frame.index)
    for name in SLICES:
        slice_of[trained.split_.masks[name]] = name
    order = {name: i for i, name in enumerate(SLICES)}
    ranked = frame.assign(slice=slice_of.map(order)).sort_values(["user_id", "observation_date"])
    # along each user's own timeline the slice never goes back
    assert (ranked.groupby("user_id")["slice"].diff().dropna() >= 0).all()
    assert ranked.groupby("user_id")["slice"].nunique().max() > 1  # users do span slices


def test_random_split_is_stratified_for_tables_without_dates():
    y = pd.Series([1] * 200 + [0] * 800)
    split = split_at_random(y, random_state=3)
    assert sum(split.masks[name].sum() for name in SLICES) == 1000 and split.dates is None
    assert split.masks["test"].sum() == 200
    for name in SLICES:
        assert y[split.masks[name]].mean() == pytest.approx(0.2, abs=0.01)


# ----------------------------------------------------------------- the model


def test_evaluated_model_beats_the_recency_rule_and_is_calibrated_on_the_generator(trained):
    # The test slice holds only held-out users at the latest dates; whether the shipped (refitted) model
    # beats every baseline is judged where it is used, at a cutoff it never saw (tests/modeling/test_backtest.py).
    evaluation = trained.evaluation_
    assert set(evaluation.index) == {"model", "recency", "logistic"}  # no BG/NBD for subscription churn
    for metric in ("roc_auc", "pr_auc"):
        assert evaluation.loc["model", metric] > evaluation.loc["recency", metric]
    assert evaluation.loc["model", "ece"] < 0.05
    p = trained.test_predictions_["churn_probability"]
    assert p.between(0, 1).all()
    # a probability: the mean prediction is close to the churn rate of the test slice
    assert p.mean() == pytest.approx(trained.test_predictions_["label"].mean(), abs=0.02)


def test_model_recovers_the_generators_churn_drivers(trained):
    # generator.py: churn rises with low engagement, falling engagement, no activation,
    # and failed payments (rarer than the type threshold, so counted as 'other').
    top = list(trained.feature_importance_.head(12).index)
    assert any(n in ("mean_gap_days", "overdue_ratio") or n.startswith(("count_", "active_days_")) for n in top), top
    assert any(n.startswith("trend_count") for n in top), top
    assert any(n in ("activated", "days_to_activation") for n in top), top
    assert any(n.endswith("_other") or "_other_" in n for n in top), top


def test_auto_calibration_picks_the_lower_cross_validated_log_loss(trained):
    losses = trained.calibration_log_loss_
    assert set(losses) == {"platt", "isotonic"}
    assert trained.calibration_method_ == min(losses, key=losses.get)


def test_per_date_metrics_cover_each_test_date(trained):
    by_date = trained.evaluation_by_date_
    test_dates = [pd.Timestamp(d) for d in trained.split_.dates["test"]]
    assert sorted(by_date.loc[by_date["model"] == "model", "observation_date"]) == test_dates
    assert by_date.groupby("model")["rows"].sum().eq(trained.split_.masks["test"].sum()).all()


def test_class_weight_balanced_sets_scale_pos_weight_and_keeps_probabilities(training):
    y = training.frame["label"].to_numpy()
    # few rounds and no refit: the weights and the calibration are what is tested, not the boosting length
    trainer = ChurnTrainer(class_weight="balanced", baselines=False, refit=False, n_estimators=150).fit(training)
    train_y = y[trainer.split_.masks["train"]]
    assert trainer.model_.info["params"]["scale_pos_weight"] == pytest.approx((train_y == 0).sum() / train_y.sum())
    p = trainer.test_predictions_["churn_probability"]
    assert p.mean() == pytest.approx(trainer.test_predictions_["label"].mean(), abs=0.03)


def test_predict_proba_follows_scikit_learn(trained, training):
    rows = training.frame.head(20)
    proba = trained.predict_proba(rows)
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(trained.predict(rows))) <= {0, 1}


@pytest.mark.parametrize(("params", "message"), [
    ({"calibration": "beta"}, "'calibration' parameter"),
    ({"class_weight": "heavy"}, "'class_weight' parameter"),
    ({"n_estimators": 0}, "'n_estimators' parameter"),
    ({"device": "tpu"}, "'device' parameter"),
    ({"test_size": 1.5}, "'test_size' parameter"),
])
def test_bad_parameters(training, params, message):
    with pytest.raises(ConfigError, match=message):
        ChurnTrainer(**params).fit(training)


def test_a_slice_without_churners_is_refused():
    X = pd.DataFrame({"x": np.arange(40.0)})
    dates = np.repeat(pd.date_range("2024-01-01", periods=5, freq="MS"), 8)
    y = np.zeros(40)
    with pytest.raises(LabelError, match="train slice has only label"):
        ChurnTrainer().fit(X, y, observation_dates=dates)


@requires_cuda
def test_cuda_device_passes_through(training, trained):
    trainer = ChurnTrainer(device="cuda", baselines=False).fit(training)
    assert trainer.model_.info["params"]["device"] == "cuda"
    assert trainer.evaluation_.loc["model", "roc_auc"] == pytest.approx(trained.evaluation_.loc["model", "roc_auc"],
                                                                         abs=0.02)


# ----------------------------------------------------------------- real data


@pytest.mark.slow
def test_online_retail_model_beats_the_baselines_and_is_calibrated(shared_data):
    data = load(EventSource(shared_data / "online_retail" / "online_retail.parquet", user_id="CustomerID",
                            timestamp="InvoiceDate", value="Quantity * UnitPrice", where="CustomerID IS NOT NULL"))
    trainer = ChurnTrainer().fit(build_dataset(data, InactivityChurn(horizon_days=90), step_days=30))
    evaluation = trainer.evaluation_
    assert set(evaluation.index) == {"model", "recency", "logistic", "bgnbd"}
    for metric in ("roc_auc", "pr_auc"):
        assert evaluation.loc["model", metric] > evaluation.loc["recency", metric]
        assert evaluation.loc["model", metric] > evaluation.loc["bgnbd", metric]
    assert evaluation.loc["model", "ece"] < 0.05
    # the test slice: the latest date, held-out users only (30% of them, by a hash of the id)
    assert len(trainer.split_.dates["test"]) == 1 and trainer.split_.rows()["test"] > 400


@pytest.mark.slow
def test_telco_held_out_auc(shared_data):
    table = LabelledTableSource(shared_data / "telco_ibm" / "WA_Fn-UseC_-Telco-Customer-Churn.csv",
                                label="Churn", id="customerID").load()
    trainer = ChurnTrainer().fit(table)
    assert trainer.split_.rows()["test"] == round(0.2 * 7_043)
    assert trainer.evaluation_.loc["model", "roc_auc"] >= 0.84
    assert "recency" not in trainer.evaluation_.index  # no event history, no recency rule


def test_an_empty_slice_of_held_out_users_says_so(small_product):
    events = pd.read_parquet(small_product["events"])
    first = events.groupby("user_id")["timestamp"].min().sort_values()
    few = events[events["user_id"].isin(first.index[:4])]  # the four earliest users: a long enough history
    training = build_dataset(load(EventSource(few)), InactivityChurn(horizon_days=30, active_window_days=30),
                             step_days=30)
    # 1% of 4 users: none is held out, so the later slices have no rows (the message says why, not "label []")
    with pytest.raises(LabelError, match=r"validation slice is empty: the held-out users \(1% of 4 users"):
        ChurnTrainer(held_out_share=0.01).fit(training)
