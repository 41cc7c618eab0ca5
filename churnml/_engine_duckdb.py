"""The feature spec compiled to DuckDB SQL.

One scan of the events compresses them to one row per user, event type and day
(``daily``); every observation date's features and labels are computed from that
table, so adding dates adds joins over the compressed rows, not scans of the log.
Every feature at ``t`` reads only ``daily`` rows with ``day < t`` (``t`` is a
midnight, so that is ``timestamp < t``); labels read only rows in the label window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from churnml._duckdb import fresh_name, quote_identifier as qi, quote_literal as ql
from churnml.definitions import ChurnDefinition, InactivityChurn, SubscriptionChurn
from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from churnml.features import FeatureSpec
    from churnml.sources import UsageData

_NUMERIC_PREFIXES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                     "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN", "REAL")


@dataclass(frozen=True)
class FitStatistics:
    type_counts: dict[str, int]
    has_value: bool
    has_signup: bool
    has_subscriptions: bool
    plan_levels: list[str] | None
    attributes: dict[str, list[str] | None]


def _levels(data: UsageData, view: str, column: str, until_filter: str, max_levels: int) -> list[str]:
    rows = data.backend.sql(
        f"SELECT CAST({qi(column)} AS VARCHAR) AS level, count(*) AS n FROM {qi(view)} "
        f"WHERE {qi(column)} IS NOT NULL {until_filter} GROUP BY 1 ORDER BY n DESC, level").fetchall()
    return [str(level) for level, _ in rows[:max_levels]] + ["other"]


def fit_statistics(data: UsageData, *, until: dt.date | None, max_levels: int) -> FitStatistics:
    """What ``FeatureBuilder.fit`` needs to know about the data, read before ``until``."""
    events = data.events
    before = f"AND \"timestamp\" < {_date(until)}" if until is not None else ""
    type_counts: dict[str, int] = {}
    if "event_type" in events.columns:
        type_counts = {str(t): int(n) for t, n in data.backend.sql(
            f"SELECT event_type, count(*) FROM {qi(events.view)} WHERE event_type IS NOT NULL {before} "
            "GROUP BY 1").fetchall()}
    has_signup = False
    attributes: dict[str, list[str] | None] = {}
    if data.accounts is not None:
        types = data.backend.column_types(qi(data.accounts.view))
        has_signup = "signup_date" in types and bool(data.backend.fetchone(
            f"SELECT count(signup_date) FROM {qi(data.accounts.view)}")[0])  # type: ignore[index]
        for column, kind in types.items():
            if column in ("user_id", "signup_date"):
                continue
            if kind.startswith(_NUMERIC_PREFIXES):
                attributes[column] = None
            elif kind == "VARCHAR":
                attributes[column] = _levels(data, data.accounts.view, column, "", max_levels)
            # dates, lists and other types are not features of their own
    plan_levels = None
    if data.subscriptions is not None and "plan" in data.subscriptions.columns:
        start_before = f"AND start < {_date(until)}" if until is not None else ""
        plan_levels = _levels(data, data.subscriptions.view, "plan", start_before, max_levels)
    return FitStatistics(type_counts=type_counts, has_value="value" in events.columns,
                         has_signup=has_signup, has_subscriptions=data.subscriptions is not None,
                         plan_levels=plan_levels, attributes=attributes)


def event_types(data: UsageData) -> list[str]:
    if "event_type" not in data.events.columns:
        return []
    return [str(t) for (t,) in data.backend.sql(
        f"SELECT DISTINCT event_type FROM {qi(data.events.view)} WHERE event_type IS NOT NULL").fetchall()]


def time_span(data: UsageData) -> tuple[dt.datetime, dt.datetime]:
    """First and last event; the last also counts subscription starts and ends."""
    row = data.backend.fetchone(f'SELECT min("timestamp"), max("timestamp") FROM {qi(data.events.view)}')
    assert row is not None
    first, last = row
    if data.subscriptions is not None:
        sub = data.backend.fetchone(
            f'SELECT max(greatest(start, coalesce("end", start))) FROM {qi(data.subscriptions.view)}')
        if sub and sub[0] is not None:
            last = max(last, sub[0])
    return first, last


def _date(value: dt.date) -> str:
    return f"DATE '{value.isoformat()}'"


def _check_columns(data: UsageData, spec: FeatureSpec) -> None:
    """Refuse data that lacks inputs the spec was fitted with, instead of inventing zeros."""
    missing = []
    if spec.has_value and "value" not in data.events.columns:
        missing.append("events.value")
    if spec.event_types and "event_type" not in data.events.columns:
        missing.append("events.event_type")
    if spec.has_subscriptions and data.subscriptions is None:
        missing.append("subscriptions")
    elif data.subscriptions is not None and "end" not in data.subscriptions.columns:
        missing.append("subscriptions.end (map it; null means still active)")
    if spec.attributes and data.accounts is None:
        missing.append("accounts")
    elif data.accounts is not None:
        missing += [f"accounts.{c}" for c in spec.attributes if c not in data.accounts.columns]
    if missing:
        raise ConfigError(f"The features were fitted with inputs this data lacks: {', '.join(missing)}. "
                          "Fix: load the same tables and columns as at fit time.")


def compute(data: UsageData, spec: FeatureSpec, definition: ChurnDefinition, dates: list[dt.date], *,
            labels: bool) -> pd.DataFrame:
    """Features (and labels) of every eligible user at every date, in one DataFrame.

    Rows are ordered by ``observation_date`` then ``user_id``.
    """
    import pandas as pd

    _check_columns(data, spec)
    if isinstance(definition, SubscriptionChurn) and data.subscriptions is None:
        raise ConfigError("Subscription churn needs a subscriptions table (--subscriptions).")
    backend = data.backend
    E = qi(data.events.view)
    names = {key: fresh_name(key) for key in ("obs", "daily", "keys", "win", "recency", "islands", "out")}
    t = {k: qi(v) for k, v in names.items()}
    label_span = definition.label_span_days if labels else 0
    upper = max(dates) + dt.timedelta(days=label_span)
    L = spec.lookback_days

    type_case = "NULL"
    if "event_type" in data.events.columns:
        whens = " ".join(f"WHEN event_type = {ql(src)} THEN {ql(name)}" for src, name in spec.event_types.items())
        type_case = f"CASE WHEN event_type IS NULL THEN NULL {whens} ELSE 'other' END"
    value_aggs = ', sum(value) AS value_sum, count(value) AS value_n' if spec.has_value else ""
    statements = [
        f"CREATE OR REPLACE TEMP TABLE {t['obs']} AS SELECT CAST(unnest([{', '.join(_date(d) for d in dates)}]) "
        "AS DATE) AS observation_date",
        # The one scan of the events.
        f"CREATE OR REPLACE TEMP TABLE {t['daily']} AS SELECT user_id, {type_case} AS type_name, "
        f"CAST(\"timestamp\" AS DATE) AS day, count(*) AS n, max(\"timestamp\") AS last_ts{value_aggs} "
        f"FROM {E} WHERE \"timestamp\" < {_date(upper)} GROUP BY ALL",
    ]
    if isinstance(definition, SubscriptionChurn) or spec.has_subscriptions:
        gap = definition.gap_tolerance_days if isinstance(definition, SubscriptionChurn) else 0
        subscriptions = data.subscriptions
        assert subscriptions is not None
        statements.append(_islands_sql(qi(subscriptions.view), t["islands"], gap, subscriptions.columns))
    statements.append(_keys_sql(data, definition, t))
    statements.append(_window_sql(spec, t))
    statements.append(_recency_sql(spec, t))
    for statement in statements:
        backend.execute(statement)

    select, joins = _assemble(data, spec, t)
    label_select = ""
    if labels:
        label_select, label_join = _label_sql(definition, t)
        joins.append(label_join)
    query = (f"SELECT k.user_id, k.observation_date{label_select}, {', '.join(select)} FROM {t['keys']} k "
             f"{' '.join(joins)} ORDER BY k.observation_date, k.user_id")
    try:
        frame = backend.sql(query).df()
    finally:
        for name in names.values():
            backend.execute(f"DROP TABLE IF EXISTS {qi(name)}")
    frame["observation_date"] = pd.to_datetime(frame["observation_date"])
    levels = spec.categorical_levels()
    for info in spec.features():
        if info.name in levels:
            frame[info.name] = pd.Categorical(frame[info.name].astype("object"), categories=levels[info.name])
        else:
            frame[info.name] = frame[info.name].astype("float64")
    return frame


def _islands_sql(S: str, target: str, gap: int, columns: tuple[str, ...]) -> str:
    """Merge a user's subscriptions that follow each other within ``gap`` days into coverages."""
    reason = "end_reason" if "end_reason" in columns else "CAST(NULL AS VARCHAR)"
    stop = "coalesce(\"end\", TIMESTAMP 'infinity')" if "end" in columns else "TIMESTAMP 'infinity'"
    return f"""
    CREATE OR REPLACE TEMP TABLE {target} AS
    WITH s AS (SELECT user_id, start, {stop} AS stop, {reason} AS end_reason FROM {S}),
    ordered AS (
        SELECT *, max(stop) OVER (PARTITION BY user_id ORDER BY start, stop
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach FROM s),
    numbered AS (
        SELECT *, sum(CASE WHEN reach IS NULL OR start > reach + INTERVAL {gap} DAY THEN 1 ELSE 0 END)
                  OVER (PARTITION BY user_id ORDER BY start, stop ROWS UNBOUNDED PRECEDING) AS island FROM ordered)
    SELECT user_id, island, min(start) AS cover_start, max(stop) AS cover_stop,
           arg_max(end_reason, stop) AS end_reason
    FROM numbered GROUP BY user_id, island"""


