"""The numbers retention teams work by, computed in DuckDB from the same loaded data as the models.

Every function takes a :class:`~churnml.contract.UsageData` (``churnml.load``), runs
SQL over the events, subscriptions and accounts where they live (Parquet stays
on disk; nothing loads the whole history into pandas) and returns a small
pandas DataFrame (one row per period, cohort, threshold or segment).

States are read at instants. A period is ``[start, next start)``; an account is
*active at the start* when it is active at the period's first instant and *lost
during the period* when it is not active any more at the first instant of the
next one. Subscription activity: a running coverage (subscriptions following
each other within the gap tolerance merged, as for subscription churn).
Inactivity: an event in the ``active_window_days`` before that instant (so
a period is reported only once that much history precedes it). Only periods
that the data covers entirely are reported.

Examples
--------
>>> annualised(0.05)   # 5% a month is 46% a year
0.4596
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from churnml._duckdb import fresh_name, quote_identifier as qi, quote_literal as ql
from churnml.contract import DEFAULT_ACTIVE_WINDOW_DAYS, INVOLUNTARY_REASONS
from churnml.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnml.contract import UsageData

__all__ = ["Inactive", "MeanRate", "Segments", "activation", "annualised", "churn_rate", "cohort_figure", "cohorts",
           "definition_options", "horizon_from_gaps", "inactive", "inter_event_gaps", "periods", "rate_figure", "revenue_churn",
           "left_out_periods", "mean_churn_rate", "segments", "steady_periods"]

Period = Literal["week", "month", "quarter"]
PER_YEAR = {"week": 52, "month": 12, "quarter": 4}


def annualised(rate: float, period: Period = "month") -> float:
    """The yearly churn rate of a per-period rate: ``1 - (1 - rate) ** periods_per_year`` (rounded to 4)."""
    return round(1.0 - (1.0 - rate) ** PER_YEAR[period], 4)


# ----------------------------------------------------------------- periods


def _check_period(period: str) -> Period:
    if period not in PER_YEAR:
        raise ConfigError(f"The 'period' parameter must be 'week', 'month' or 'quarter'. Got {period!r} instead.")
    return period  # type: ignore[return-value]


def _period_start(day: dt.date, period: Period) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``day``'s."""
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def _next(day: dt.date, period: Period) -> dt.date:
    if period == "week":
        return day + dt.timedelta(days=7)
    return _add_months(day, 1 if period == "month" else 3)


def periods(first: dt.date, end: dt.date, period: Period) -> list[tuple[dt.date, dt.date]]:
    """Whole periods ``[start, next)`` with ``first <= start`` and ``next <= end``.

    >>> periods(dt.date(2024, 1, 15), dt.date(2024, 4, 1), "month")
    [(datetime.date(2024, 2, 1), datetime.date(2024, 3, 1)), (datetime.date(2024, 3, 1), datetime.date(2024, 4, 1))]
    """
    start = _period_start(first, period)
    if start < first:
        start = _next(start, period)
    out = []
    while _next(start, period) <= end:
        out.append((start, _next(start, period)))
        start = _next(start, period)
    return out


def _on_duckdb(data: UsageData, what: str) -> Any:
    """The DuckDB engine, which runs the analytics' SQL; Spark data is refused with a clear error."""
    from churnml.engines import require_engine

    return require_engine(data, "duckdb", f"analytics.{what}", fix=" (or a sample of them: the analytics are "
                          "aggregates a single machine computes)")


def _span(data: UsageData, as_of: str | dt.date | None) -> tuple[dt.date, dt.date]:
    """First day of the data and the end of what it covers (the day after the last event, or ``as_of``)."""
    first, last = _on_duckdb(data, "span").time_span(data)
    return first.date(), _capped(last.date() + dt.timedelta(days=1), as_of)


def _capped(end: dt.date, as_of: str | dt.date | None) -> dt.date:
    """``as_of`` where given, but never past ``end``."""
    from churnml.contract import parse_dates

    return end if as_of is None else min(end, parse_dates([as_of])[0])


def _periods_table(data: UsageData, spans: list[tuple[dt.date, dt.date]]) -> str:
    name = qi(fresh_name("periods"))
    if not spans:
        raise ConfigError("The data does not cover one whole period; choose a shorter --period or more data.")
    values = ", ".join(f"(TIMESTAMP '{s}', TIMESTAMP '{e}')" for s, e in spans)
    data.backend.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM (VALUES {values}) "
                         "AS p(period_start, period_end)")
    return name


def _drop(data: UsageData, *names: str) -> None:
    for name in names:
        data.backend.execute(f"DROP TABLE IF EXISTS {name}")


def _events(data: UsageData) -> str:
    return qi(data.events.view)


# ----------------------------------------------------------------- churn rate


