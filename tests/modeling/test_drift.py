"""Population stability index: bins fixed at training, counted chunk by chunk at scoring."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from churnml.modeling._drift import DriftCounter, drift_reference, population_stability_index


def test_psi_by_hand():
    # bins 40/60 at training, 60/40 now: (0.6-0.4) ln(0.6/0.4) + (0.4-0.6) ln(0.4/0.6) = 0.4 ln 1.5
    assert population_stability_index([0.4, 0.6], [0.6, 0.4]) == pytest.approx(0.4 * math.log(1.5))
    # an empty bin counts as the 1e-4 floor, not infinity: (1e-4 - 0.5) ln(1e-4/0.5) + (1 - 0.5) ln(1/0.5)
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2)
    assert population_stability_index([0.5, 0.5], [0.0, 1.0]) == pytest.approx(expected)


def test_bins_of_a_zero_heavy_feature_and_its_missing_values():
    # 6 zeros, 1..3, one missing: the deciles collapse to the distinct edges 0, 1, 2, 3 (with repeats dropped)
    train = pd.DataFrame({"count": [0.0, 0, 0, 0, 0, 0, 1, 2, 3, np.nan]})
    reference = drift_reference(train, ["count"])
    entry = reference["features"]["count"]
    assert entry["edges"] == sorted(set(entry["edges"])) and entry["edges"][0] == 0.0
    # bin i holds (edge[i-1], edge[i]]; the last bin is for missing
    assert entry["shares"][0] == pytest.approx(0.6) and entry["shares"][-1] == pytest.approx(0.1)
    assert sum(entry["shares"]) == pytest.approx(1.0)


def test_categories_unseen_levels_count_as_missing():
    train = pd.DataFrame({"plan": pd.Categorical(["basic", "basic", "pro", None], categories=["basic", "pro"])})
    reference = drift_reference(train, ["plan"])
    assert reference["features"]["plan"] == {"levels": ["basic", "pro"], "shares": [0.5, 0.25, 0.25]}
    counter = DriftCounter(reference)
    counter.add(pd.DataFrame({"plan": ["basic", "enterprise", "pro", "pro"]}))
    assert counter.counts["plan"].tolist() == [1, 2, 1]
    table = counter.table()
    assert table.loc[0, "scored_missing_share"] == pytest.approx(0.25)
    assert table.loc[0, "psi"] == pytest.approx(population_stability_index([0.5, 0.25, 0.25], [0.25, 0.5, 0.25]))


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=1, max_size=200),
       cut=st.integers(0, 200))
def test_chunked_counts_equal_one_pass_and_identical_data_has_zero_psi(values, cut):
    frame = pd.DataFrame({"x": pd.Series(values, dtype="float64")})
    reference = drift_reference(frame, ["x"])
    whole, chunked = DriftCounter(reference), DriftCounter(reference)
    whole.add(frame)
    chunked.add(frame.iloc[:cut])
    chunked.add(frame.iloc[cut:])
    assert whole.counts["x"].tolist() == chunked.counts["x"].tolist()
    assert whole.counts["x"].sum() == len(frame)
    assert whole.table()["psi"].iloc[0] == pytest.approx(0.0, abs=1e-12)


def test_features_that_grow_with_age_are_reported_but_not_warned_about(tmp_path):
    import warnings
    from pathlib import Path

    from churnml.scoring._scoring import DriftWarning, ScoringResult, _warn_drift

    drift = pd.DataFrame({"feature": ["tenure_days", "lifetime_events", "count_events_30d", "activity_rate"],
                          "psi": [0.9, 0.6, 0.3, 0.1], "training_missing_share": 0.0, "scored_missing_share": 0.0})
    result = ScoringResult(accounts=10, as_of=None, tier_counts={}, thresholds={}, explained=0, revenue_at_risk=None,
                           drift=drift, drift_threshold=0.25, path=Path(tmp_path / "s.parquet"))
    assert result.drifted == ["count_events_30d"] and result.aged == ["tenure_days", "lifetime_events"]
    with pytest.warns(DriftWarning, match=r"1 feature\(s\) drifted .*count_events_30d.*2 feature\(s\) that grow "
                                          r"with account age, such as tenure_days"):
        _warn_drift(result)
    aged_only = ScoringResult(**{**result.__dict__, "drift": drift.iloc[[0, 1, 3]]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_drift(aged_only)  # age alone raises no warning
    assert aged_only.drifted == [] and aged_only.aged == ["tenure_days", "lifetime_events"]


def test_scoring_right_after_training_on_the_same_data_does_not_warn(small_product, tmp_path):
    import warnings

    from churnml import AccountSource, EventSource, SubscriptionSource, load
    from churnml.contract._definitions import SubscriptionChurn
    from churnml.features._dataset import build_dataset
    from churnml.features._spec import FeatureBuilder
    from churnml.modeling._trainer import ChurnTrainer
    from churnml.scoring._scoring import DriftWarning, write_scores

    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    training = build_dataset(data, SubscriptionChurn(horizon_days=30),
                             builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    model = ChurnTrainer(n_estimators=100, baselines=False).fit(training).model_
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = write_scores(model, data, tmp_path / "scores.parquet", reasons="none")
    assert not [w for w in caught if issubclass(w.category, DriftWarning)], [str(w.message) for w in caught]
    assert result.accounts > 1_000 and len(result.drift) == len(model.feature_names)


def test_counts_from_the_model_matrix_equal_the_frames():
    """Scoring counts the model's input matrix (categories as codes); the bins must be the frame's."""
    from churnml.modeling._model import FeatureColumn, input_matrix, prepare

    train = pd.DataFrame({"days": [1.0, 2, 3, 4, 5, 6, 7, 8, np.nan, 10],
                          "plan": pd.Categorical(["basic", "pro"] * 4 + [None, "pro"], categories=["basic", "pro"]),
                          "country": pd.Categorical(["US", "UK"] * 5, categories=["US", "UK"])})
    reference = drift_reference(train, ["days", "plan", "country"])
    # the model knows one more country than the drift reference: those rows count as missing there
    columns = [FeatureColumn("days"), FeatureColumn("plan", ("basic", "pro")), FeatureColumn("country", ("US", "UK", "DE"))]
    scored = pd.DataFrame({"days": [0.5, 3.0, np.nan, 11.0, 4.0],
                           "plan": ["pro", None, "basic", "enterprise", "pro"],
                           "country": ["DE", "US", "UK", "UK", None]})
    by_frame, by_matrix = DriftCounter(reference), DriftCounter(reference)
    prepared = prepare(scored, columns)
    by_frame.add(prepared)
    by_matrix.add_matrix(input_matrix(prepared, columns, len(prepared)), columns)
    for name in ("days", "plan", "country"):
        assert by_matrix.counts[name].tolist() == by_frame.counts[name].tolist(), name
    assert by_matrix.counts["country"].tolist() == [1, 2, 2]  # DE and the missing one in the last bin
    assert by_matrix.rows == by_frame.rows == 5