def _keys_sql(data: UsageData, definition: ChurnDefinition, t: dict[str, str]) -> str:
    if isinstance(definition, InactivityChurn):
        signup = ""
        if data.accounts is not None and "signup_date" in data.accounts.columns:
            signup = (f" AND NOT EXISTS (SELECT 1 FROM {qi(data.accounts.view)} a WHERE a.user_id = d.user_id "
                      "AND a.signup_date >= o.observation_date)")
        return (f"CREATE OR REPLACE TEMP TABLE {t['keys']} AS SELECT DISTINCT d.user_id, o.observation_date "
                f"FROM {t['daily']} d JOIN {t['obs']} o ON d.day >= o.observation_date - "
                f"{definition.active_window_days} AND d.day < o.observation_date{signup}")
    return (f"CREATE OR REPLACE TEMP TABLE {t['keys']} AS SELECT DISTINCT i.user_id, o.observation_date "
            f"FROM {t['islands']} i JOIN {t['obs']} o ON i.cover_start < o.observation_date "
            "AND i.cover_stop > o.observation_date")


def _window_sql(spec: FeatureSpec, t: dict[str, str]) -> str:
    L = spec.lookback_days
    aggs = []
    for w in spec.windows:
        recent = f"day >= o.observation_date - {w}"
        aggs.append(f"sum(n) FILTER (WHERE {recent}) AS {qi(f'count_events_{w}d')}")
        for name in spec.type_names:
            aggs.append(f"sum(n) FILTER (WHERE {recent} AND type_name = {ql(name)}) AS {qi(f'count_{name}_{w}d')}")
        aggs.append(f"count(DISTINCT day) FILTER (WHERE {recent}) AS {qi(f'active_days_{w}d')}")
        if spec.has_value:
            aggs.append(f"sum(value_sum) FILTER (WHERE {recent}) AS {qi(f'value_sum_{w}d')}")
            aggs.append(f"sum(value_n) FILTER (WHERE {recent}) AS {qi(f'value_n_{w}d')}")
        if spec.type_names:
            aggs.append(f"count(DISTINCT type_name) FILTER (WHERE {recent}) AS {qi(f'distinct_types_{w}d')}")
    for w in spec.trend_windows:
        previous = f"day >= o.observation_date - {2 * w} AND day < o.observation_date - {w}"
        aggs.append(f"sum(n) FILTER (WHERE {previous}) AS {qi(f'previous_count_events_{w}d')}")
        aggs.append(f"sum(n) FILTER (WHERE day >= o.observation_date - {w}) AS {qi(f'recent_count_events_{w}d')}")
        for name in spec.type_names:
            aggs.append(f"sum(n) FILTER (WHERE {previous} AND type_name = {ql(name)}) "
                        f"AS {qi(f'previous_count_{name}_{w}d')}")
            aggs.append(f"sum(n) FILTER (WHERE day >= o.observation_date - {w} AND type_name = {ql(name)}) "
                        f"AS {qi(f'recent_count_{name}_{w}d')}")
    aggs.append("min(day) AS first_active_day, max(day) AS last_active_day, count(DISTINCT day) AS active_days_lookback")
    return (f"CREATE OR REPLACE TEMP TABLE {t['win']} AS SELECT d.user_id, o.observation_date, {', '.join(aggs)} "
            f"FROM {t['daily']} d JOIN {t['obs']} o ON d.day >= o.observation_date - {L} "
            "AND d.day < o.observation_date GROUP BY d.user_id, o.observation_date")