def churn_rate(data: UsageData, *, period: Period = "month", basis: Literal["auto", "subscriptions",
               "inactivity"] = "auto", active_window_days: int = DEFAULT_ACTIVE_WINDOW_DAYS, gap_tolerance_days: int = 0,
               as_of: str | dt.date | None = None) -> pd.DataFrame:
    """Accounts active at the start of each period, lost during it, and the churn rate.

    Parameters
    ----------
    data : UsageData
    period : 'week', 'month' or 'quarter'
    basis : 'auto', 'subscriptions' or 'inactivity'
        Active = a running subscription (the default when subscriptions are loaded),
        or an event in the last ``active_window_days`` days.
    gap_tolerance_days : int
        Subscriptions restarting within this many days count as one; a period is
        reported only when this many days after it are observed too.
    as_of : date, optional
        Only periods ending by this date.

    Returns
    -------
    DataFrame
        ``period`` (first day), ``active_at_start``, ``churned``, ``churn_rate`` (a
        fraction), ``annualised_churn_rate`` (``1 - (1 - rate) ** periods_per_year``),
        and with ``end_reason`` on subscriptions ``churned_voluntary``,
        ``churned_involuntary``, ``voluntary_churn_rate``, ``involuntary_churn_rate``.
    """
    engine = _on_duckdb(data, "churn_rate")
    period = _check_period(period)
    if basis == "auto":
        basis = "subscriptions" if data.subscriptions is not None else "inactivity"
    if basis == "subscriptions" and data.subscriptions is None:
        raise ConfigError("Churn by subscriptions needs a subscriptions table (--subscriptions).")
    first, end = _span(data, as_of)
    tolerance = gap_tolerance_days if basis == "subscriptions" else 0
    # inactivity needs a whole active window of history before a period's start to know who was active
    lookback = dt.timedelta(days=active_window_days if basis == "inactivity" else 0)
    spans = [(s, e) for s, e in periods(first, end, period)
             if e + dt.timedelta(days=tolerance) <= end and s - lookback >= first]
    p = _periods_table(data, spans)
    reasons = False
    try:
        if basis == "subscriptions":
            assert data.subscriptions is not None
            islands = qi(fresh_name("islands"))
            engine.islands_table(data, islands, tolerance)
            reasons = "end_reason" in data.subscriptions.columns
            involuntary = ", ".join(ql(r) for r in INVOLUNTARY_REASONS)
            split = (f", count(*) FILTER (WHERE i.cover_stop <= p.period_end AND lower(i.end_reason) IN "
                     f"({involuntary})) AS churned_involuntary" if reasons else "")
            query = (f"SELECT p.period_start AS period, count(i.user_id) AS active_at_start, "
                     f"count(*) FILTER (WHERE i.cover_stop <= p.period_end) AS churned{split} "
                     f"FROM {p} p LEFT JOIN {islands} i ON i.cover_start <= p.period_start "
                     f"AND i.cover_stop > p.period_start GROUP BY 1 ORDER BY 1")
            try:
                frame = data.backend.sql(query).df()
            finally:
                _drop(data, islands)
        else:
            window = int(active_window_days)
            if window < 1:
                raise ConfigError(f"active_window_days must be a positive int. Got {active_window_days!r} instead.")
            # per account and period: its last event before the start, and before the end
            query = f"""
                WITH last AS (
                    SELECT p.period_start, p.period_end, e.user_id,
                           max(e."timestamp") FILTER (WHERE e."timestamp" < p.period_start) AS before_start,
                           max(e."timestamp") AS before_end
                    FROM {p} p JOIN {_events(data)} e
                      ON e."timestamp" >= p.period_start - INTERVAL {window} DAY AND e."timestamp" < p.period_end
                    GROUP BY ALL)
                SELECT p.period_start AS period,
                       count(l.user_id) FILTER (WHERE l.before_start >= p.period_start - INTERVAL {window} DAY)
                           AS active_at_start,
                       count(l.user_id) FILTER (WHERE l.before_start >= p.period_start - INTERVAL {window} DAY
                           AND l.before_end < p.period_end - INTERVAL {window} DAY) AS churned
                FROM {p} p LEFT JOIN last l ON l.period_start = p.period_start GROUP BY 1 ORDER BY 1"""
            frame = data.backend.sql(query).df()
    finally:
        _drop(data, p)
    frame["period"] = pd.to_datetime(frame["period"]).dt.date
    for column in frame.columns[1:]:
        frame[column] = frame[column].astype("int64")
    active = frame["active_at_start"].where(frame["active_at_start"] > 0)
    frame["churn_rate"] = frame["churned"] / active
    frame["annualised_churn_rate"] = 1.0 - (1.0 - frame["churn_rate"]) ** PER_YEAR[period]
    if reasons:
        frame["churned_voluntary"] = frame["churned"] - frame["churned_involuntary"]
        frame = frame[["period", "active_at_start", "churned", "churned_voluntary", "churned_involuntary",
                       "churn_rate", "annualised_churn_rate"]]
        frame["voluntary_churn_rate"] = frame["churned_voluntary"] / active
        frame["involuntary_churn_rate"] = frame["churned_involuntary"] / active
    return frame.reset_index(drop=True)


