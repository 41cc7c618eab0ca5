"""SQL pieces both engines run, written once over a small dialect.

A :class:`Dialect` holds only what DuckDB and Spark SQL spell differently (quoting,
the text type, an open end, the arg-max aggregate); each piece here is the same
query on both, which is what the engine parity tests hold equal. An engine's own
module keeps only the plan that truly differs (DuckDB's segment sums and bitmaps,
Spark's exploded days).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from churnml.definitions import InactivityChurn, SubscriptionChurn

if TYPE_CHECKING:
    from churnml.definitions import ChurnDefinition
    from churnml.features import FeatureSpec


@dataclass(frozen=True)
class Dialect:
    name: str
    quote_identifier: Callable[[str], str]
    quote_literal: Callable[[str], str]
    text: str  # the text type of a CAST
    forever: str  # a timestamp after every real one: the stop of a subscription without an end
    arg_max: str  # arg_max(value, key): the value at the row of the largest key
    days_before: Callable[[str, int], str]  # midnight ``n`` days before a DATE, comparable with timestamps
    days_between: Callable[[str, str], str]  # whole days from one DATE to a later one


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


def subscription_features(spec: FeatureSpec, K: str, S: str, islands: str, has_mrr: bool,
                          d: Dialect) -> tuple[list[str], list[str]]:
    """The subscription features' SELECT items and joins, over the keys ``K`` (alias ``k``), the subscriptions
    ``S`` and their coverages ``islands``: the plan and MRR running at the date, the coverage's tenure, the MRR
    change over the lookback and the downgrades in it."""
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
    select = [f"{levelled('cur.plan', spec.plan_levels, d)} AS plan"] if spec.plan_levels is not None else []
    q = d.quote_identifier
    select += ["CAST(cur.mrr AS DOUBLE) AS mrr",
               f"CAST({d.days_between('CAST(cov.cover_start AS DATE)', 'k.observation_date')} AS DOUBLE) "
               "AS subscription_tenure_days",
               f"CAST(cur.mrr - past.mrr AS DOUBLE) AS {q(f'mrr_change_{L}d')}",
               f"CAST(coalesce(dg.downgrades, 0) AS DOUBLE) AS {q(f'downgrades_{L}d')}"]
    return select, joins


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
