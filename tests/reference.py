"""A pandas reference for the features and labels: one date at a time, plainly written.

Every feature is computed the obvious way from the events before ``t`` with
pandas group-bys, so the DuckDB engine can be checked against it here and
measured against it in ``bench/features.py``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from churnml.contract._definitions import InactivityChurn, SubscriptionChurn
from churnml.features._spec import FeatureSpec

DAY = pd.Timedelta(days=1)


def type_names(events: pd.DataFrame, spec: FeatureSpec) -> pd.Series:
    if "event_type" not in events or not spec.type_names:
        return pd.Series(None, index=events.index, dtype=object)
    kinds = events["event_type"].astype(object)
    mapped = kinds.map(spec.event_types)
    return mapped.where(kinds.isna() | mapped.notna(), "other")


def islands(subscriptions: pd.DataFrame, gap_days: int) -> pd.DataFrame:
    """Coverages: a user's subscriptions merged when the next starts within ``gap_days`` of the reach so far."""
    rows = []
    gap = pd.Timedelta(days=gap_days)
    subs = subscriptions.sort_values(["user_id", "start"])
    stops = subs["end"].astype(object).where(subs["end"].notna(), pd.Timestamp.max)
    reasons = subs["end_reason"] if "end_reason" in subs else pd.Series(None, index=subs.index)
    current = None
    for user, start, stop, reason in zip(subs["user_id"], subs["start"], stops, reasons):
        if current is not None and user == current[0] and start <= current[2] + gap:
            if stop >= current[2]:
                current[2], current[3] = stop, reason
            continue
        if current is not None:
            rows.append(current)
        current = [user, start, stop, reason]
    if current is not None:
        rows.append(current)
    return pd.DataFrame(rows, columns=["user_id", "cover_start", "cover_stop", "end_reason"])


def _running(cover: pd.DataFrame, T: pd.Timestamp) -> pd.DataFrame:
    return cover[(cover["cover_start"] < T) & (cover["cover_stop"] > T)].set_index("user_id")