def definition_options(definition: Any, data: UsageData) -> dict[str, Any]:
    """The :func:`churn_rate` options that count churn the way a model's definition does (inactivity with its
    active window, or subscriptions with its gap tolerance), so every headline rate of a model agrees."""
    from churnml.contract import InactivityChurn, SubscriptionChurn

    if isinstance(definition, InactivityChurn):
        return {"basis": "inactivity", "active_window_days": definition.active_window_days or DEFAULT_ACTIVE_WINDOW_DAYS}
    if isinstance(definition, SubscriptionChurn) and data.subscriptions is not None:
        return {"basis": "subscriptions", "gap_tolerance_days": definition.gap_tolerance_days}
    return {}


#: a period is too small to show a rate when fewer accounts than this were active at its start ...
MIN_PERIOD_ACCOUNTS = 50
#: ... or fewer than this share of the median period's (the first months of a young product)
MIN_SHARE_OF_MEDIAN = 0.1


def steady_periods(frame: pd.DataFrame, column: str = "active_at_start") -> pd.Series:
    """Which periods have enough accounts for their rate to mean something: at least
    ``MIN_PERIOD_ACCOUNTS`` (50) at the start and at least ``MIN_SHARE_OF_MEDIAN`` (a tenth) of the
    median period's. (Periods the data does not cover entirely are never reported at all.)

    >>> steady_periods(pd.DataFrame({"active_at_start": [15, 464, 800, 1100]})).tolist()
    [False, True, True, True]
    """
    counts = frame[column].astype("float64")
    median = float(counts.median()) if len(counts) else 0.0
    return (counts >= MIN_PERIOD_ACCOUNTS) & (counts >= MIN_SHARE_OF_MEDIAN * median)


def left_out_periods(frame: pd.DataFrame, steady: pd.Series, column: str = "active_at_start",
                     period: Period = "month") -> str:
    """The periods ``steady`` leaves out, with their account counts: '2024-01 (15), 2024-02 (30)'.

    One wording for every place that names them (the demo, ``analytics churn-rate``, the report):
    months as ``YYYY-MM``, weeks and quarters by their first day.

    >>> frame = pd.DataFrame({"period": pd.to_datetime(["2024-01-01", "2024-02-01"]), "active_at_start": [15, 1200]})
    >>> left_out_periods(frame, steady_periods(frame))
    '2024-01 (15)'
    """
    pattern = "%Y-%m" if period == "month" else "%Y-%m-%d"
    dropped = frame[~steady.to_numpy(dtype=bool)]
    return ", ".join(f"{p:{pattern}} ({int(n):,})" for p, n in zip(dropped["period"], dropped[column]))


@dataclass(frozen=True)
class MeanRate:
    """The mean churn rate over the steady periods of a :func:`churn_rate` frame (what every headline
    quotes: the demo, ``churnml analytics churn-rate`` and the report), and the periods left out."""

    mean: float
    periods: int
    period: Period
    frame: pd.DataFrame = field(repr=False)
    kept: pd.Series = field(repr=False)  # :func:`steady_periods` of ``frame``

    @property
    def annualised(self) -> float:
        return annualised(self.mean, self.period)

    @property
    def left_out(self) -> pd.DataFrame:
        """The periods with too few accounts active at their start."""
        return self.frame[~self.kept]

    def left_out_text(self) -> str:
        """:func:`left_out_periods` of this frame ('' when none is left out)."""
        return left_out_periods(self.frame, self.kept, period=self.period)

    def sentence(self) -> str:
        """'mean monthly churn rate 10.4% (annualised 73.4%) over 10 months'; the left-out periods follow."""
        if not self.periods:
            return f"no {self.period} has enough accounts active at its start for a churn rate"
        unit = {"week": "weeks", "month": "months", "quarter": "quarters"}[self.period]
        text = (f"mean {self.period}ly churn rate {self.mean:.1%} (annualised {self.annualised:.1%}) over "
                f"{self.periods} {unit}")
        if not self.kept.all():
            text += "; left out, too few accounts active at the start: " + self.left_out_text()
        return text


