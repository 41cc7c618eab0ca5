"""Whole-history and BG/NBD features: hand-worked values, the point-in-time rule, the fit they come from."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml import EventSource, InactivityChurn, SubscriptionChurn, load
from churnml.btyd import FORMAT, FORMAT_VERSION, BetaGeoFitter
from churnml.engines._lifetime import MIN_CUSTOMERS, PARAMS, bgnbd_features, fit_bgnbd_by_date
from churnml.features._spec import FeatureBuilder, UnseenEventTypeWarning

T = dt.date(2024, 3, 1)


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "value"]).astype(
        {"timestamp": "datetime64[us]", "value": "float64"})


def test_lifetime_features_by_hand():
    # user 1: active on Jan 1 (two events), Jan 11 and Feb 20; user 2: Feb 25 only; an event on T is not counted.
    rows = [(1, "2024-01-01 09:00", "login", 5.0), (1, "2024-01-01 18:00", "purchase", 15.0),
            (1, "2024-01-11 10:00", "login", None), (1, "2024-02-20 08:00", "purchase", 40.0),
            (2, "2024-02-25 12:00", "login", 1.0), (1, "2024-03-01 00:00", "purchase", 1000.0)]
    data = load(EventSource(frame(rows)))
    features = FeatureBuilder(windows=(30,), trend_windows=(), min_type_share=0.0, bgnbd=False).fit(data).transform(
        data, [T], definition=InactivityChurn(active_window_days=30)).set_index("user_id")
    one, two = features.loc[1], features.loc[2]
    assert one["lifetime_events"] == 4 and one["lifetime_login_events"] == 2 and one["lifetime_purchase_events"] == 2
    assert one["lifetime_active_days"] == 3
    assert one["lifetime_value_sum"] == 60 and one["lifetime_value_mean"] == pytest.approx(20)  # 60 over 3 values
    assert one["activity_rate"] == pytest.approx(3 / 60)  # Jan 1 .. Mar 1 is 60 days
    assert one["active_span_days"] == 50  # Jan 1 .. Feb 20
    assert one["first_repeat_days"] == 10  # Jan 1 .. Jan 11
    assert two["lifetime_active_days"] == 1 and two["active_span_days"] == 0
    assert two["activity_rate"] == pytest.approx(1 / 5)
    assert np.isnan(two["first_repeat_days"])  # never came back (yet)
    assert "p_alive" not in features


def test_active_days_and_first_repeat_across_64_day_words_and_before_1970():
    # The engine counts whole-history days as bits of 64-day words (from 1970-01-01): days on
    # either side of a word edge, a first word with one day, and days before 1970 (negative words).
    edge = dt.date(1970, 1, 1) + dt.timedelta(days=64 * 307)  # a word's first day, 2023-10-18
    day = lambda d: f"{d:%Y-%m-%d} 12:00"  # noqa: E731
    rows = [(1, day(edge - dt.timedelta(days=1)), "login", 1.0), (1, day(edge), "login", 1.0),
            (1, day(edge), "login", 2.0), (1, day(edge + dt.timedelta(days=70)), "login", 1.0),
            (2, day(edge - dt.timedelta(days=64)), "login", 1.0), (2, day(edge + dt.timedelta(days=63)), "login", 1.0),
            (3, "1969-12-31 08:00", "login", 1.0), (3, "1969-11-01 08:00", "login", 1.0),
            (3, day(edge + dt.timedelta(days=80)), "login", 1.0), (4, day(edge + dt.timedelta(days=90)), "login", 1.0)]
    data = load(EventSource(frame(rows)))
    dates = [edge + dt.timedelta(days=k) for k in (1, 64, 100)]
    out = FeatureBuilder(windows=(30,), trend_windows=(), min_type_share=0.0, bgnbd=False).fit(data).transform(
        data, dates, definition=InactivityChurn(active_window_days=365 * 60)).set_index(["observation_date", "user_id"])
    last = out.xs(pd.Timestamp(dates[-1]))
    assert last.loc[1, "lifetime_active_days"] == 3 and last.loc[1, "first_repeat_days"] == 1
    assert last.loc[2, "lifetime_active_days"] == 2 and last.loc[2, "first_repeat_days"] == 127
    assert last.loc[3, "lifetime_active_days"] == 3 and last.loc[3, "first_repeat_days"] == 60  # Nov 1 .. Dec 31
    assert last.loc[4, "lifetime_active_days"] == 1 and np.isnan(last.loc[4, "first_repeat_days"])
    first = out.xs(pd.Timestamp(dates[0]))  # the second day of user 1 is before it; user 2's is not
    assert first.loc[1, "lifetime_active_days"] == 2 and first.loc[1, "first_repeat_days"] == 1
    assert first.loc[2, "lifetime_active_days"] == 1 and np.isnan(first.loc[2, "first_repeat_days"])


def _repeat_log(n_users: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        start = dt.datetime(2023, 10, 1) + dt.timedelta(days=int(rng.integers(0, 100)))
        for k in range(int(rng.integers(1, 8))):
            rows.append((user, start + dt.timedelta(days=int(rng.integers(0, 140)) * (k > 0), hours=10), "visit", 1.0))
    return frame(rows)


def test_bgnbd_features_are_the_fit_on_every_users_history_before_the_date():
    events = _repeat_log(300, seed=1)
    data = load(EventSource(events))
    features = FeatureBuilder(windows=(30,), trend_windows=(), min_type_share=0.0).fit(data).transform(
        data, [T], definition=InactivityChurn(horizon_days=45, active_window_days=30)).set_index("user_id")
    # By hand: every user with an event before T, not only the eligible ones.
    past = events[events["timestamp"] < pd.Timestamp(T)].assign(day=lambda f: f["timestamp"].dt.normalize())
    by_user = past.groupby("user_id")["day"]
    x = by_user.nunique() - 1.0
    t_x = (by_user.max() - by_user.min()).dt.days.astype(float)
    age = (pd.Timestamp(T) - by_user.min()).dt.days.astype(float)
    model = BetaGeoFitter(penalizer=1e-6).fit(x, t_x, age)
    assert features.index.isin(x.index).all() and len(features) < len(x)  # the fit saw more users than are scored
    users = features.index
    np.testing.assert_allclose(features["p_alive"], model.p_alive(x[users], t_x[users], age[users]), rtol=1e-6)
    # the spec was fitted without a definition: BG/NBD predicts InactivityChurn()'s 90-day horizon
    np.testing.assert_allclose(features["expected_active_days_90d"],
                               model.expected_purchases(90, x[users], t_x[users], age[users]), rtol=1e-6)
    assert features["p_alive"].between(0, 1).all() and (features["expected_active_days_90d"] >= 0).all()


def test_bgnbd_horizon_follows_the_definition_and_subscription_churn_has_none(small_product):
    from churnml import SubscriptionSource

    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]))
    inactivity = FeatureBuilder().fit(data, definition=InactivityChurn(horizon_days=30))
    assert "expected_active_days_30d" in inactivity.feature_names_out_
    subscription = FeatureBuilder().fit(data, definition=SubscriptionChurn(horizon_days=30))
    assert "p_alive" not in subscription.feature_names_out_
    forced = FeatureBuilder(bgnbd=True).fit(data, definition=SubscriptionChurn(horizon_days=30))
    assert "expected_active_days_30d" in forced.feature_names_out_


def test_each_row_gets_the_bgnbd_of_its_own_dates_parameters():
    """Rows of several dates, interleaved, one date without a fit and a row with a missing triple: each row's
    figures are those of the model with its own date's four parameters."""
    rng = np.random.default_rng(3)
    fits = np.array([[0.3, 5.0, 0.5, 2.0], [0.3, 5.0, 0.6, 2.0], [0.4, 7.0, 0.5, 2.0], [np.nan] * 4])
    params = fits[rng.integers(0, len(fits), 500)]
    x = rng.integers(0, 20, 500).astype(float)
    t_x = x * rng.uniform(1, 3, 500)
    T = t_x + rng.integers(1, 60, 500)
    x[7] = np.nan
    p_alive, expected = bgnbd_features(x, t_x, T, params, 30)
    for values in fits[:3]:
        rows = (params == values).all(axis=1) & ~np.isnan(x)
        model = BetaGeoFitter.from_dict({"format": FORMAT, "format_version": FORMAT_VERSION,
                                         "params": dict(zip(PARAMS, map(float, values)))})
        np.testing.assert_allclose(p_alive[rows], model.p_alive(x[rows], t_x[rows], T[rows]), rtol=1e-12)
        np.testing.assert_allclose(expected[rows], model.expected_purchases(30, x[rows], t_x[rows], T[rows]),
                                   rtol=1e-12)
    unfitted = np.isnan(params[:, 0]) | np.isnan(x)
    assert np.isnan(p_alive[unfitted]).all() and np.isnan(expected[unfitted]).all()
    assert not np.isnan(p_alive[~unfitted]).any()