def _recency_sql(spec: FeatureSpec, t: dict[str, str]) -> str:
    """Last event before ``t`` over the whole history, overall and per type (an ASOF join)."""
    types = ", ".join(f"({ql(n)})" for n in ["*"] + spec.type_names)
    pivot = [f"max(CASE WHEN type_name = '*' THEN days END) AS days_since_last_event"]
    pivot += [f"max(CASE WHEN type_name = {ql(n)} THEN days END) AS {qi(f'days_since_last_{n}')}"
              for n in spec.type_names]
    return f"""
    CREATE OR REPLACE TEMP TABLE {t['recency']} AS
    WITH last_days AS (
        SELECT user_id, type_name, day, max(last_ts) AS last_ts FROM {t['daily']}
        WHERE type_name IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT user_id, '*' AS type_name, day, max(last_ts) AS last_ts FROM {t['daily']} GROUP BY ALL),
    probe AS (SELECT k.user_id, k.observation_date, n.type_name FROM {t['keys']} k CROSS JOIN (VALUES {types}) n(type_name)),
    matched AS (
        SELECT p.user_id, p.observation_date, p.type_name,
               (epoch(CAST(p.observation_date AS TIMESTAMP)) - epoch(l.last_ts)) / 86400.0 AS days
        FROM probe p ASOF LEFT JOIN last_days l
          ON p.user_id = l.user_id AND p.type_name = l.type_name AND p.observation_date > l.day)
    SELECT user_id, observation_date, {', '.join(pivot)} FROM matched GROUP BY user_id, observation_date"""