def mean_churn_rate(frame: pd.DataFrame, period: Period = "month") -> MeanRate:
    """The mean of ``churn_rate`` over the periods :func:`steady_periods` keeps (and that have a rate).

    >>> frame = pd.DataFrame({"period": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
    ...                       "active_at_start": [15, 464, 800], "churn_rate": [0.0, 0.1, 0.2]})
    >>> rate = mean_churn_rate(frame)
    >>> round(rate.mean, 6), rate.periods, rate.left_out_text()
    (0.15, 2, '2024-01 (15)')
    """
    steady = steady_periods(frame)
    kept = frame[steady].dropna(subset=["churn_rate"])
    mean = float(kept["churn_rate"].mean()) if len(kept) else float("nan")
    return MeanRate(mean=mean, periods=len(kept), period=period, frame=frame, kept=steady)


# ----------------------------------------------------------------- revenue churn


def revenue_churn(data: UsageData, *, period: Period = "month", as_of: str | dt.date | None = None) -> pd.DataFrame:
    """Gross and net MRR churn per period, from the subscriptions' MRR.

    An account's MRR at an instant is the sum of the MRR of its subscriptions
    running then. Between the start and the end of a period, an account that had
    MRR and has none is *churned*, one with less is *contraction*, one with more
    is *expansion* (new and returning accounts are *new* MRR, not part of churn):

        gross MRR churn = (churned + contraction) / MRR at start x 100
        net MRR churn   = (churned + contraction - expansion) / MRR at start x 100

    Net MRR churn is negative when expansion outgrows the losses.

    Returns
    -------
    DataFrame
        ``period``, ``accounts_at_start`` (with MRR), ``mrr_start``, ``mrr_churned``, ``mrr_contraction``, ``mrr_expansion``,
        ``mrr_new``, ``mrr_end``, ``gross_mrr_churn_pct``, ``net_mrr_churn_pct``.
    """
    _on_duckdb(data, "revenue_churn")
    period = _check_period(period)
    subscriptions = data.subscriptions
    if subscriptions is None or "mrr" not in subscriptions.columns:
        raise ConfigError("Revenue churn needs a subscriptions table with an mrr column (--subscriptions).")
    first, end = _span(data, as_of)
    p = _periods_table(data, periods(first, end, period))
    stop = 'coalesce("end", TIMESTAMP \'infinity\')' if "end" in subscriptions.columns else "TIMESTAMP 'infinity'"
    S = qi(subscriptions.view)
    query = f"""
        WITH s AS (SELECT user_id, start, {stop} AS stop, coalesce(mrr, 0) AS mrr FROM {S}),
        per_account AS (
            SELECT p.period_start, s.user_id,
                   sum(s.mrr) FILTER (WHERE s.start <= p.period_start AND s.stop > p.period_start) AS at_start,
                   sum(s.mrr) FILTER (WHERE s.start <= p.period_end AND s.stop > p.period_end) AS at_end
            FROM {p} p JOIN s ON s.start <= p.period_end AND s.stop > p.period_start
            GROUP BY ALL),
        moves AS (SELECT period_start, coalesce(at_start, 0) AS a, coalesce(at_end, 0) AS b FROM per_account)
        SELECT p.period_start AS period,
               count(*) FILTER (WHERE a > 0) AS accounts_at_start,
               coalesce(sum(a), 0) AS mrr_start,
               coalesce(sum(a) FILTER (WHERE a > 0 AND b = 0), 0) AS mrr_churned,
               coalesce(sum(a - b) FILTER (WHERE b > 0 AND b < a), 0) AS mrr_contraction,
               coalesce(sum(b - a) FILTER (WHERE a > 0 AND b > a), 0) AS mrr_expansion,
               coalesce(sum(b) FILTER (WHERE a = 0), 0) AS mrr_new,
               coalesce(sum(b), 0) AS mrr_end
        FROM {p} p LEFT JOIN moves m ON m.period_start = p.period_start GROUP BY 1 ORDER BY 1"""
    try:
        frame = data.backend.sql(query).df()
    finally:
        _drop(data, p)
    frame["period"] = pd.to_datetime(frame["period"]).dt.date
    start = frame["mrr_start"].where(frame["mrr_start"] > 0)
    frame["gross_mrr_churn_pct"] = (frame["mrr_churned"] + frame["mrr_contraction"]) / start * 100
    frame["net_mrr_churn_pct"] = (frame["mrr_churned"] + frame["mrr_contraction"] - frame["mrr_expansion"]) / start * 100
    return frame


# ----------------------------------------------------------------- activation


def _signups(data: UsageData) -> str:
    """SQL of (user_id, signup): the accounts' signup date where known, else the first event."""
    first = f'SELECT user_id, min("timestamp") AS signup FROM {_events(data)} GROUP BY 1'
    if data.accounts is not None and "signup_date" in data.accounts.columns:
        A = qi(data.accounts.view)
        return (f"SELECT coalesce(a.user_id, f.user_id) AS user_id, "
                f"coalesce(CAST(a.signup_date AS TIMESTAMP), f.signup) AS signup "
                f"FROM ({first}) f FULL JOIN (SELECT user_id, signup_date FROM {A}) a ON a.user_id = f.user_id")
    return first