def _current(subs: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    on = subs[(subs["start"] < at) & (subs["end"].isna() | (subs["end"] > at))]
    return on.sort_values("start").groupby("user_id").last()


def reference(events: pd.DataFrame, t: dt.date, spec: FeatureSpec, definition=None, *,
              accounts: pd.DataFrame | None = None, subscriptions: pd.DataFrame | None = None,
              labels: bool = True) -> pd.DataFrame:
    definition = definition or InactivityChurn()
    T = pd.Timestamp(t)
    L = spec.lookback_days
    events = events.assign(type_name=type_names(events, spec), day=events["timestamp"].dt.normalize())
    past = events[events["timestamp"] < T]

    # Who is eligible at T.
    if isinstance(definition, InactivityChurn):
        active = past[past["timestamp"] >= T - definition.active_window_days * DAY]
        users = pd.Index(active["user_id"].unique())
        if accounts is not None and "signup_date" in accounts:
            late = accounts.loc[pd.to_datetime(accounts["signup_date"]) >= T, "user_id"]
            users = users.difference(late)
    else:
        users = _running(islands(subscriptions, definition.gap_tolerance_days), T).index
    users = users.sort_values()
    out = pd.DataFrame(index=users)
    out.index.name = "user_id"

    def per_user(series: pd.Series, fill=np.nan) -> pd.Series:
        return series.reindex(users, fill_value=fill) if fill is not np.nan else series.reindex(users)

    def per_type(frame: pd.DataFrame, how: str, fill=np.nan) -> pd.DataFrame:
        grouped = getattr(frame.groupby(["user_id", "type_name"])["timestamp"], how)().unstack()
        return grouped.reindex(index=users, columns=spec.type_names).fillna(fill) if fill is not np.nan else \
            grouped.reindex(index=users, columns=spec.type_names)

    by_user = past.groupby("user_id")
    out["days_since_last_event"] = (T - per_user(by_user["timestamp"].max())) / DAY
    last_by_type = per_type(past, "max")
    for name in spec.type_names:
        out[f"days_since_last_{name}"] = (T - last_by_type[name]) / DAY
    for w in spec.windows:
        recent = past[past["timestamp"] >= T - w * DAY]
        grouped = recent.groupby("user_id")
        out[f"count_events_{w}d"] = per_user(grouped.size(), 0)
        counts = per_type(recent, "size", 0)
        for name in spec.type_names:
            out[f"count_{name}_{w}d"] = counts[name]
        out[f"active_days_{w}d"] = per_user(grouped["day"].nunique(), 0)
        if spec.has_value:
            out[f"value_sum_{w}d"] = per_user(grouped["value"].sum(), 0)
            out[f"value_mean_{w}d"] = per_user(grouped["value"].mean())
        if spec.type_names:
            out[f"distinct_types_{w}d"] = per_user(grouped["type_name"].nunique(), 0)
    for w in spec.trend_windows:
        recent = past[past["timestamp"] >= T - w * DAY]
        previous = past[(past["timestamp"] >= T - 2 * w * DAY) & (past["timestamp"] < T - w * DAY)]
        r, p = per_user(recent.groupby("user_id").size(), 0), per_user(previous.groupby("user_id").size(), 0)
        out[f"trend_count_{w}d"] = (r - p) / p.where(p > 0)
        r_type, p_type = per_type(recent, "size", 0), per_type(previous, "size", 0)
        for name in spec.type_names:
            out[f"trend_count_{name}_{w}d"] = (r_type[name] - p_type[name]) / p_type[name].where(p_type[name] > 0)

    first_day = per_user(by_user["day"].min())
    signup = None
    if accounts is not None and spec.has_signup:
        signup = per_user(accounts.set_index("user_id")["signup_date"]).map(pd.Timestamp)
    start = signup.fillna(first_day) if signup is not None else first_day
    out["tenure_days"] = (T - start) / DAY
    if spec.lifetime or spec.bgnbd_horizon_days is not None:
        days = by_user["day"]
        n_days = per_user(days.nunique(), 0)
        first, last = per_user(days.min()), per_user(days.max())
    if spec.lifetime:
        out["lifetime_events"] = per_user(by_user.size(), 0)
        counts = per_type(past, "size", 0)
        for name in spec.type_names:
            out[f"lifetime_{name}_events"] = counts[name]
        out["lifetime_active_days"] = n_days
        if spec.has_value:
            out["lifetime_value_sum"] = per_user(by_user["value"].sum(), 0)
            out["lifetime_value_mean"] = per_user(by_user["value"].mean())
        out["activity_rate"] = n_days / ((T - first) / DAY)
        out["active_span_days"] = (last - first) / DAY
        distinct = past[["user_id", "day"]].drop_duplicates().sort_values(["user_id", "day"])
        second = per_user(distinct.groupby("user_id").nth(1).set_index("user_id")["day"])
        out["first_repeat_days"] = (second - first) / DAY
    if spec.bgnbd_horizon_days is not None:
        # Fitted on every user with an event before T (not only the eligible), as the engines do.
        from churnml.btyd import BetaGeoFitter
        from churnml.engines import _lifetime

        everyone = past.groupby("user_id")["day"]
        summary = pd.DataFrame({"x": everyone.nunique() - 1.0, "t_x": (everyone.max() - everyone.min()) / DAY,
                                "T": (T - everyone.min()) / DAY})
        grouped = summary.value_counts().rename("n").reset_index().assign(observation_date=T)
        params = _lifetime.fit_bgnbd_by_date(grouped).get(T.date())
        mine = summary.reindex(users).dropna()  # users without an event before T have no BG/NBD features
        out["p_alive"] = np.nan
        out[f"expected_active_days_{spec.bgnbd_horizon_days}d"] = np.nan
        if params is not None:
            model = BetaGeoFitter.from_dict({"format": "churnml-btyd-bgnbd", "format_version": 1, "params": params})
            out.loc[mine.index, "p_alive"] = model.p_alive(mine["x"], mine["t_x"], mine["T"])
            out.loc[mine.index, f"expected_active_days_{spec.bgnbd_horizon_days}d"] = model.expected_purchases(
                spec.bgnbd_horizon_days, mine["x"], mine["t_x"], mine["T"])
    lookback = past[past["timestamp"] >= T - L * DAY].groupby("user_id")["day"]
    span = (per_user(lookback.max()) - per_user(lookback.min())) / DAY
    n_days = per_user(lookback.nunique(), 0)
    out["mean_gap_days"] = span / (n_days - 1).where(n_days > 1)
    out["overdue_ratio"] = out["days_since_last_event"] / out["mean_gap_days"].where(out["mean_gap_days"] > 0)

    if spec.activation_events:
        # The signup reference is the account's signup, else the user's first event ever.
        reference_day = events.groupby("user_id")["day"].min()
        if signup is not None:
            reference_day = accounts.set_index("user_id")["signup_date"].map(pd.Timestamp).combine_first(reference_day)
        names = {spec.event_types.get(a, "other") for a in spec.activation_events}
        hits = events[events["type_name"].isin(names)].copy()
        hits["reference_day"] = hits["user_id"].map(reference_day)
        hits = hits[(hits["day"] >= hits["reference_day"])
                    & (hits["day"] < hits["reference_day"] + spec.activation_days * DAY)]
        first_hit = per_user(hits.groupby("user_id")["day"].min())
        activated = first_hit < T
        out["activated"] = activated.astype(float)
        out["days_to_activation"] = ((first_hit - per_user(reference_day)) / DAY).where(activated)

    if spec.has_subscriptions:
        now, before = _current(subscriptions, T), _current(subscriptions, T - L * DAY)
        if spec.plan_levels is not None:
            plan = per_user(now["plan"]).astype(object)
            out["plan"] = plan.where(plan.isna() | plan.isin(spec.plan_levels), "other")
        out["mrr"] = per_user(now["mrr"])
        gap = definition.gap_tolerance_days if isinstance(definition, SubscriptionChurn) else 0
        running = _running(islands(subscriptions, gap), T)
        out["subscription_tenure_days"] = (T - per_user(running["cover_start"]).dt.normalize()) / DAY
        out[f"mrr_change_{L}d"] = out["mrr"] - per_user(before["mrr"])
        subs = subscriptions.sort_values(["user_id", "start"])
        downgrade = ((subs["start"] >= T - L * DAY) & (subs["start"] < T)
                     & (subs["mrr"] < subs.groupby("user_id")["mrr"].shift()))
        out[f"downgrades_{L}d"] = per_user(subs[downgrade].groupby("user_id").size(), 0)

    for column, name in spec.attribute_names().items():
        levels = spec.attributes[column]
        values = per_user(accounts.set_index("user_id")[column]) if accounts is not None else per_user(pd.Series())
        if levels is None:
            out[name] = values.astype(float)
        else:
            text = values.astype(object).map(lambda v: None if pd.isna(v) else str(v))
            out[name] = text.where(text.isna() | text.isin(levels), "other")

    if labels:
        if isinstance(definition, InactivityChurn):
            window = events[(events["timestamp"] >= T + definition.lead_time_days * DAY)
                            & (events["timestamp"] < T + (definition.lead_time_days + definition.horizon_days) * DAY)]
            out.insert(0, "label", (~users.isin(window["user_id"].unique())).astype(int))
        else:
            running = _running(islands(subscriptions, definition.gap_tolerance_days), T)
            end = T + (definition.lead_time_days + definition.horizon_days) * DAY
            out.insert(0, "label", (per_user(running["cover_stop"]) < end).astype(int))
    return out.reset_index()


def assert_same(engine: pd.DataFrame, expected: pd.DataFrame) -> None:
    engine = engine.set_index("user_id").sort_index()
    expected = expected.set_index("user_id").sort_index()
    assert list(engine.index) == list(expected.index)
    # Every feature the engine computes is checked: one the reference lacks fails here, not silently.
    unchecked = sorted(set(engine.columns) - set(expected.columns) - {"observation_date", "label", "churn_type"})
    assert unchecked == [], f"features the pandas reference (tests/reference.py) does not compute: {unchecked}"
    for column in expected.columns:
        if column == "observation_date":
            continue
        got, want = engine[column], expected[column]
        if isinstance(got.dtype, pd.CategoricalDtype) or want.dtype == object:
            assert got.astype(object).where(got.notna(), None).tolist() == \
                want.astype(object).where(want.notna(), None).tolist(), column
        else:
            np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-9, atol=1e-9,
                                       equal_nan=True, err_msg=column)
