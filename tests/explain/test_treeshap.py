"""churnml's fast TreeSHAP engine equals XGBoost's pred_contribs: on random boosters (any depth, missing
values, categorical splits, 1 to 500 trees), on the generator's model and on Online Retail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, example, given, settings, strategies as st

from churnml.explain._treeshap import FastTreeShap, _subset_tables, _weights, matrix_of

TOLERANCE = 1e-5  # pred_contribs comes out in float32
# ... and XGBoost sums it over the trees in float32 too, so a large value carries a float32 rounding error
# relative to its size: 1e-5 is 84 float32 epsilons (a depth-7, 325-tree booster gave 8.866914749 against our
# float64 8.866904600, 1.1e-6 apart relatively; an absolute 1e-5 alone asked 8 digits of a float32 sum).
RELATIVE = 1e-5


def _check(booster, frame, *, rounds=None):
    engine = FastTreeShap.from_booster(booster, rounds=rounds)
    values = engine.shap_values(matrix_of(frame))
    matrix = xgb.DMatrix(frame, enable_categorical=True)
    iterations = (0, rounds) if rounds else (0, 0)
    reference = booster.predict(matrix, pred_contribs=True, iteration_range=iterations)
    np.testing.assert_allclose(values, reference[:, :-1], rtol=RELATIVE, atol=TOLERANCE)
    assert engine.base_value == pytest.approx(float(reference[0, -1]), abs=TOLERANCE)
    margin = booster.predict(matrix, output_margin=True, iteration_range=iterations)
    np.testing.assert_allclose(values.sum(axis=1) + engine.base_value, margin, rtol=RELATIVE, atol=TOLERANCE * 10)
    return engine


def test_subset_tables_by_hand():
    # two path features with cover ratios 0.5 and 0.25; w(0, 2) = w(1, 2) = 1/2
    assert _weights(2).tolist() == [0.5, 0.5]
    g, complement = _subset_tables(np.array([0.5, 0.25]))
    # G({}) = w(0) = 1/2; G({a}) = w(0) z_a + w(1) = 0.25 + 0.5; G({b}) = 0.5 * 0.25 + 0.5
    assert g[:3].tolist() == pytest.approx([0.5, 0.75, 0.625])
    # Z(F \ P): {} -> z_a z_b, {a} -> z_b, {b} -> z_a, {a, b} -> 1
    assert complement.tolist() == pytest.approx([0.125, 0.25, 0.5, 1.0])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 10), trees=st.integers(1, 500), missing=st.floats(0.0, 0.5),
       categorical=st.booleans(), seed=st.integers(0, 2**16))
@example(depth=7, trees=325, missing=0.4351710866403714, categorical=True, seed=500)  # float32 sum of values ~9
def test_random_boosters_equal_pred_contribs(depth, trees, missing, categorical, seed):
    rng = np.random.default_rng(seed)
    n = 300
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(5)})
    frame["count"] = rng.poisson(2, size=n).astype("float64")
    if categorical:
        frame["plan"] = pd.Categorical(rng.choice(["basic", "pro", "team", "enterprise", "trial"], size=n))
    for column in frame.columns:
        holes = rng.random(n) < missing
        frame.loc[holes, column] = np.nan
    signal = frame["x0"].fillna(0) * frame["count"].fillna(1) + frame["x1"].fillna(-1)
    if categorical:
        signal = signal + frame["plan"].isin(["basic", "trial"]).astype(float) * 2
    y = (signal + rng.normal(scale=0.5, size=n) > 0.5).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "tree_method": "hist",
                         "max_cat_to_onehot": 1, "min_child_weight": 0.1, "seed": seed},
                        xgb.DMatrix(frame, y, enable_categorical=True), num_boost_round=trees)
    _check(booster, frame.sample(60, random_state=seed))


def test_first_rounds_only():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    y = (frame["a"] + rng.normal(size=500) > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4}, xgb.DMatrix(frame, y), 40)
    _check(booster, frame, rounds=17)


def test_generator_model_and_the_explainer_engines_agree(small_product):
    from churnml import AccountSource, EventSource, SubscriptionSource, load
    from churnml.contract._definitions import SubscriptionChurn
    from churnml.explain._explainer import ChurnExplainer
    from churnml.features._dataset import build_dataset
    from churnml.features._spec import FeatureBuilder
    from churnml.modeling._model import prepare
    from churnml.modeling._trainer import ChurnTrainer

    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    training = build_dataset(data, SubscriptionChurn(horizon_days=30),
                             builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    model = ChurnTrainer().fit(training).model_
    rows = training.frame.sample(500, random_state=0)
    _check(model.booster, prepare(rows, model.columns), rounds=model._iterations()[1] or None)
    fast, slow = ChurnExplainer(model), ChurnExplainer(model, engine="xgboost")
    assert fast.engine == "fast" and slow.engine == "xgboost"
    a, b = fast.explain(rows), slow.explain(rows)
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=TOLERANCE)
    assert a.base_value == pytest.approx(b.base_value, abs=TOLERANCE)
    assert fast.reasons(rows)["reason_1_feature"].tolist() == slow.reasons(rows)["reason_1_feature"].tolist()


def test_online_retail_model(shared_data):
    from churnml import EventSource, load
    from churnml.contract._definitions import InactivityChurn
    from churnml.features._dataset import build_dataset
    from churnml.modeling._model import prepare
    from churnml.modeling._trainer import ChurnTrainer

    data = load(EventSource(shared_data / "online_retail/online_retail.parquet", user_id="CustomerID",
                            timestamp="InvoiceDate", value="Quantity * UnitPrice", where="CustomerID IS NOT NULL"))
    training = build_dataset(data, InactivityChurn(horizon_days=90), step_days=30)
    model = ChurnTrainer(baselines=False).fit(training).model_
    _check(model.booster, prepare(training.frame.sample(2_000, random_state=0), model.columns),
           rounds=model._iterations()[1] or None)


def test_engine_choice_and_errors():
    from churnml.errors import ConfigError
    from churnml.explain._explainer import ChurnExplainer
    from churnml.modeling._model import ChurnModel, FeatureColumn, IdentityCalibrator

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=200)})
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(frame, (frame["a"] > 0).astype(int)), 5)
    model = ChurnModel(booster=booster, calibrator=IdentityCalibrator(), columns=[FeatureColumn("a")],
                       info={"params": {"device": "cuda"}})
    assert ChurnExplainer(model).engine == "xgboost"  # a GPU model: XGBoost's engine on the GPU
    assert ChurnExplainer(model, engine="fast").engine == "fast"
    with pytest.raises(ConfigError, match="'engine' parameter"):
        ChurnExplainer(model, engine="quick")
    regression = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(frame, frame["a"]), 2)
    with pytest.raises(ConfigError, match="binary logistic"):
        FastTreeShap.from_booster(regression)


@pytest.mark.parametrize("grow", ["depthwise", "lossguide"])
def test_rows_over_several_blocks_and_pruned_trees(grow):
    """The kernel runs rows in blocks of 512: several blocks and a part one give XGBoost's values, and so
    do pruned trees (gamma) and trees grown leaf by leaf (nodes numbered by gain, not by depth)."""
    rng = np.random.default_rng(7)
    n = 1_300
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    frame.loc[rng.random(n) < 0.2, "x2"] = np.nan
    y = (frame["x0"] * frame["x1"].fillna(0) + frame["x3"] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 0 if grow == "lossguide" else 8,
                         "max_leaves": 48 if grow == "lossguide" else 0, "grow_policy": grow, "gamma": 0.5,
                         "tree_method": "hist", "eta": 0.3, "min_child_weight": 0.5, "seed": 3},
                        xgb.DMatrix(frame, y), num_boost_round=60)
    engine = _check(booster, frame)
    # the table's node order is parents first, whatever order XGBoost numbered them in
    seen = np.zeros(len(engine.node_parent), dtype=bool)
    for t in range(len(engine.tree_node_start) - 1):
        nodes = engine.node_order[engine.tree_node_start[t]:engine.tree_node_start[t + 1]]
        assert nodes[0] == engine.tree_node_start[t] and engine.node_parent[nodes[0]] == -1
        for node in nodes:
            assert engine.node_parent[node] == -1 or seen[engine.node_parent[node]]
            seen[node] = True
    assert seen.all()