def activation(data: UsageData, *, events: Sequence[str], days: int = 7, period: Period = "month",
               as_of: str | dt.date | None = None) -> pd.DataFrame:
    """Activation rate per signup cohort: accounts with an activation event within ``days`` of signup.

    ``activation_rate_pct = activated / acquired x 100``, where the acquired accounts
    of a cohort are those that signed up in the period and whose ``days``-day
    window is fully observed (the others are counted in ``not_yet_observed``). The
    signup is the accounts' ``signup_date``, else the first event.

    Returns
    -------
    DataFrame
        ``cohort`` (first day of the signup period), ``acquired``, ``activated``,
        ``activation_rate_pct``, ``median_days_to_activation`` (among the activated),
        ``not_yet_observed``.
    """
    _on_duckdb(data, "activation")
    period = _check_period(period)
    if not events:
        raise ConfigError("activation needs at least one activation event type (--event).")
    if not isinstance(days, int) or days < 1:
        raise ConfigError(f"The 'days' parameter of activation must be a positive int. Got {days!r} instead.")
    if "event_type" not in data.events.columns:
        raise ConfigError("activation needs event types (map --type-col).")
    _, end = _span(data, as_of)
    trunc = {"week": "week", "month": "month", "quarter": "quarter"}[period]
    types = ", ".join(ql(str(e)) for e in events)
    query = f"""
        WITH u AS ({_signups(data)}),
        firsts AS (
            SELECT u.user_id, u.signup, min(e."timestamp") AS activated_at
            FROM u LEFT JOIN {_events(data)} e ON e.user_id = u.user_id AND e.event_type IN ({types})
                 AND e."timestamp" >= u.signup AND e."timestamp" < u.signup + INTERVAL {days} DAY
            WHERE u.signup < TIMESTAMP '{end}'
            GROUP BY ALL)
        SELECT CAST(date_trunc('{trunc}', signup) AS DATE) AS cohort,
               count(*) FILTER (WHERE signup + INTERVAL {days} DAY <= TIMESTAMP '{end}') AS acquired,
               count(activated_at) FILTER (WHERE signup + INTERVAL {days} DAY <= TIMESTAMP '{end}') AS activated,
               median(epoch(activated_at - signup) / 86400.0)
                   FILTER (WHERE signup + INTERVAL {days} DAY <= TIMESTAMP '{end}') AS median_days_to_activation,
               count(*) FILTER (WHERE signup + INTERVAL {days} DAY > TIMESTAMP '{end}') AS not_yet_observed
        FROM firsts GROUP BY 1 ORDER BY 1"""
    frame = data.backend.sql(query).df()
    frame["cohort"] = pd.to_datetime(frame["cohort"]).dt.date
    for column in ("acquired", "activated", "not_yet_observed"):
        frame[column] = frame[column].astype("int64")
    frame["activation_rate_pct"] = frame["activated"] / frame["acquired"].where(frame["acquired"] > 0) * 100
    return frame[["cohort", "acquired", "activated", "activation_rate_pct", "median_days_to_activation",
                  "not_yet_observed"]]


# ----------------------------------------------------------------- inactive users


@dataclass(frozen=True, eq=False)
class Inactive:
    """Inactive accounts as of a date: ``counts`` per threshold, the ``users`` (most inactive first)
    and ``over_time`` (the counts at the start of each period)."""

    as_of: dt.date
    counts: pd.DataFrame
    users: pd.DataFrame
    over_time: pd.DataFrame