def test_too_few_customers_give_no_fit():
    grouped = pd.DataFrame({"observation_date": [T] * 2, "x": [0.0, 2.0], "t_x": [0.0, 5.0], "T": [9.0, 9.0],
                            "n": [MIN_CUSTOMERS - 5, 4]})
    assert fit_bgnbd_by_date(grouped) == {T: None}
    enough = grouped.assign(n=[MIN_CUSTOMERS, 10])
    params = fit_bgnbd_by_date(enough)[T]
    assert params is not None and set(params) == {"r", "alpha", "a", "b"}


def test_older_spec_without_the_new_fields_still_loads():
    import json

    from churnml.features._spec import FeatureSpec

    spec = FeatureBuilder().fit(load(EventSource(_repeat_log(30, 2)))).spec_
    raw = json.loads(spec.to_json())
    for key in ("lifetime", "bgnbd_horizon_days"):
        raw.pop(key)
    old = FeatureSpec.from_json(json.dumps(raw))
    assert not old.lifetime and old.bgnbd_horizon_days is None
    assert not any(f.family in ("lifetime", "bgnbd") for f in old.features())
    raw["not_a_field"] = 1
    with pytest.raises(ValueError, match="fields this version does not know"):
        FeatureSpec.from_json(json.dumps(raw))


