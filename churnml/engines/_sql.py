"""SQL pieces both engines run, written once over a small dialect.

A :class:`Dialect` holds only what DuckDB and Spark SQL spell differently (quoting,
the text type, an open end, the arg-max aggregate, day arithmetic); each piece here
is the same query on both, which is what the engine parity tests hold equal. An
engine's own module keeps only the plan that truly differs (DuckDB's segment sums
and bitmaps, Spark's exploded days) and says, in :class:`Aggregates`, where that plan
keeps each quantity. Each feature's SQL is written once, beside its name and meaning
(:attr:`churnml.FeatureInfo.sql`, in :mod:`churnml.features`), over a :class:`FeatureSQL`;
:func:`feature_items` collects them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churnml.contract import InactivityChurn, LoadDialect, SubscriptionChurn

if TYPE_CHECKING:
    from churnml.contract import ChurnDefinition
    from churnml.features import FeatureSpec


@dataclass(frozen=True)
class Dialect(LoadDialect):
    """An engine's SQL spelling: its load's (:class:`churnml.contract.LoadDialect`, the same object's
    fields) and what the features, islands and labels spell their own way."""

    forever: str  # a timestamp after every real one: the stop of a subscription without an end
    arg_max: str  # arg_max(value, key): the value at the row of the largest key
    days_before: Callable[[str, int], str]  # midnight ``n`` days before a DATE, comparable with timestamps
    days_after: Callable[[str, int], str]  # the DATE ``n`` days after a DATE
    days_between: Callable[[str, str], str]  # whole days from one DATE to a later one
    days_since: Callable[[str, str], str]  # fractional days from a timestamp to the midnight of a later DATE

    @classmethod
    def extending(cls, load: LoadDialect, **spelling: Any) -> Dialect:
        """The engine's dialect: its load dialect's fields as they are, and the rest."""
        return cls(**{f.name: getattr(load, f.name) for f in dataclasses.fields(load)}, **spelling)


@dataclass(frozen=True)
class Aggregates:
    """Where one engine's per-date aggregates keep what the features read, beside the keys ``k``.

    Each engine computes these its own way (DuckDB from segment sums and bitmaps of active
    days, Spark from exploded user-days); the features' SQL reads them through a :class:`FeatureSQL`,
    the same on both. ``kind`` is a feature type name, or None for all events.
    """

    joins: list[str]  # what brings the aggregates beside ``k``
    last: Callable[[str | None], str]  # the timestamp of the last event before the date
    first_ts: str  # the user's first event, where it is before the date
    count: Callable[[str | None, int], str]  # events in the last w days (NULL or 0 for none)
    previous: Callable[[str | None, int], str]  # events in the w days before those (NULL or 0 for none)
    active: Callable[[int], str]  # active days in the last w days (NULL or 0 for none)
    value_sum: Callable[[int], str]  # the sum of the values in the last w days
    value_n: Callable[[int], str]  # the events with a value in the last w days
    oldest_active: str  # days from the oldest active day in the lookback to the date
    activation_day: str  # the first activation event's day on or after signup
    life_events: Callable[[str | None], str]  # events in the whole history before the date
    # The whole history: "active" (days), "value_sum", "value_n", "age_days" (first active day to the date),
    # "span_days" (first to last active day), "first_day", "second_day" (the user's second active day, ever).
    life: Callable[[str], str]
    bgnbd: str | None = None  # the table of BG/NBD parameters per date, where the spec asks for its features


class FeatureSQL:
    """What a feature's SQL (:attr:`churnml.FeatureInfo.sql`) is written with: an engine's
    :class:`Aggregates` (``a``), the dialect's day arithmetic, and a few shapes every engine
    computes the same way. Expressions read the keys as ``k``, the accounts as ``a``.
    """

    def __init__(self, a: Aggregates, d: Dialect, *, signup: str) -> None:
        self.a = a
        self.d = d
        self.signup = signup  # the day tenure counts from: signup where known, else the first event

    @staticmethod
    def number(x: str) -> str:
        return f"CAST({x} AS DOUBLE)"

    @staticmethod
    def ratio(numerator: str, denominator: str) -> str:
        return f"CAST({numerator} AS DOUBLE) / nullif(CAST({denominator} AS DOUBLE), 0)"

    @staticmethod
    def zero(x: str) -> str:
        return f"coalesce({x}, 0)"

    def since(self, ts: str) -> str:
        """Fractional days from a timestamp to the date."""
        return self.d.days_since("k.observation_date", ts)

    def days(self, start: str, end: str) -> str:
        """Whole days from one DATE to a later one."""
        return self.d.days_between(start, end)

    def trend(self, kind: str | None, w: int) -> str:
        """The change in events over the last ``w`` days against the ``w`` days before (missing: none before)."""
        previous = self.a.previous(kind, w)
        return self.ratio(f"{self.zero(self.a.count(kind, w))} - {previous}", previous)

    def mean_gap(self, lookback: int) -> str:
        """Days from the first to the last active day in the lookback, over the gaps between them."""
        newest = self.days(f"CAST({self.a.last(None)} AS DATE)", "k.observation_date")
        return self.ratio(f"{self.a.oldest_active} - {newest}", f"{self.zero(self.a.active(lookback))} - 1")

    def activated(self, days: int) -> str:
        """The first activation event on or after signup is within ``days`` of it, and before the date."""
        day = self.a.activation_day
        return f"({day} < {self.d.days_after(self.signup, days)} AND {day} < k.observation_date)"

    def levelled(self, value: str, levels: list[str]) -> str:
        return levelled(value, levels, self.d)

    def attribute(self, column: str, levels: list[str] | None) -> str:
        """An account attribute: a number, or a category on the levels fixed at fit."""
        q = self.d.quote_identifier
        if levels is None:
            return f"CAST(a.{q(column)} AS DOUBLE)"
        return self.levelled(f"CAST(a.{q(column)} AS {self.d.text})", levels)


def feature_items(spec: FeatureSpec, a: Aggregates, d: Dialect, *, accounts: str | None,
                  subscriptions: tuple[str, str, str, bool] | None) -> tuple[list[str], list[str]]:
    """The spec's features as SELECT items, in its feature order, and the joins they need: each feature's
    own SQL (:attr:`~churnml.FeatureInfo.sql`) over an engine's :class:`Aggregates`.

    ``accounts`` is the accounts table (joined as ``a``); ``subscriptions`` the keys, subscriptions and
    coverages tables and whether there is an MRR, where the spec has subscription features.
    """
    q = d.quote_identifier
    joins = list(a.joins)
    first_day = f"CAST({a.first_ts} AS DATE)"
    signup = first_day
    if accounts is not None:
        joins.append(f"LEFT JOIN {accounts} a ON a.user_id = k.user_id")
        if spec.has_signup:
            signup = f"coalesce(CAST(a.signup_date AS DATE), {first_day})"
    if spec.bgnbd_horizon_days is not None:
        assert a.bgnbd is not None
        joins.append(f"LEFT JOIN {a.bgnbd} bg ON bg.observation_date = k.observation_date")
    if spec.has_subscriptions:
        assert subscriptions is not None
        joins += subscription_joins(spec, *subscriptions, d)
    x = FeatureSQL(a, d, signup=signup)
    select = []
    for info in spec.features():
        assert info.sql is not None, info.name
        select.append(f"{info.sql(x)} AS {q(info.name)}")
    if spec.bgnbd_horizon_days is not None:  # what each engine turns into the BG/NBD features, then drops
        from churnml.engines._lifetime import PARAMS, helper_columns

        repeats, t_x, T, *params = helper_columns()
        select += [f"{x.number(a.life('active') + ' - 1')} AS {repeats}", f"{x.number(a.life('span_days'))} AS {t_x}",
                   f"{x.number(a.life('age_days'))} AS {T}"]
        select += [f"bg.bg_{k} AS {column}" for k, column in zip(PARAMS, params)]
    return select, joins


def levelled(value: str, levels: list[str], d: Dialect) -> str:
    """``value`` where it is one of the levels fixed at fit, ``'other'`` where it is not."""
    kept = ", ".join(d.quote_literal(v) for v in levels if v != "other")
    inside = f"{value} IN ({kept})" if kept else "FALSE"  # no level seen at fit: everything is 'other'
    return f"CASE WHEN {value} IS NULL THEN NULL WHEN {inside} THEN {value} ELSE 'other' END"


def islands_query(S: str, gap: int, columns: tuple[str, ...], d: Dialect) -> str:
    """A user's subscriptions that follow each other within ``gap`` days merged into coverages:
    ``user_id, island, cover_start, cover_stop, end_reason`` (the reason of the coverage's last stop)."""
    reason = "end_reason" if "end_reason" in columns else f"CAST(NULL AS {d.text})"
    stop = f"coalesce({d.quote_identifier('end')}, {d.forever})" if "end" in columns else d.forever
    return f"""
    WITH s AS (SELECT user_id, start, {stop} AS stop, {reason} AS end_reason FROM {S}),
    ordered AS (
        SELECT *, max(stop) OVER (PARTITION BY user_id ORDER BY start, stop
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach FROM s),
    numbered AS (
        SELECT *, sum(CASE WHEN reach IS NULL OR start > reach + INTERVAL {gap} DAY THEN 1 ELSE 0 END)
                  OVER (PARTITION BY user_id ORDER BY start, stop ROWS UNBOUNDED PRECEDING) AS island FROM ordered)
    SELECT user_id, island, min(start) AS cover_start, max(stop) AS cover_stop,
           {d.arg_max}(end_reason, stop) AS end_reason
    FROM numbered GROUP BY user_id, island"""


def subscription_joins(spec: FeatureSpec, K: str, S: str, islands: str, has_mrr: bool, d: Dialect) -> list[str]:
    """The joins the subscription features read, over the keys ``K`` (alias ``k``), the subscriptions ``S``
    and their coverages ``islands``: the subscription running at the date (``cur``: plan and MRR) and a
    lookback before it (``past``), the coverage running at the date (``cov``), and the downgrades in the
    lookback (``dg``)."""
    L = spec.lookback_days
    end = d.quote_identifier("end")
    no_mrr = "CAST(NULL AS DOUBLE)"

    def on(alias: str) -> str:
        return f"{alias} ON {alias}.user_id = k.user_id AND {alias}.observation_date = k.observation_date"

    def running_at(alias: str, days: int, plan: str) -> str:
        """The subscription running ``days`` days before each date (the latest started)."""
        at = d.days_before("k2.observation_date", days)
        return f"""LEFT JOIN (
            SELECT k2.user_id, k2.observation_date, {plan} AS plan,
                   {f"{d.arg_max}(s.mrr, s.start)" if has_mrr else no_mrr} AS mrr
            FROM {K} k2 JOIN {S} s ON s.user_id = k2.user_id AND s.start < {at}
             AND (s.{end} IS NULL OR s.{end} > {at})
            GROUP BY k2.user_id, k2.observation_date) {on(alias)}"""

    mrr = "mrr" if has_mrr else no_mrr
    joins = [
        running_at("cur", 0, f"{d.arg_max}(s.plan, s.start)" if spec.plan_levels is not None else "NULL"),
        running_at("past", L, "NULL"),
        f"""LEFT JOIN (
            SELECT i.user_id, k2.observation_date, max(i.cover_start) AS cover_start FROM {K} k2
            JOIN {islands} i ON i.user_id = k2.user_id AND i.cover_start < k2.observation_date
             AND i.cover_stop > k2.observation_date
            GROUP BY i.user_id, k2.observation_date) {on("cov")}""",
        f"""LEFT JOIN (
            SELECT k2.user_id, k2.observation_date, count(*) AS downgrades FROM {K} k2
            JOIN (SELECT user_id, start, {mrr} AS mrr,
                         lag({mrr}) OVER (PARTITION BY user_id ORDER BY start) AS previous_mrr FROM {S}) s
              ON s.user_id = k2.user_id AND s.start >= {d.days_before("k2.observation_date", L)}
              AND s.start < {d.days_before("k2.observation_date", 0)}
            WHERE s.mrr < s.previous_mrr GROUP BY k2.user_id, k2.observation_date) {on("dg")}"""]
    return joins


def label_sql(definition: ChurnDefinition, counted: str, islands: str | None, d: Dialect) -> tuple[str, str]:
    """The label's SELECT items and join: inactivity reads the label window's events counted in ``counted``
    (the alias of the per-date aggregate); subscription churn the coverage running at the date, in ``islands``."""
    lead, horizon = definition.lead_time_days, definition.horizon_days
    if isinstance(definition, InactivityChurn):
        # The label window's events were counted in the same pass over the events.
        return f", CAST(coalesce({counted}.label_window_events, 0) = 0 AS TINYINT) AS label", ""
    assert islands is not None and isinstance(definition, SubscriptionChurn)
    reasons = ", ".join(d.quote_literal(r.lower()) for r in definition.involuntary_reasons)
    join = (f"LEFT JOIN {islands} li ON li.user_id = k.user_id AND li.cover_start < k.observation_date "
            "AND li.cover_stop > k.observation_date")
    churned = f"(li.cover_stop < CAST(k.observation_date AS TIMESTAMP) + INTERVAL {lead + horizon} DAY)"
    select = (f", CAST({churned} AS TINYINT) AS label, CASE WHEN NOT {churned} THEN NULL "
              f"WHEN lower(li.end_reason) IN ({reasons}) THEN 'involuntary' ELSE 'voluntary' END AS churn_type")
    return select, join