def inactive(data: UsageData, *, as_of: str | dt.date | None = None, thresholds: Sequence[int] = (30, 60, 90),
             period: Period = "month", accounts: Any = None) -> Inactive:
    """Accounts with no event for at least each threshold (in days) as of a date, and how those counts moved.

    Counted among accounts with an event before the date; days inactive =
    ``as_of`` minus the last event, in days. With ``accounts`` (a table with a
    ``user_id`` column: a scores file's path, a DataFrame or a DuckDB relation),
    only those accounts are counted, at every date, and the shares are of them
    (an account of theirs without any event before the date counts in no threshold).
    """
    _on_duckdb(data, "inactive")
    period = _check_period(period)
    chosen = sorted({int(t) for t in thresholds})
    if not chosen or chosen[0] < 1:
        raise ConfigError(f"thresholds must be positive day counts. Got {list(thresholds)!r} instead.")
    first, end = _span(data, None)
    day = _capped(end, as_of)
    E = _events(data)
    population = None
    if accounts is not None:
        E, population = _only(data, accounts)
    users = data.backend.sql(
        f"SELECT user_id, max(\"timestamp\") AS last_event, "
        f"epoch(TIMESTAMP '{day}' - max(\"timestamp\")) / 86400.0 AS days_inactive FROM {E} "
        f"WHERE \"timestamp\" < TIMESTAMP '{day}' GROUP BY 1 HAVING days_inactive >= {chosen[0]} "
        "ORDER BY days_inactive DESC, user_id").df()
    seen = data.backend.fetchone(f"SELECT count(DISTINCT user_id) FROM {E} WHERE \"timestamp\" < TIMESTAMP '{day}'"
                                 if population is None else f"SELECT count(DISTINCT user_id) FROM {population}")
    assert seen is not None
    counts = pd.DataFrame({"threshold_days": chosen,
                           "inactive_accounts": [int((users["days_inactive"] >= t).sum()) for t in chosen]})
    counts["share_of_accounts"] = counts["inactive_accounts"] / max(int(seen[0]), 1)
    starts = [s for s, _ in periods(first, day + dt.timedelta(days=1), period)] + [day]
    instants = ", ".join(f"TIMESTAMP '{s}'" for s in sorted(set(starts)))
    filters = ", ".join(f"count(*) FILTER (WHERE l.last_event <= i.t - INTERVAL {th} DAY) AS inactive_{th}d"
                        for th in chosen)
    over_time = data.backend.sql(
        f"WITH instants AS (SELECT unnest([{instants}]) AS t), "
        f"last AS (SELECT i.t, e.user_id, max(e.\"timestamp\") AS last_event FROM instants i JOIN {E} e "
        f"ON e.\"timestamp\" < i.t GROUP BY ALL) "
        f"SELECT CAST(i.t AS DATE) AS date, count(l.user_id) AS accounts_seen, {filters} "
        f"FROM instants i LEFT JOIN last l ON l.t = i.t GROUP BY i.t ORDER BY i.t").df()
    over_time["date"] = pd.to_datetime(over_time["date"]).dt.date
    return Inactive(as_of=day, counts=counts, users=users, over_time=over_time)


# ----------------------------------------------------------------- engagement segments

SEGMENTS = ("champions", "active", "at risk", "dormant", "inactive")


@dataclass(frozen=True, eq=False)
class Segments:
    """Engagement segments as of a date: one row per account in ``accounts`` (``segment``, recency,
    frequency), ``summary`` per segment, and ``profile``: how the least-engaged segment differs from
    the rest, feature by feature (standardised mean difference)."""

    as_of: dt.date
    accounts: pd.DataFrame
    summary: pd.DataFrame
    profile: pd.DataFrame
    least_engaged: str


def segments(data: UsageData, *, as_of: str | dt.date | None = None, method: Literal["rules", "quantiles"] = "rules",
             horizon_days: int = 30, frequency_window_days: int = 90, accounts: Any = None) -> Segments:
    """Engagement segments from recency (days since the last event) and frequency (active days in the
    last ``frequency_window_days``), computed by the feature builder as of a date.

    ``rules`` (fixed thresholds a team can read):

    - champions: last event within 7 days and active on at least 12 of the last 90 days
    - active: last event within 30 days
    - at risk: last event 30 to 60 days ago
    - dormant: 60 to 90 days ago
    - inactive: more than 90 days ago

    ``quantiles``: recency and frequency each scored 1-5 by quintile (5 = most
    recent, most frequent) and summed: champions 9-10, active 7-8, at risk 5-6,
    dormant 3-4, inactive 2.

    Each segment's churn rate is given where the labels are observed: the share of
    its accounts with no event in the ``horizon_days`` after the date (inactivity
    churn); otherwise it is missing.

    With ``accounts`` (a table with a ``user_id`` column: a scores file's path, a
    DataFrame or a DuckDB relation), only those accounts are segmented.
    """
    from churnml.contract import InactivityChurn
    from churnml.features import FeatureBuilder

    engine = _on_duckdb(data, "segments")

    if method not in ("rules", "quantiles"):
        raise ConfigError(f"The 'method' parameter of segments must be 'rules' or 'quantiles'. Got {method!r} "
                          "instead.")
    first, end = _span(data, None)
    day = _capped(end, as_of)
    w = int(frequency_window_days)
    builder = FeatureBuilder(windows=(7, 30, w) if w not in (7, 30) else (7, 30), trend_windows=(30,))
    builder.fit(data, observation_dates=[day])
    everyone = InactivityChurn(horizon_days=horizon_days, active_window_days=max(1, (day - first).days + 1))
    labelled = day + dt.timedelta(days=horizon_days) <= end
    frame = engine.compute(data, builder.spec_, everyone, [day], labels=labelled)
    if accounts is not None:
        _, ids = _only(data, accounts)
        frame = frame[frame["user_id"].isin(data.backend.sql(f"SELECT user_id FROM {ids}").df()["user_id"])]
        frame = frame.reset_index(drop=True)
    recency = frame["days_since_last_event"]
    frequency = frame[f"active_days_{w}d"].fillna(0)
    if method == "rules":
        segment = np.select([(recency <= 7) & (frequency >= 12), recency <= 30, recency <= 60, recency <= 90],
                            list(SEGMENTS[:4]), default="inactive")
    else:
        r = pd.qcut(-recency.rank(method="first"), 5, labels=False) + 1
        f = pd.qcut(frequency.rank(method="first"), 5, labels=False) + 1
        score = r + f
        segment = np.select([score >= 9, score >= 7, score >= 5, score >= 3], list(SEGMENTS[:4]),
                            default="inactive")
    accounts = pd.DataFrame({"user_id": frame["user_id"], "segment": pd.Categorical(segment, categories=SEGMENTS),
                             "days_since_last_event": recency, f"active_days_{w}d": frequency})
    summary = accounts.groupby("segment", observed=False).agg(
        accounts=("user_id", "size"), median_days_since_last_event=("days_since_last_event", "median"),
        median_active_days=(f"active_days_{w}d", "median")).reset_index()
    summary["share"] = summary["accounts"] / max(len(accounts), 1)
    if labelled:
        summary["churn_rate"] = frame.groupby(pd.Categorical(segment, categories=SEGMENTS),
                                              observed=False)["label"].mean().to_numpy()
    else:
        summary["churn_rate"] = np.nan
    present = [s for s in SEGMENTS if (accounts["segment"] == s).any()]
    least = present[-1] if present else "inactive"
    features = [f.name for f in builder.spec_.features() if f.unit != "category" and f.name in frame]
    profile = _profile(frame[features], accounts["segment"].to_numpy() == least)
    return Segments(as_of=day, accounts=accounts, summary=summary, profile=profile, least_engaged=least)


