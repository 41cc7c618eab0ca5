"""Features as of a date: exact values on tiny logs, the point-in-time rule, and the pandas reference."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.contract._definitions import InactivityChurn, SubscriptionChurn
from churnml.errors import ConfigError
from churnml.features._dataset import build_dataset
from churnml.features._spec import FeatureBuilder, FeatureSpec, UnseenEventTypeWarning

from reference import assert_same, reference

T = dt.date(2024, 3, 1)


def events_frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "value"]).astype(
        {"timestamp": "datetime64[us]", "value": "float64"})


# Two users, a handful of events; every value below can be checked by eye.
TINY = events_frame([
    (1, "2024-01-10 09:00", "login", None),      # 51 days before T
    (1, "2024-02-20 12:00", "login", None),      # 9.5 days before T
    (1, "2024-02-25 18:00", "purchase", 30.0),   # 4.25 days before T
    (1, "2024-02-25 19:00", "purchase", 10.0),
    (1, "2024-03-01 00:00", "login", None),      # at T: must not count
    (1, "2024-03-15 08:00", "login", None),      # in the label window
    (2, "2024-02-29 23:00", "login", None),      # 1 hour before T
])


def fitted(data, **params):
    params.setdefault("windows", (7, 30))
    params.setdefault("trend_windows", (7,))
    return FeatureBuilder(min_type_share=0.0, **params).fit(data)


def test_tiny_log_features_by_hand():
    data = load(EventSource(TINY))
    frame = fitted(data).transform(data, [T]).set_index("user_id")
    one, two = frame.loc[1], frame.loc[2]
    assert one["days_since_last_event"] == pytest.approx(4 + 5 / 24)  # 2024-02-25 19:00
    assert one["days_since_last_login"] == pytest.approx(9.5)         # 2024-02-20 12:00
    assert one["days_since_last_purchase"] == pytest.approx(4 + 5 / 24)
    assert one["count_events_7d"] == 2 and one["count_purchase_7d"] == 2 and one["count_login_7d"] == 0
    assert one["count_events_30d"] == 3 and one["count_login_30d"] == 1
    assert one["active_days_30d"] == 2                               # Feb 20 and Feb 25
    assert one["value_sum_30d"] == 40.0 and one["value_mean_30d"] == 20.0
    assert one["distinct_types_30d"] == 2 and one["distinct_types_7d"] == 1
    assert one["trend_count_7d"] == pytest.approx((2 - 1) / 1)       # Feb 23-29: 2; Feb 16-22: 1
    assert one["tenure_days"] == 51                                 # first event Jan 10
    assert one["mean_gap_days"] == 5.0  # the 30-day lookback holds Feb 20 and Feb 25
    assert one["overdue_ratio"] == pytest.approx((4 + 5 / 24) / 5)
    assert two["days_since_last_event"] == pytest.approx(1 / 24)
    assert np.isnan(two["days_since_last_purchase"])                  # never purchased
    assert np.isnan(two["value_mean_30d"]) and two["value_sum_30d"] == 0
    assert np.isnan(two["mean_gap_days"])                            # a single active day
    assert np.isnan(two["trend_count_7d"])                           # nothing the week before


def test_tiny_log_labels_by_hand():
    data = load(EventSource(TINY))
    # The log ends Mar 15, so Mar 1 can carry a label of at most 14 days.
    training = build_dataset(data, InactivityChurn(horizon_days=14, active_window_days=30),
                             builder=FeatureBuilder(windows=(7, 30), trend_windows=(7,)),
                             observation_dates=[T])
    labels = training.frame.set_index("user_id")["label"]
    assert labels.to_dict() == {1: 0, 2: 1}  # user 1 comes back at Mar 1 00:00; user 2 never


def test_lookback_uses_the_longest_window_and_trend():
    spec = FeatureBuilder(windows=(7, 30), trend_windows=(30,)).fit(load(EventSource(TINY))).spec_
    assert spec.lookback_days == 60


def test_feature_names_read_as_words_and_carry_metadata():
    builder = fitted(load(EventSource(TINY)))
    names = list(builder.get_feature_names_out())
    assert names[:4] == ["days_since_last_event", "days_since_last_login", "days_since_last_purchase",
                         "days_since_last_other"]
    info = builder.feature_info_["count_login_30d"]
    assert (info.family, info.unit, info.event_type, info.window_days) == ("frequency", "events", "login", 30)
    assert "{value}" in info.description


def test_spec_round_trips_through_json():
    spec = fitted(load(EventSource(TINY)), activation_events=("purchase",)).spec_
    assert FeatureSpec.from_json(spec.to_json()) == spec


def test_rare_types_are_grouped_as_other_and_unseen_types_warn():
    rows = [(1, f"2024-02-{d:02d}", "login", None) for d in range(1, 29)] + [(1, "2024-02-10", "rare", None)]
    data = load(EventSource(events_frame(rows)))
    builder = FeatureBuilder(windows=(30,), trend_windows=(), min_type_share=0.05).fit(data)
    assert builder.spec_.event_types == {"login": "login"}
    frame = builder.transform(data, [T])
    assert frame["count_other_30d"].iloc[0] == 1
    newer = load(EventSource(events_frame(rows + [(1, "2024-02-11", "brand_new", None)])))
    with pytest.warns(UnseenEventTypeWarning, match=r"'brand_new'"):
        frame = builder.transform(newer, [T])
    assert frame["count_other_30d"].iloc[0] == 2


def test_type_names_are_slugs():
    rows = [(1, "2024-02-10", "Feature Run Clicked", None), (1, "2024-02-11", "feature-run-clicked", None)]
    builder = fitted(load(EventSource(events_frame(rows))))
    assert set(builder.spec_.event_types.values()) == {"feature_run_clicked", "feature_run_clicked_2"}


def test_activation_within_days_of_signup():
    accounts = pd.DataFrame({"user_id": [1, 2], "signup_date": pd.to_datetime(["2024-01-05", "2024-01-01"])})
    rows = [(1, "2024-01-08", "core", None), (1, "2024-02-25", "login", None),
            (2, "2024-01-20", "core", None), (2, "2024-02-25", "login", None)]
    data = load(EventSource(events_frame(rows)), accounts=AccountSource(accounts))
    frame = fitted(data, activation_events=("core",), activation_days=14).transform(data, [T]).set_index("user_id")
    assert frame.loc[1, "activated"] == 1 and frame.loc[1, "days_to_activation"] == 3
    assert frame.loc[2, "activated"] == 0 and np.isnan(frame.loc[2, "days_to_activation"])  # day 19 is too late
    assert frame.loc[1, "tenure_days"] == 56  # from signup, not from the first event


def test_subscription_churn_with_gap_tolerance_and_reasons():
    subs = pd.DataFrame({
        "user_id": [1, 1, 2, 3],
        "start": pd.to_datetime(["2024-01-01", "2024-03-10", "2024-01-01", "2024-01-01"]),
        "end": pd.to_datetime(["2024-03-05", None, "2024-03-20", None]),
        "mrr": [10.0, 20.0, 30.0, 40.0],
        "end_reason": ["cancelled", None, "payment_failed", None],
        "plan": ["basic", "pro", "pro", "pro"],
    })
    events = events_frame([(u, "2024-02-20", "login", None) for u in (1, 2, 3)] + [(3, "2024-05-01", "login", None)])
    data = load(EventSource(events), SubscriptionSource(subs))
    strict = build_dataset(data, SubscriptionChurn(horizon_days=30), observation_dates=[T],
                           builder=FeatureBuilder(windows=(30,), trend_windows=()))
    labels = strict.frame.set_index("user_id")[["label", "churn_type"]]
    # User 1's subscription ends Mar 5 and restarts Mar 10: churn without tolerance, not with 7 days.
    assert labels.loc[1, "label"] == 1 and labels.loc[1, "churn_type"] == "voluntary"
    assert labels.loc[2, "label"] == 1 and labels.loc[2, "churn_type"] == "involuntary"
    assert labels.loc[3, "label"] == 0 and pd.isna(labels.loc[3, "churn_type"])
    tolerant = build_dataset(data, SubscriptionChurn(horizon_days=30, gap_tolerance_days=7), observation_dates=[T],
                             builder=FeatureBuilder(windows=(30,), trend_windows=()))
    assert tolerant.frame.set_index("user_id").loc[1, "label"] == 0
    features = strict.frame.set_index("user_id")
    assert features.loc[1, "plan"] == "basic" and features.loc[1, "mrr"] == 10.0
    assert features.loc[1, "subscription_tenure_days"] == 60


def test_right_censored_dates_are_refused_and_the_grid_stops_before_them():
    data = load(EventSource(TINY))
    with pytest.raises(ConfigError, match=r"right-censored, e.g. '2024-03-01'.*last labelled date is 2024-02-14"):
        build_dataset(data, InactivityChurn(horizon_days=30, active_window_days=30), observation_dates=[T],
                      builder=FeatureBuilder(windows=(7,), trend_windows=()))
    with pytest.raises(ConfigError, match=r"too short"):
        build_dataset(data, InactivityChurn(horizon_days=60))


@pytest.mark.parametrize("params, message", [
    ({"windows": (0, 30)}, r"'windows' parameter of FeatureBuilder must be a tuple of positive ints. Got \(0, 30\)"),
    ({"min_type_share": 1.5}, r"'min_type_share' parameter"),
    ({"engine": "polars"}, r"'engine' parameter of FeatureBuilder must be 'auto', 'duckdb' or 'spark'"),
    ({"activation_events": ("nope",)}, r"activation_events \['nope'\] never occur"),
])
def test_bad_parameters(params, message):
    with pytest.raises(ConfigError, match=message):
        FeatureBuilder(**params).fit(load(EventSource(TINY)))


def test_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        FeatureBuilder().transform(load(EventSource(TINY)), [T])


# ----------------------------------------------------------------- properties

user_ids = st.integers(1, 4)
offsets = st.integers(-80 * 24, 0).map(lambda h: dt.timedelta(hours=h))  # within 80 days before T
later = st.integers(0, 100 * 24).map(lambda h: dt.timedelta(hours=h))   # at or after T
types = st.sampled_from(["login", "purchase", "support"])
values = st.one_of(st.none(), st.floats(0, 100, allow_nan=False))


def _rows(draws, base):
    return [(u, base + d, k, v) for u, d, k, v in draws]


BASE = dt.datetime(2024, 3, 1)
HISTORY = st.lists(st.tuples(user_ids, offsets, types, values), min_size=1, max_size=25).map(
    lambda draws: [(u, BASE + d - dt.timedelta(microseconds=1), k, v) for u, d, k, v in draws])
FUTURE = st.lists(st.tuples(user_ids, later, st.sampled_from(["login", "purchase", "support", "unseen"]), values),
                  max_size=15)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HISTORY, FUTURE)
def test_events_at_or_after_t_change_no_feature_at_t(history, future):
    past = load(EventSource(events_frame(history)))
    builder = FeatureBuilder(windows=(7, 30), trend_windows=(7,), min_type_share=0.0).fit(past)
    before = builder.transform(past, [T])
    combined = load(EventSource(events_frame(history + _rows(future, BASE))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenEventTypeWarning)
        after = builder.transform(combined, [T])
    pd.testing.assert_frame_equal(before, after)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HISTORY, FUTURE, st.integers(0, 10**6))
def test_labels_depend_only_on_the_label_window(history, future, seed):
    definition = InactivityChurn(horizon_days=20, active_window_days=30, lead_time_days=5)
    builder = FeatureBuilder(windows=(30,), trend_windows=(), min_type_share=0.0)
    start, stop = BASE + dt.timedelta(days=5), BASE + dt.timedelta(days=25)
    rows = history + _rows(future, BASE)
    data = load(EventSource(events_frame(rows + [(99, BASE + dt.timedelta(days=200), "login", None)])))
    labels = build_dataset(data, definition, builder=builder, observation_dates=[T]).frame.set_index("user_id")["label"]
    for user, label in labels.items():
        in_window = [r for r in rows if r[0] == user and start <= r[1] < stop]
        assert label == int(not in_window)
    # Moving events around outside the window (but after t) leaves every label as it was.
    rng = np.random.default_rng(seed)
    moved = [(u, BASE + dt.timedelta(days=int(rng.choice([0, 1, 2, 3, 4, 26, 40]))), k, v)
             if not (start <= ts < stop) and ts >= BASE else (u, ts, k, v) for u, ts, k, v in rows]
    data = load(EventSource(events_frame(moved + [(99, BASE + dt.timedelta(days=200), "login", None)])))
    relabelled = build_dataset(data, definition, builder=FeatureBuilder(windows=(30,), trend_windows=(), min_type_share=0.0),
                               observation_dates=[T]).frame.set_index("user_id")["label"]
    pd.testing.assert_series_equal(labels, relabelled)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HISTORY, st.randoms(use_true_random=False))
def test_shuffling_rows_changes_nothing(history, random):
    shuffled = list(history)
    random.shuffle(shuffled)
    a = load(EventSource(events_frame(history)))
    b = load(EventSource(events_frame(shuffled)))
    builder = FeatureBuilder(windows=(7, 30), trend_windows=(7,), min_type_share=0.0).fit(a)
    pd.testing.assert_frame_equal(builder.transform(a, [T]), builder.transform(b, [T]))


# ----------------------------------------------------------------- against the pandas reference


@pytest.fixture(scope="module")
def product(small_product):
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    frames = {name: pd.read_parquet(path) for name, path in small_product.items()}
    frames["accounts"]["signup_date"] = pd.to_datetime(frames["accounts"]["signup_date"])
    return data, frames


def test_a_fitted_builder_pickles_and_computes_the_same_after(product):
    # Each FeatureInfo carries its SQL as a closure; a pickle keeps the meaning and leaves the code out, and the
    # unpickled builder computes from its spec's features afresh.
    import pickle

    data, _ = product
    day = dt.date(2024, 8, 1)
    builder = FeatureBuilder(activation_events=("core_action",)).fit(data, observation_dates=[day])
    back = pickle.loads(pickle.dumps(builder))
    assert back.spec_ == builder.spec_ and back.feature_info_ == builder.feature_info_
    assert all(info.sql is None for info in back.feature_info_.values())
    assert all(info.sql is not None for info in back.spec_.features())
    pd.testing.assert_frame_equal(back.transform(data, [day]), builder.transform(data, [day]))


@pytest.mark.slow
@pytest.mark.parametrize("day", [dt.date(2011, 4, 1), dt.date(2011, 7, 1), dt.date(2011, 9, 1)])
def test_engine_matches_reference_on_online_retail(shared_data, day):
    path = shared_data / "online_retail/online_retail.parquet"
    data = load(EventSource(path, user_id="CustomerID", timestamp="InvoiceDate", value="Quantity * UnitPrice",
                            event_type="CASE WHEN InvoiceNo LIKE 'C%' THEN 'cancellation' ELSE 'purchase' END",
                            where="CustomerID IS NOT NULL"))
    definition = InactivityChurn(horizon_days=90, active_window_days=90)
    builder = FeatureBuilder(min_type_share=0.0).fit(data, observation_dates=[day])
    engine = build_dataset(data, definition, builder=builder, observation_dates=[day]).frame
    events = data.events.to_pandas()
    expected = reference(events, day, builder.spec_, definition)
    assert len(engine) > 1_000
    assert_same(engine, expected)


@pytest.mark.parametrize("dates", [
    # 17 days apart: events inform two dates, so the engine sums them per segment first
    [dt.date(2024, 5, 1), dt.date(2024, 7, 15), dt.date(2024, 8, 1), dt.date(2024, 11, 1)],
    # over a reach apart: each event informs one date, and the engine reads the events directly
    [dt.date(2024, 3, 1), dt.date(2024, 7, 1), dt.date(2024, 11, 1)],
], ids=["segments", "direct"])
def test_dates_computed_together_equal_dates_computed_one_by_one(product, dates):
    data, _ = product
    builder = FeatureBuilder(activation_events=("core_action",), activation_days=7).fit(data, observation_dates=dates)
    together = builder.transform(data, dates)
    one_by_one = pd.concat([builder.transform(data, [d]) for d in dates], ignore_index=True)
    pd.testing.assert_frame_equal(together, one_by_one)
    # With labels the reach grows by the label window (30 days here): the same two paths, labels included.
    definition = InactivityChurn(horizon_days=30, active_window_days=30)
    labelled = build_dataset(data, definition, builder=builder, observation_dates=dates).frame
    each = pd.concat([build_dataset(data, definition, builder=builder, observation_dates=[d]).frame for d in dates],
                     ignore_index=True)
    pd.testing.assert_frame_equal(labelled, each)