# ----------------------------------------------------------------- the point-in-time rule

BASE = dt.datetime(2024, 3, 1)
users = st.integers(1, 40)
before = st.integers(-120 * 24, -1).map(lambda h: dt.timedelta(hours=h))
after = st.integers(0, 100 * 24).map(lambda h: dt.timedelta(hours=h))
kinds = st.sampled_from(["visit", "purchase"])
amounts = st.one_of(st.none(), st.floats(-50, 100, allow_nan=False))
# Enough users that BG/NBD is fitted (at least MIN_CUSTOMERS of them, some coming back).
HISTORY = st.lists(st.tuples(users, before, kinds, amounts), min_size=45, max_size=90).filter(
    lambda rows: len({u for u, *_ in rows}) >= MIN_CUSTOMERS)
FUTURE = st.lists(st.tuples(users, after, st.sampled_from(["visit", "purchase", "unseen"]), amounts),
                  min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(HISTORY, FUTURE)
def test_events_at_or_after_t_change_no_lifetime_or_bgnbd_feature(history, future):
    past_rows = [(u, BASE + d, k, v) for u, d, k, v in history]
    past = load(EventSource(frame(past_rows)))
    builder = FeatureBuilder(windows=(30,), trend_windows=(), min_type_share=0.0).fit(past)
    definition = InactivityChurn(horizon_days=30, active_window_days=120)
    at_t = builder.transform(past, [BASE.date()], definition=definition)
    combined = load(EventSource(frame(past_rows + [(u, BASE + d, k, v) for u, d, k, v in future])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenEventTypeWarning)
        again = builder.transform(combined, [BASE.date()], definition=definition)
    pd.testing.assert_frame_equal(at_t, again)
    lifetime = [c for c in at_t.columns if c.startswith(("lifetime_", "activity_rate", "active_span", "first_repeat"))]
    assert len(lifetime) >= 7 and at_t["p_alive"].notna().any()