def _only(data: UsageData, accounts: Any) -> tuple[str, str]:
    """The events of the given accounts only (SQL after FROM), and those accounts' ids (SQL after FROM)."""
    source = data.backend.register(accounts)
    kind = data.backend.column_types(_events(data))["user_id"]
    ids = f"(SELECT DISTINCT CAST(user_id AS {kind}) AS user_id FROM {source})"
    events = f"(SELECT e.* FROM {_events(data)} e SEMI JOIN {ids} a ON a.user_id = e.user_id)"
    return events, ids


def _profile(features: pd.DataFrame, inside: np.ndarray) -> pd.DataFrame:
    """Per feature: mean inside and outside the group and the standardised mean difference
    (Cohen's d with the pooled standard deviation), largest |d| first."""
    rows = []
    for name in features.columns:
        values = features[name].astype("float64")
        a, b = values[inside].dropna(), values[~inside].dropna()
        if len(a) < 2 or len(b) < 2:
            continue
        pooled = np.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))
        d = (a.mean() - b.mean()) / pooled if pooled > 0 else np.nan
        rows.append({"feature": name, "segment_mean": a.mean(), "rest_mean": b.mean(), "effect_size": d})
    out = pd.DataFrame(rows, columns=["feature", "segment_mean", "rest_mean", "effect_size"])
    order = out["effect_size"].abs().sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)


# ----------------------------------------------------------------- gaps between active days


def inter_event_gaps(data: UsageData) -> pd.DataFrame:
    """How long accounts go between two active days: ``gap_days`` (1, 2, ...) and the number of ``gaps``.

    Each account's distinct active days (calendar dates) are taken in order; a gap
    is the days from one to the next. Its distribution is what an inactivity
    horizon is chosen from (see :func:`horizon_from_gaps`).
    """
    _on_duckdb(data, "inter_event_gaps")
    query = f"""
        WITH days AS (SELECT DISTINCT user_id, CAST("timestamp" AS DATE) AS day FROM {_events(data)}),
        gaps AS (SELECT date_diff('day', lag(day) OVER (PARTITION BY user_id ORDER BY day), day) AS gap FROM days)
        SELECT gap AS gap_days, count(*) AS gaps FROM gaps WHERE gap IS NOT NULL GROUP BY 1 ORDER BY 1"""
    frame = data.backend.sql(query).df()
    return frame.astype({"gap_days": "int64", "gaps": "int64"})