def _assemble(data: UsageData, spec: FeatureSpec, t: dict[str, str]) -> tuple[list[str], list[str]]:
    """SELECT items in the spec's feature order, and the joins they need."""
    L = spec.lookback_days
    joins = [f"LEFT JOIN {t['win']} w USING (user_id, observation_date)",
             f"LEFT JOIN {t['recency']} r USING (user_id, observation_date)"]
    # Users without events before t still have a first event later; only earlier ones count.
    joins.append(f"LEFT JOIN (SELECT user_id, min(day) AS first_day FROM {t['daily']} GROUP BY user_id) f "
                 "ON f.user_id = k.user_id AND f.first_day < k.observation_date")
    signup_ref = "f.first_day"
    if data.accounts is not None:
        A = qi(data.accounts.view)
        joins.append(f"LEFT JOIN {A} a ON a.user_id = k.user_id")
        if spec.has_signup:
            signup_ref = "coalesce(CAST(a.signup_date AS DATE), f.first_day)"
    if spec.activation_events:
        # Activation: the first activation event within N days of the user's signup reference.
        signup_all = "min(d.day) OVER (PARTITION BY d.user_id)"
        if spec.has_signup and data.accounts is not None:
            signup_all = (f"coalesce((SELECT CAST(any_value(a2.signup_date) AS DATE) FROM {qi(data.accounts.view)} a2 "
                          f"WHERE a2.user_id = d.user_id), {signup_all})")
        activation_types = ", ".join(ql(spec.event_types.get(a, "other")) for a in spec.activation_events)
        joins.append(f"""LEFT JOIN (
            SELECT user_id, min(day) AS activation_day, any_value(signup_day) AS signup_day FROM (
                SELECT d.user_id, d.day, d.type_name, {signup_all} AS signup_day FROM {t['daily']} d) x
            WHERE type_name IN ({activation_types}) AND day >= signup_day AND day < signup_day + {spec.activation_days}
            GROUP BY user_id) act ON act.user_id = k.user_id AND act.activation_day < k.observation_date""")
    select = ["r.days_since_last_event"]
    select += [f"r.{qi(f'days_since_last_{n}')}" for n in spec.type_names]
    for w in spec.windows:
        select.append(f"coalesce(w.{qi(f'count_events_{w}d')}, 0) AS {qi(f'count_events_{w}d')}")
        for n in spec.type_names:
            select.append(f"coalesce(w.{qi(f'count_{n}_{w}d')}, 0) AS {qi(f'count_{n}_{w}d')}")
        select.append(f"coalesce(w.{qi(f'active_days_{w}d')}, 0) AS {qi(f'active_days_{w}d')}")
        if spec.has_value:
            select.append(f"coalesce(w.{qi(f'value_sum_{w}d')}, 0) AS {qi(f'value_sum_{w}d')}")
            select.append(f"w.{qi(f'value_sum_{w}d')} / nullif(w.{qi(f'value_n_{w}d')}, 0) AS {qi(f'value_mean_{w}d')}")
        if spec.type_names:
            select.append(f"coalesce(w.{qi(f'distinct_types_{w}d')}, 0) AS {qi(f'distinct_types_{w}d')}")
    for w in spec.trend_windows:
        def trend(recent: str, previous: str, name: str) -> str:
            return (f"(coalesce(w.{qi(recent)}, 0) - w.{qi(previous)}) / nullif(w.{qi(previous)}, 0) "
                    f"AS {qi(name)}")
        select.append(trend(f"recent_count_events_{w}d", f"previous_count_events_{w}d", f"trend_count_{w}d"))
        for n in spec.type_names:
            select.append(trend(f"recent_count_{n}_{w}d", f"previous_count_{n}_{w}d", f"trend_count_{n}_{w}d"))
    select.append(f"date_diff('day', {signup_ref}, k.observation_date) AS tenure_days")
    select.append("CAST(w.last_active_day - w.first_active_day AS DOUBLE) / nullif(w.active_days_lookback - 1, 0) "
                  "AS mean_gap_days")
    select.append("r.days_since_last_event / nullif(CAST(w.last_active_day - w.first_active_day AS DOUBLE) "
                  "/ nullif(w.active_days_lookback - 1, 0), 0) AS overdue_ratio")
    if spec.activation_events:
        select.append("CASE WHEN act.activation_day IS NOT NULL THEN 1.0 ELSE 0.0 END AS activated")
        select.append("CAST(date_diff('day', act.signup_day, act.activation_day) AS DOUBLE) AS days_to_activation")
    if spec.has_subscriptions:
        S = qi(data.subscriptions.view)  # type: ignore[union-attr]
        plan = "arg_max(s.plan, s.start)" if spec.plan_levels is not None else "NULL"
        mrr = "arg_max(s.mrr, s.start)" if "mrr" in data.subscriptions.columns else "NULL"  # type: ignore[union-attr]
        joins.append(f"""LEFT JOIN (
            SELECT k2.user_id, k2.observation_date, {plan} AS plan, {mrr} AS mrr FROM {t['keys']} k2
            JOIN {S} s ON s.user_id = k2.user_id AND s.start < k2.observation_date
             AND (s."end" IS NULL OR s."end" > k2.observation_date)
            GROUP BY ALL) cur USING (user_id, observation_date)""")
        past_mrr = "arg_max(s.mrr, s.start)" if "mrr" in data.subscriptions.columns else "NULL"  # type: ignore[union-attr]
        joins.append(f"""LEFT JOIN (
            SELECT k2.user_id, k2.observation_date, {past_mrr} AS mrr FROM {t['keys']} k2
            JOIN {S} s ON s.user_id = k2.user_id AND s.start < k2.observation_date - {L}
             AND (s."end" IS NULL OR s."end" > k2.observation_date - {L})
            GROUP BY ALL) past USING (user_id, observation_date)""")
        joins.append(f"""LEFT JOIN (
            SELECT i.user_id, k2.observation_date, max(i.cover_start) AS cover_start FROM {t['keys']} k2
            JOIN {t['islands']} i ON i.user_id = k2.user_id AND i.cover_start < k2.observation_date
             AND i.cover_stop > k2.observation_date
            GROUP BY ALL) cov USING (user_id, observation_date)""")
        mrr_column = "mrr" if "mrr" in data.subscriptions.columns else "NULL"  # type: ignore[union-attr]
        joins.append(f"""LEFT JOIN (
            SELECT k2.user_id, k2.observation_date, count(*) AS downgrades FROM {t['keys']} k2
            JOIN (SELECT user_id, start, {mrr_column} AS mrr,
                         lag({mrr_column}) OVER (PARTITION BY user_id ORDER BY start) AS previous_mrr FROM {S}) s
              ON s.user_id = k2.user_id AND s.start >= k2.observation_date - {L} AND s.start < k2.observation_date
            WHERE s.mrr < s.previous_mrr GROUP BY ALL) dg USING (user_id, observation_date)""")
        if spec.plan_levels is not None:
            select.append("cur.plan AS plan")
        select.append("cur.mrr AS mrr")
        select.append("CAST(date_diff('day', CAST(cov.cover_start AS DATE), k.observation_date) AS DOUBLE) "
                      "AS subscription_tenure_days")
        select.append(f"cur.mrr - past.mrr AS {qi(f'mrr_change_{L}d')}")
        select.append(f"coalesce(dg.downgrades, 0) AS {qi(f'downgrades_{L}d')}")
    for column, name in spec.attribute_names().items():
        levels = spec.attributes[column]
        if levels is None:
            select.append(f"CAST(a.{qi(column)} AS DOUBLE) AS {qi(name)}")
        else:
            kept = ", ".join(ql(v) for v in levels if v != "other")
            value = f"CAST(a.{qi(column)} AS VARCHAR)"
            select.append(f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} IN ({kept}) THEN {value} "
                          f"ELSE 'other' END AS {qi(name)}")
    if spec.plan_levels is not None:
        kept = ", ".join(ql(v) for v in spec.plan_levels if v != "other")
        select = [s if s != "cur.plan AS plan" else
                  f"CASE WHEN cur.plan IS NULL THEN NULL WHEN cur.plan IN ({kept}) THEN cur.plan ELSE 'other' END AS plan"
                  for s in select]
    return select, joins