def horizon_from_gaps(gaps: pd.DataFrame, coverage: float = 0.9) -> int:
    """The smallest number of days that ``coverage`` of the gaps between active days do not exceed:
    an account silent for longer is unlikely to be between two ordinary visits.

    >>> horizon_from_gaps(pd.DataFrame({"gap_days": [1, 7, 30, 100], "gaps": [50, 30, 15, 5]}), 0.9)
    30
    """
    if not 0 < coverage <= 1:
        raise ConfigError(f"coverage must be in (0, 1]. Got {coverage!r} instead.")
    if gaps.empty:
        raise ConfigError("No account has two active days: there is no gap to choose a horizon from.")
    ordered = gaps.sort_values("gap_days")
    share = ordered["gaps"].cumsum() / ordered["gaps"].sum()
    return int(ordered["gap_days"].to_numpy()[np.searchsorted(share.to_numpy(), coverage - 1e-12)])


# ----------------------------------------------------------------- cohorts


def cohorts(data: UsageData, *, as_of: str | dt.date | None = None, max_months: int = 24) -> pd.DataFrame:
    """Retention matrix: signup month x months since signup, the share of the cohort with an event in
    that month (month 0 = the signup month). Months not fully observed are missing.

    Returns
    -------
    DataFrame
        Index ``cohort`` (first day of the signup month), column ``accounts``, then
        ``0, 1, 2, ...`` (shares).
    """
    _on_duckdb(data, "cohorts")
    _, end = _span(data, as_of)
    query = f"""
        WITH u AS (SELECT user_id, CAST(date_trunc('month', signup) AS DATE) AS cohort FROM ({_signups(data)})
                   WHERE signup < TIMESTAMP '{end}'),
        active AS (SELECT DISTINCT user_id, CAST(date_trunc('month', "timestamp") AS DATE) AS month
                   FROM {_events(data)} WHERE "timestamp" < TIMESTAMP '{end}')
        SELECT u.cohort, date_diff('month', u.cohort, a.month) AS months_since_signup, count(*) AS active
        FROM u JOIN active a ON a.user_id = u.user_id AND a.month >= u.cohort GROUP BY ALL"""
    cells = data.backend.sql(query).df()
    sizes = data.backend.sql(
        f"SELECT CAST(date_trunc('month', signup) AS DATE) AS cohort, count(*) AS accounts "
        f"FROM ({_signups(data)}) WHERE signup < TIMESTAMP '{end}' GROUP BY 1 ORDER BY 1").df()
    sizes["cohort"] = pd.to_datetime(sizes["cohort"]).dt.date
    cells["cohort"] = pd.to_datetime(cells["cohort"]).dt.date
    cells = cells[cells["months_since_signup"] <= max_months]
    matrix = cells.pivot_table(index="cohort", columns="months_since_signup", values="active", aggfunc="sum")
    matrix = matrix.reindex(index=sizes["cohort"], columns=range(0, int(cells["months_since_signup"].max()) + 1
                                                                  if len(cells) else 1)).fillna(0)
    shares = matrix.div(sizes.set_index("cohort")["accounts"], axis=0)
    # a month is observed only when it has ended by `end`
    for cohort in shares.index:
        for k in shares.columns:
            month_end = _next(_add_months(cohort, int(k)), "month")
            if month_end > end:
                shares.loc[cohort, k] = np.nan
    shares.insert(0, "accounts", sizes.set_index("cohort")["accounts"])
    shares.index.name = "cohort"
    shares.columns = ["accounts", *[int(c) for c in shares.columns[1:]]]
    return shares


def cohort_figure(matrix: pd.DataFrame) -> Figure:
    """The retention matrix as a heatmap (share of the cohort active, by months since signup)."""
    from matplotlib.figure import Figure

    shares = matrix.drop(columns=["accounts"])
    figure = Figure(figsize=(min(14, 2 + 0.6 * shares.shape[1]), 1.5 + 0.35 * shares.shape[0]), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(shares.to_numpy(dtype="float64"), aspect="auto", cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(shares.shape[1]), [str(c) for c in shares.columns])
    ax.set_yticks(range(shares.shape[0]), [f"{c:%Y-%m} ({n:,})" for c, n in zip(shares.index, matrix["accounts"])])
    for (i, j), value in np.ndenumerate(shares.to_numpy(dtype="float64")):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.1%}", ha="center", va="center", fontsize=6,
                    color="white" if value > 0.6 else "black")
    ax.set(xlabel="months since signup", ylabel="signup month (accounts)", title="Retention by signup cohort")
    figure.colorbar(image, ax=ax, label="share active")
    return figure


def rate_figure(frame: pd.DataFrame, column: str, title: str, *, percent: bool = True) -> Figure:
    """A line per period of one rate column."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.5), layout="constrained")
    ax = figure.add_subplot()
    x = pd.to_datetime(frame.iloc[:, 0])
    scale = 100 if percent and not column.endswith("_pct") else 1
    ax.plot(x, frame[column] * scale, marker="o")
    ax.set(title=title, ylabel=column.replace("_", " ") + (" (%)" if percent else ""))
    ax.grid(alpha=0.3)
    return figure