def _label_sql(definition: ChurnDefinition, t: dict[str, str]) -> tuple[str, str]:
    lead, horizon = definition.lead_time_days, definition.horizon_days
    if isinstance(definition, InactivityChurn):
        join = (f"LEFT JOIN (SELECT DISTINCT d.user_id, o.observation_date FROM {t['daily']} d JOIN {t['obs']} o "
                f"ON d.day >= o.observation_date + {lead} AND d.day < o.observation_date + {lead + horizon}) back "
                "ON back.user_id = k.user_id AND back.observation_date = k.observation_date")
        return ", CAST(back.user_id IS NULL AS TINYINT) AS label", join
    reasons = ", ".join(ql(r.lower()) for r in definition.involuntary_reasons)
    join = (f"LEFT JOIN {t['islands']} li ON li.user_id = k.user_id AND li.cover_start < k.observation_date "
            "AND li.cover_stop > k.observation_date")
    churned = (f"(li.cover_stop < CAST(k.observation_date AS TIMESTAMP) + INTERVAL {lead + horizon} DAY)")
    select = (f", CAST({churned} AS TINYINT) AS label, CASE WHEN NOT {churned} THEN NULL "
              f"WHEN lower(li.end_reason) IN ({reasons}) THEN 'involuntary' ELSE 'voluntary' END AS churn_type")
    return select, join
