"""The feature spec compiled to DuckDB SQL.

One query computes every observation date's features (and labels). Events inside
some date's reach are summed once per user, type and calendar segment (segments
are cut at every window edge of every date, so each window is a union of whole
segments); the segment sums are handed to the dates that read them and
aggregated per user, date and type, then pivoted per user and date. Where no
event informs two dates (one scoring date, or dates further apart than a reach
and a label window) the segment step saves nothing and events go straight to
the per-type aggregate. Older events are bucketed by the first date they inform
and carry only their last timestamps forward. Every feature at ``t`` reads only
events with ``timestamp < t``; the label reads only events in the label window.

The subscription coverages, the subscription features, the fitted levels and the
label are the shared pieces of :mod:`churnml.engines._sql` in the ``DUCKDB`` dialect;
``ENGINE`` is this engine for the registry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from churnml._duckdb import FLOAT_TYPES, INTEGER_TYPES, fresh_name, quote_identifier as qi, quote_literal as ql
from churnml.contract import DUCKDB_LOAD, ChurnDefinition, InactivityChurn, SubscriptionChurn
from churnml.engines._base import FitStatistics, check_columns
from churnml.engines._frames import typed
from churnml.engines._sql import Aggregates, Dialect, feature_items, islands_query, label_sql
from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from churnml.contract import LoadedTable, UsageData
    from churnml.features import FeatureSpec

_NUMERIC_TYPES = INTEGER_TYPES | FLOAT_TYPES | {"DECIMAL", "BOOLEAN"}
DUCKDB = Dialect.extending(DUCKDB_LOAD, forever="TIMESTAMP 'infinity'", arg_max="arg_max",
                           days_before=lambda day, n: f"{day} - {n}", days_after=lambda day, n: f"{day} + {n}",
                           days_between=lambda start, end: f"date_diff('day', {start}, {end})",
                           days_since=lambda day, ts: f"(epoch(CAST({day} AS TIMESTAMP)) - epoch({ts})) / 86400.0")


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
            if kind.split("(")[0] in _NUMERIC_TYPES:
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


def input_counts(data: UsageData, day: dt.date, *, types: bool) -> tuple[int, int, set[str] | None]:
    """Events before ``day``, those of them with a value, and (with ``types``, where the data has event types)
    the event types among them."""
    view, columns = qi(data.events.view), data.events.columns
    before = f"\"timestamp\" < {_date(day)}"
    row = data.backend.fetchone(f"SELECT count(*), {'count(value)' if 'value' in columns else '0'} FROM {view} "
                                f"WHERE {before}")
    assert row is not None
    seen = None
    if types and "event_type" in columns:
        seen = {str(t) for (t,) in data.backend.sql(
            f"SELECT DISTINCT event_type FROM {view} WHERE {before} AND event_type IS NOT NULL").fetchall()}
    return int(row[0]), int(row[1]), seen


def _date(value: dt.date) -> str:
    return f"DATE '{value.isoformat()}'"


def _midnight(value: dt.date) -> str:
    """The start of ``value`` as a TIMESTAMP literal: a bound on the events' timestamps that the scan
    applies itself (a bound from a subquery on the dates' table was a join over every event, 0.1 s at 30M)."""
    return f"TIMESTAMP '{value.isoformat()} 00:00:00'"


def compute(data: UsageData, spec: FeatureSpec, definition: ChurnDefinition, dates: list[dt.date], *,
            labels: bool) -> pd.DataFrame:
    """Features (and labels) of every eligible user at every date, in one DataFrame.

    Rows are ordered by ``observation_date`` then ``user_id``.
    """
    with _final_query(data, spec, definition, dates, labels=labels) as (query, _):
        # The final query straight to Arrow (with DuckDB 2.0, faster than through a table: 1 date at 50M
        # events 0.42-0.45 s against 0.54-0.57 s, 12 dates 2.1-3.1 s against 3.1-4.5 s, bench/RESULTS.md);
        # Arrow, not DuckDB's own .df(), which at 2M rows x 65 columns took four times as long.
        frame = data.backend.sql(query).to_arrow_table().to_pandas()
    return typed(frame, spec)


@contextlib.contextmanager
def materialised(data: UsageData, spec: FeatureSpec, definition: ChurnDefinition, dates: list[dt.date], *,
                 labels: bool) -> Iterator[str]:
    """The features (and labels) as a temporary DuckDB table, for the life of the block.

    Yields the table's quoted name; rows are ordered by ``observation_date`` then
    ``user_id``. DuckDB keeps it in its own memory and spills to disk past its limit,
    so callers can stream it (:func:`typed` makes each batch what :func:`compute` returns).
    """
    with _final_query(data, spec, definition, dates, labels=labels) as (query, drop):
        table = qi(fresh_name("out"))
        try:
            data.backend.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {query}")
            drop()  # the steps' tables, no longer needed while the caller streams this one
            yield table
        finally:
            data.backend.execute(f"DROP TABLE IF EXISTS {table}")


@contextlib.contextmanager
def _final_query(data: UsageData, spec: FeatureSpec, definition: ChurnDefinition, dates: list[dt.date], *,
                 labels: bool) -> Iterator[tuple[str, Callable[[], None]]]:
    """The query of the features (and labels), ordered by ``observation_date`` then ``user_id``, over the
    temporary tables of its steps, which live for the block (or until the function yielded with it
    is called)."""
    check_columns(data, spec)
    if isinstance(definition, SubscriptionChurn) and data.subscriptions is None:
        raise ConfigError("Subscription churn needs a subscriptions table (--subscriptions).")
    backend = data.backend
    names = {key: fresh_name(key) for key in ("obs", "agg", "life", "bgnbd", "keys", "islands")}
    t = {k: qi(v) for k, v in names.items()}
    label_span = definition.label_span_days if labels else 0
    statements = [
        f"CREATE OR REPLACE TEMP TABLE {t['obs']} AS SELECT observation_date, "
        "row_number() OVER (ORDER BY observation_date) AS position, CAST(observation_date AS TIMESTAMP) AS t, "
        f"CAST(observation_date AS TIMESTAMP) + INTERVAL {label_span} DAY AS t_upper "
        f"FROM (SELECT CAST(unnest([{', '.join(_date(d) for d in dates)}]) AS DATE) AS observation_date)",
        _aggregate_sql(data, spec, definition, t, dates, labels),
    ]
    statements.append(_life_sql(data, spec, t, dates))
    if isinstance(definition, SubscriptionChurn) or spec.has_subscriptions:
        gap = definition.gap_tolerance_days if isinstance(definition, SubscriptionChurn) else 0
        subscriptions = data.subscriptions
        assert subscriptions is not None
        statements.append(_islands_sql(qi(subscriptions.view), t["islands"], gap, subscriptions.columns))
    statements.append(_keys_sql(data, definition, t))
    try:
        for statement in statements:
            backend.execute(statement)
        if spec.bgnbd_horizon_days is not None:
            backend.execute(_bgnbd_params_sql(data, t))
        select, joins = _assemble(data, spec, t)
        label_select = ""
        if labels:
            label_select, label_join = label_sql(definition, "g", t["islands"], DUCKDB)
            joins.append(label_join)
        query = (f"SELECT k.user_id, k.observation_date{label_select}, {', '.join(select)} FROM {t['keys']} k "
                 f"{' '.join(joins)} ORDER BY k.observation_date, k.user_id")

        def drop() -> None:
            for name in names.values():
                backend.execute(f"DROP TABLE IF EXISTS {qi(name)}")

        yield query, drop
    finally:
        for name in names.values():
            backend.execute(f"DROP TABLE IF EXISTS {qi(name)}")


_WORD = 64  # active days are bits of UBIGINT words: bit i of word j = active (64 j + i + 1) days before t


def _mask(window: int, word: int) -> str:
    """The bits of ``word`` that fall inside the last ``window`` days, as a UBIGINT literal."""
    low, high = word * _WORD, (word + 1) * _WORD
    bits = 0 if window <= low else (2**_WORD - 1 if window >= high else 2 ** (window - low) - 1)
    return f"CAST({bits} AS UBIGINT)"


def _value_has_nulls(data: UsageData) -> bool:
    return data.events.report.null_counts.get("value", 0) > 0


def _segments(dates: list[dt.date], offsets: set[int]) -> list[tuple[dt.date, dt.date]]:
    """Calendar segments ``[start, end)`` cut at ``date - offset`` for every date and offset.

    Every window of every date is a union of whole segments, so events can be
    summed per segment once and the segment sums handed to the dates.
    """
    cuts = sorted({d - dt.timedelta(days=o) for d in dates for o in offsets})
    return list(zip(cuts, cuts[1:]))


def _aggregate_sql(data: UsageData, spec: FeatureSpec, definition: ChurnDefinition, t: dict[str, str],
                   dates: list[dt.date], labels: bool) -> str:
    """The recent-window query: events in each date's reach (and label window) per segment, then per
    date and type; one pivot per user and date. What needs the whole history (the last events, the first
    one, activation) is :func:`_life_sql`'s."""
    E = qi(data.events.view)
    L = spec.lookback_days
    reach = max(L, definition.active_window_days)
    span = definition.label_span_days if labels else 0
    value_has_nulls = _value_has_nulls(data)
    # Types become small integer codes (position in spec.type_names): the pivot below
    # compares every row with every type, and integers compare faster than text.
    code = {name: i for i, name in enumerate(spec.type_names)}
    type_case = _type_case(data, spec)
    words = -(-L // _WORD)
    # Stage B (below) aggregates per user, date and type. Every filter there compares one integer:
    # ``db``, the days from the segment's first day to the date (1 = the day before it). Dates are
    # midnights and no segment crosses a window edge, so a segment is in "the last w days" exactly
    # when 1 <= db <= w, and in the label window [t + lead, t + span) exactly when 1 - span <= db <= -lead.
    # When no event informs two dates (the dates lie a reach and a label window apart, as one
    # scoring date always does), summing events per segment first saves nothing: stage B then
    # reads the events themselves, each its own one-day segment, and stage A is left out.
    ordered = sorted(dates)
    from_events = all((b - a).days >= reach + span for a, b in zip(ordered, ordered[1:]))
    # Read from the events, the source holds those of the ``reach`` days before each date (and, without labels,
    # no later ones), so a window that wide holds every row and its aggregates need no filter (measured 2.4 s
    # against 2.65 s for the recent-window statement at 50M events, one date). ``since`` is None for it.
    source_within = reach if from_events and not span else 0  # 0: no window holds every source row

    def since(days: int) -> str | None:
        return None if days >= source_within > 0 else f"db BETWEEN 1 AND {days}"

    def filtered(function: str, argument: str, where: str | None) -> str:
        """``function`` over the rows meeting ``where`` (None: every row), as a CASE inside the aggregate:
        with DuckDB 2.0 cheaper than FILTER (stage B at 50M events 1.3-1.4 s against 1.55 s)."""
        if where is None:
            return f"{function}({argument})"
        return f"{function}(CASE WHEN {where} THEN {'1' if argument == '*' else argument} END)"

    if from_events and len(dates) == 1:
        # The events of the one date's reach (and label window), bounds and date as literals: no join to
        # the dates (recent-window statement at 50M events 2.2 s against 2.3 s).
        source = f"""
    source AS (
        SELECT ev.*, {_date(dates[0])} AS observation_date, CAST({_date(dates[0])} - ev.day AS INTEGER) AS db
        FROM ev WHERE ev.ts >= {_midnight(dates[0] - dt.timedelta(days=reach))}),"""
    elif from_events:
        # Each event with the date it informs (bounds as literals, for the scan to skip the rest).
        source = f"""
    source AS (
        SELECT ev.*, o.observation_date, o.observation_date - ev.day AS db
        FROM ev JOIN {t['obs']} o ON ev.day >= o.observation_date - {reach} AND ev.day < o.observation_date + {span}
        WHERE ev.ts >= {_date(ordered[0])} - INTERVAL {reach} DAY),"""
    if from_events:
        def total(where: str | None) -> str:
            return f"CAST({filtered('count', '*', where)} AS DOUBLE)"

        def value_count(where: str | None) -> str:
            return f"CAST({filtered('count', 'value', where)} AS DOUBLE)"

        def shifted(word_start: int) -> str:
            return f"CAST(1 AS UBIGINT) << CAST(db - 1 - {word_start} AS UBIGINT)"

        value_total = "value"
    else:
        # Stage A: events inside some date's reach, summed per user, type and calendar segment.
        # The segments are cut at every window edge of every date, and every 64 days back from
        # each date, so a segment lies in one bitmap word of any date that reads its days.
        offsets = {0, reach, L, *spec.windows, *spec.trend_windows, *(2 * w for w in spec.trend_windows)}
        offsets |= {_WORD * j for j in range(1, words)}
        if isinstance(definition, InactivityChurn):
            offsets.add(definition.active_window_days)
        if span:
            offsets |= {-definition.lead_time_days, -span}
        segments = _segments(dates, offsets)
        starts = ", ".join(_date(s) for s, _ in segments)
        ends = ", ".join(_date(e) for _, e in segments)
        # Active days of a segment: bit k = active k days before its end (its last day is bit 0).
        # Counts are summed as DOUBLE from here on: exact for whole numbers below 2^53, and far cheaper than
        # the 128-bit integers DuckDB sums BIGINTs into (in every aggregate and in the conversion to pandas).
        stage_a = ["CAST(count(*) AS DOUBLE) AS n",
                   f"bit_or(CASE WHEN seg_end - day <= {_WORD} THEN CAST(1 AS UBIGINT) << "
                   "CAST(seg_end - day - 1 AS UBIGINT) END) AS bits"]
        if spec.has_value:
            stage_a.append("sum(value) AS value_sum")
            if value_has_nulls:  # else the count of values is the count of events
                stage_a.append("CAST(count(value) AS DOUBLE) AS value_n")
        # The segment sums, handed to the dates whose reach holds them.
        source = f"""
    segment AS (
        SELECT unnest(range(1, {len(segments) + 1})) AS seg, CAST(unnest([{starts}]) AS DATE) AS seg_start,
               CAST(unnest([{ends}]) AS DATE) AS seg_end),
    segment_day AS (  -- each day of a segment; events find their segment by a hash join on the day
        SELECT seg, seg_end, CAST(unnest(generate_series(seg_start, seg_end - 1, INTERVAL 1 DAY)) AS DATE) AS day
        FROM segment),
    informs AS (  -- (segment, date) pairs: the segments inside each date's reach and label window
        SELECT s.seg, o.observation_date, o.observation_date - s.seg_start AS db,
               o.observation_date - s.seg_end AS ends_before
        FROM segment s JOIN {t['obs']} o ON s.seg_start >= o.observation_date - {reach}
         AND s.seg_end <= o.observation_date + {span}),
    segmented AS (
        SELECT user_id, type_name, seg, {', '.join(stage_a)}
        FROM ev JOIN segment_day USING (day)
        GROUP BY user_id, type_name, seg),
    source AS (SELECT * FROM segmented JOIN informs USING (seg)),"""

        def total(where: str | None) -> str:
            return filtered("sum", "n", where)

        def value_count(where: str | None) -> str:
            return filtered("sum", "value_n", where)

        def shifted(word_start: int) -> str:
            return f"bits << CAST(ends_before - {word_start} AS UBIGINT)"

        value_total = "value_sum"

    # Stage B: per user, date and type, from the events or the segment sums.
    counted = sorted(set(spec.windows) | set(spec.trend_windows))
    stage_b = [f"{total(since(w))} AS n_{w}" for w in counted]
    stage_b += [f"{total(f'db BETWEEN {w + 1} AND {2 * w}')} AS previous_{w}" for w in spec.trend_windows]
    if spec.has_value:
        stage_b += [f"{filtered('sum', value_total, since(w))} AS value_sum_{w}" for w in spec.windows]
        if value_has_nulls:
            stage_b += [f"{value_count(since(w))} AS value_n_{w}" for w in spec.windows]
    # A date's bitmap word j holds days 64 j + 1 .. 64 j + 64 before it (bit i = 64 j + i + 1);
    # a segment ending e days before the date lands there shifted by e - 64 j.
    for j in range(words):
        low, high = j * _WORD + 1, min((j + 1) * _WORD, L)
        stage_b.append(f"bit_or(CASE WHEN db BETWEEN {low} AND {high} THEN {shifted(j * _WORD)} END) "
                       f"AS bits_{j}")
    if isinstance(definition, InactivityChurn) and definition.active_window_days not in counted:
        stage_b.append(f"{total(since(definition.active_window_days))} AS n_{definition.active_window_days}")
    if labels and isinstance(definition, InactivityChurn):
        stage_b.append(f"{total(f'db BETWEEN {1 - span} AND {-definition.lead_time_days}')} AS label_window_events")

    # Stage C: totals over types, and per-type columns pivoted from the stage B rows
    # (a CASE inside the aggregate: measured faster than FILTER for this pivot).
    def of(aggregate: str, column: str, name: str) -> str:
        return f"{aggregate}(CASE WHEN type_name = {code[name]} THEN {column} END)"

    # Each aggregate here costs a pass over millions of rows: a count serves both its window
    # feature and a trend's recent half, and the count of events stands in for the count of
    # values when no value is missing.
    stage_c = []
    for w in counted:
        stage_c.append(f"sum(n_{w}) AS {qi(f'count_events_{w}d')}")
        stage_c += [f"{of('sum', f'n_{w}', n)} AS {qi(f'count_{n}_{w}d')}" for n in spec.type_names]
    if spec.has_value:
        stage_c += [f"sum(value_sum_{w}) AS {qi(f'value_sum_{w}d')}" for w in spec.windows]
        if value_has_nulls:
            stage_c += [f"sum(value_n_{w}) AS {qi(f'value_n_{w}d')}" for w in spec.windows]
    for w in spec.trend_windows:
        stage_c.append(f"sum(previous_{w}) AS {qi(f'previous_count_events_{w}d')}")
        stage_c += [f"{of('sum', f'previous_{w}', n)} AS {qi(f'previous_count_{n}_{w}d')}"
                    for n in spec.type_names]
    stage_c += [f"bit_or(bits_{j}) AS active_bits_{j}" for j in range(words)]
    stage_c.append(f"sum(n_{definition.active_window_days}) AS recent_events"
                   if isinstance(definition, InactivityChurn) else "0 AS recent_events")
    if labels and isinstance(definition, InactivityChurn):
        stage_c.append("sum(label_window_events) AS label_window_events")

    value = ", e.value" if spec.has_value else ""
    return f"""
    CREATE OR REPLACE TEMP TABLE {t['agg']} AS
    WITH reached AS NOT MATERIALIZED (  -- the events before the last label window's end
        SELECT * FROM {E} WHERE "timestamp" < {_midnight(max(dates) + dt.timedelta(days=span))}),
    ev AS NOT MATERIALIZED (
        SELECT e.user_id, {type_case} AS type_name, e."timestamp" AS ts, CAST(e."timestamp" AS DATE) AS day{value}
        FROM reached e),{source}
    recent AS (
        SELECT user_id, observation_date, {', '.join(stage_c)}
        FROM (SELECT user_id, observation_date, type_name, {', '.join(stage_b)}
              FROM source
              GROUP BY user_id, observation_date, type_name)
        GROUP BY user_id, observation_date)
    SELECT * FROM recent"""


def _type_case(data: UsageData, spec: FeatureSpec) -> str:
    """Event types as small integer codes (position in ``spec.type_names``); NULL without types."""
    code = {name: i for i, name in enumerate(spec.type_names)}
    if "event_type" not in data.events.columns or not spec.type_names:
        return "CAST(NULL AS UTINYINT)"
    whens = " ".join(f"WHEN event_type = {ql(src)} THEN {code[name]}" for src, name in spec.event_types.items())
    return f"CAST(CASE WHEN event_type IS NULL THEN NULL {whens} ELSE {code['other']} END AS UTINYINT)"


def _life_sql(data: UsageData, spec: FeatureSpec, t: dict[str, str], dates: list[dt.date]) -> str:
    """Whole history before each date, for every user with an event before it: the last event (per type),
    the first, and the first activation event on or after signup; where the spec has lifetime or BG/NBD
    features, also events (per type), active days, value, the first active day and the user's second one,
    and the days from the first to the last active day (``span_days``) and from the first to the date
    (``age_days``).

    Each event goes to a bucket, the first date after it (a midnight, so a day lies in one bucket); bucket
    aggregates are folded into that date and every later one. For the lifetime features each event also
    goes to a word of 64 calendar days: a user's active days in a bucket and word are the bits of one
    UBIGINT, so distinct days are counted by ``bit_count`` over some 5 words per user and bucket instead
    of a hash of every (user, day).

    What is kept per event type (the last event, and the events for the lifetime features) is aggregated per
    user, bucket and type from the same scan, and pivoted after the fold: 2 aggregates over every event
    instead of two per type (at 50M events and 7 types, 2.6 s against 3.4 s for the whole statement).
    """
    E = qi(data.events.view)
    whens = " ".join(f"WHEN ts < {_date(d)} THEN {position}" for position, d in enumerate(sorted(dates), start=1))
    code = {name: i for i, name in enumerate(spec.type_names)}
    lifetime = spec.lifetime or spec.bgnbd_horizon_days is not None
    # What every spec reads, kept per group and folded with max or min: the last events, the first, activation.
    seen = [("last_event", "max", "ts"), ("first_ts", "min", "ts")]
    signup_join, signup_day = "", "NULL"
    if spec.activation_events:
        if spec.has_signup and data.accounts is not None:
            signup_join = (f"LEFT JOIN (SELECT user_id AS signup_user, CAST(signup_date AS DATE) AS signup_day "
                           f"FROM {qi(data.accounts.view)}) s ON s.signup_user = e.user_id")
            signup_day = "s.signup_day"
        kinds = ", ".join(str(code[spec.event_types.get(a, "other")]) for a in spec.activation_events)
        seen.append(("activation_day", "min",
                     f"CASE WHEN type_name IN ({kinds}) AND (signup_day IS NULL OR day >= signup_day) THEN day END"))
    per_group = [f"{how}({expression}) AS {qi(name)}" for name, how, expression in seen]
    folded_seen = [f"{how}(b.{qi(name)}) AS {qi(name)}" for name, how, _ in seen]
    value = ", e.value" if spec.has_value else ""
    head = f"""
    CREATE OR REPLACE TEMP TABLE {t['life']} AS
    WITH ev AS (
        SELECT e.user_id, {_type_case(data, spec)} AS type_name, e."timestamp" AS ts, day, day_number,
               {signup_day} AS signup_day,
               CAST(floor(day_number / 64) AS BIGINT) AS word{value}
        FROM (SELECT *, CAST("timestamp" AS DATE) AS day,
                     CAST("timestamp" AS DATE) - DATE '1970-01-01' AS day_number FROM {E}) e {signup_join}
        WHERE e."timestamp" < {_midnight(max(dates))}),"""
    if not lifetime:
        return _with_types(spec, t, whens, head + f"""
    buckets AS (
        SELECT user_id, CASE {whens} END AS bucket, {', '.join(per_group)} FROM ev GROUP BY ALL)""", f"""
    SELECT b.user_id, o.observation_date, {', '.join(folded_seen)}
    FROM buckets b JOIN {t['obs']} o ON o.position >= b.bucket
    GROUP BY b.user_id, o.observation_date""", lifetime=False)

    sums = ["n"]
    # A group's first and last days are those of its first and last events (``first_ts``, ``last_event``),
    # which every spec keeps: taken from them, not by two more aggregates over every event.
    per_word = ["CAST(count(*) AS DOUBLE) AS n",
                "bit_or(CAST(1 AS UBIGINT) << CAST(day_number - 64 * word AS UBIGINT)) AS bits"]
    if spec.has_value:
        sums += ["value_sum", "value_n"]
        per_word += ["sum(value) AS value_sum", "CAST(count(value) AS DOUBLE) AS value_n"]
    folded = ", ".join(f"sum(b.{c}) AS {c}" for c in sums)

    # The lowest set bit of a non-zero UBIGINT, 0-based: the bits below it, counted. DuckDB evaluates
    # both branches of a CASE, so a zero (a first word with one bit, cleared) is made 1 to stay in range.
    def lowest(bits: str) -> str:
        x = f"greatest({bits}, CAST(1 AS UBIGINT))"
        return f"bit_count(({x} & ((~{x}) + CAST(1 AS UBIGINT))) - CAST(1 AS UBIGINT))"

    return _with_types(spec, t, whens, head + f"""
    words AS (
        SELECT user_id, CASE {whens} END AS bucket, word, {', '.join(per_word + per_group)} FROM ev GROUP BY ALL),
    buckets AS (
        SELECT user_id, bucket, {', '.join(f"sum({c}) AS {c}" for c in sums)},
               CAST(sum(bit_count(bits)) AS DOUBLE) AS active, CAST(min(first_ts) AS DATE) AS first_day,
               CAST(max(last_event) AS DATE) AS last_day, {', '.join(f.replace('b.', '', 1) for f in folded_seen)}
        FROM words b GROUP BY ALL),
    seconds AS (  -- the second active day: in the first word if it has two bits, else the next word's first
        SELECT user_id, CASE WHEN bit_count(bits[1]) >= 2
            THEN 64 * word[1] + {lowest("(bits[1] & (bits[1] - CAST(1 AS UBIGINT)))")}
            ELSE 64 * word[2] + {lowest("bits[2]")} END AS second_number
        FROM (SELECT user_id, min(word, 2) AS word, arg_min(bits, word, 2) AS bits  -- the first two words
              FROM (SELECT user_id, word, bit_or(bits) AS bits FROM words GROUP BY ALL) GROUP BY user_id)),
    second_days AS (
        SELECT user_id, DATE '1970-01-01' + CAST(second_number AS INTEGER) AS second_day FROM seconds
        WHERE second_number IS NOT NULL)""", f"""
    SELECT b.user_id, o.observation_date, {folded}, sum(b.active) AS active, min(b.first_day) AS first_day,
           any_value(s.second_day) AS second_day,
           CAST(date_diff('day', min(b.first_day), max(b.last_day)) AS DOUBLE) AS span_days,
           CAST(date_diff('day', min(b.first_day), o.observation_date) AS DOUBLE) AS age_days,
           {', '.join(folded_seen)}
    FROM buckets b JOIN {t['obs']} o ON o.position >= b.bucket LEFT JOIN second_days s USING (user_id)
    GROUP BY b.user_id, o.observation_date""", lifetime=True)


def _with_types(spec: FeatureSpec, t: dict[str, str], whens: str, ctes: str, whole: str, *, lifetime: bool) -> str:
    """:func:`_life_sql`'s statement from its common tables (``ctes``, after ``WITH``) and its query of every
    user's whole history at each date (``whole``), with what is kept per event type joined: the last event of
    each type, and with ``lifetime`` the events of each type (0 where there were none)."""
    if not spec.type_names:
        return f"{ctes}{whole}"
    code = {name: i for i, name in enumerate(spec.type_names)}
    per_group, pivot = ["max(ts) AS last"], [f"max(CASE WHEN type_name = {code[n]} THEN last END) AS {qi(f'last_{n}')}"
                                             for n in spec.type_names]
    columns = [f"p.{qi(f'last_{n}')}" for n in spec.type_names]
    if lifetime:
        per_group.append("CAST(count(*) AS DOUBLE) AS n")
        pivot += [f"sum(CASE WHEN type_name = {code[n]} THEN n END) AS n_{code[n]}" for n in spec.type_names]
        columns += [f"coalesce(p.n_{code[n]}, 0) AS n_{code[n]}" for n in spec.type_names]
    return f"""{ctes},
    typed AS (
        SELECT user_id, CASE {whens} END AS bucket, type_name, {', '.join(per_group)}
        FROM ev WHERE type_name IS NOT NULL GROUP BY ALL),
    per_type AS (
        SELECT b.user_id, o.observation_date, {', '.join(pivot)}
        FROM typed b JOIN {t['obs']} o ON o.position >= b.bucket GROUP BY b.user_id, o.observation_date),
    whole AS ({whole})
    SELECT w.*, {', '.join(columns)} FROM whole w LEFT JOIN per_type p USING (user_id, observation_date)"""


def _bgnbd_params_sql(data: UsageData, t: dict[str, str]) -> str:
    """BG/NBD fitted at each date on every user's history before it; its parameters as a small table."""
    from churnml.engines import _lifetime

    summaries = data.backend.sql(f"""
        SELECT observation_date, active - 1 AS x, span_days AS t_x, age_days AS "T", count(*) AS n
        FROM {t['life']} GROUP BY ALL ORDER BY ALL""").to_arrow_table().to_pandas()
    params = _lifetime.fit_bgnbd_by_date(summaries)
    columns = ", ".join(f"bg_{k}" for k in _lifetime.PARAMS)
    rows = ", ".join(f"({_date(d)}, {', '.join(_float(p.get(k) if p else None) for k in _lifetime.PARAMS)})"
                     for d, p in params.items())
    body = (f"SELECT * FROM (VALUES {rows}) v(observation_date, {columns})" if rows else
            "SELECT CAST(NULL AS DATE) AS observation_date, "
            + ", ".join(f"CAST(NULL AS DOUBLE) AS bg_{k}" for k in _lifetime.PARAMS) + " LIMIT 0")
    return f"CREATE OR REPLACE TEMP TABLE {t['bgnbd']} AS {body}"


def _float(value: float | None) -> str:
    return "CAST(NULL AS DOUBLE)" if value is None else f"CAST({float(value)!r} AS DOUBLE)"


def _islands_sql(S: str, target: str, gap: int, columns: tuple[str, ...]) -> str:
    """Merge a user's subscriptions that follow each other within ``gap`` days into coverages, as ``target``."""
    return f"CREATE OR REPLACE TEMP TABLE {target} AS {islands_query(S, gap, columns, DUCKDB)}"


def _keys_sql(data: UsageData, definition: ChurnDefinition, t: dict[str, str]) -> str:
    if isinstance(definition, InactivityChurn):
        signup = ""
        if data.accounts is not None and "signup_date" in data.accounts.columns:
            signup = (f" AND NOT EXISTS (SELECT 1 FROM {qi(data.accounts.view)} a WHERE a.user_id = g.user_id "
                      "AND a.signup_date >= g.observation_date)")
        return (f"CREATE OR REPLACE TEMP TABLE {t['keys']} AS SELECT g.user_id, g.observation_date "
                f"FROM {t['agg']} g WHERE g.recent_events > 0{signup}")
    return (f"CREATE OR REPLACE TEMP TABLE {t['keys']} AS SELECT DISTINCT i.user_id, o.observation_date "
            f"FROM {t['islands']} i JOIN {t['obs']} o ON i.cover_start < o.observation_date "
            "AND i.cover_stop > o.observation_date")


def _aggregates(data: UsageData, spec: FeatureSpec, t: dict[str, str]) -> Aggregates:
    """Where this engine keeps what the shared features read: the pivot ``g`` of :func:`_aggregate_sql`
    (counts and bitmaps of active days in the recent windows) and the whole history ``l`` of
    :func:`_life_sql` (the last and first events, activation, the lifetime sums)."""
    L = spec.lookback_days
    words = -(-L // _WORD)
    code = {name: i for i, name in enumerate(spec.type_names)}
    value_has_nulls = _value_has_nulls(data)
    joins = [f"LEFT JOIN {t['agg']} g USING (user_id, observation_date)",
             f"LEFT JOIN {t['life']} l USING (user_id, observation_date)"]

    def g(column: str) -> str:
        return f"g.{qi(column)}"

    def events(kind: str | None) -> str:
        return "events" if kind is None else kind

    def active(window: int) -> str:
        return " + ".join(f"bit_count(coalesce(g.active_bits_{j}, CAST(0 AS UBIGINT)) & {_mask(window, j)})"
                          for j in range(words))

    # The oldest active day in the lookback is the oldest bit set (bit_position counts from the
    # word's highest bit, 1-based; 0 where no bit is set).
    oldest = " ".join(f"WHEN g.active_bits_{j} <> 0 THEN {j * _WORD + _WORD + 1} - "
                      f"bit_position('1'::BIT, CAST(g.active_bits_{j} AS BIT))" for j in reversed(range(words)))
    return Aggregates(
        joins=joins,
        last=lambda kind: f"l.{qi('last_event' if kind is None else f'last_{kind}')}",
        first_ts="l.first_ts",
        count=lambda kind, w: g(f"count_{events(kind)}_{w}d"),
        previous=lambda kind, w: g(f"previous_count_{events(kind)}_{w}d"),
        active=active,
        value_sum=lambda w: g(f"value_sum_{w}d"),
        # Without a missing value the count of values is the count of events, which the pivot has anyway.
        value_n=lambda w: g(f"value_n_{w}d" if value_has_nulls else f"count_events_{w}d"),
        oldest_active=f"(CASE {oldest} END)",
        activation_day="l.activation_day",
        life_events=lambda kind: "l.n" if kind is None else f"l.n_{code[kind]}",
        life=lambda key: f"l.{key}",
        bgnbd=t["bgnbd"])


def _assemble(data: UsageData, spec: FeatureSpec, t: dict[str, str]) -> tuple[list[str], list[str]]:
    """SELECT items in the spec's feature order, and the joins they need."""
    subscriptions = None
    if spec.has_subscriptions:
        assert data.subscriptions is not None
        subscriptions = (t["keys"], qi(data.subscriptions.view), t["islands"], "mrr" in data.subscriptions.columns)
    accounts = qi(data.accounts.view) if data.accounts is not None else None
    return feature_items(spec, _aggregates(data, spec, t), DUCKDB, accounts=accounts, subscriptions=subscriptions)


def truncated(data: UsageData, cutoff: dt.date) -> UsageData:
    """``data`` as it was known at the midnight ``cutoff``: events before it, subscriptions started before it
    (one ending at or after it still running, its end reason unknown), accounts signed up before it.

    The same backend and reports; only the views differ, so nothing is copied.
    """
    import dataclasses

    at = f"CAST({_date(cutoff)} AS TIMESTAMP)"

    def view(table: LoadedTable, select: str, where: str) -> LoadedTable:
        name = fresh_name(f"{table.view}_until")
        data.backend.execute(f"CREATE OR REPLACE TEMP VIEW {qi(name)} AS SELECT {select} FROM {qi(table.view)} "
                             f"WHERE {where}")
        return dataclasses.replace(table, view=name)

    events = view(data.events, "*", f'"timestamp" < {at}')
    subscriptions = data.subscriptions
    if subscriptions is not None:
        replaced = []
        if "end" in subscriptions.columns:
            replaced.append(f'CASE WHEN "end" < {at} THEN "end" END AS "end"')
            if "end_reason" in subscriptions.columns:
                replaced.append(f'CASE WHEN "end" < {at} THEN end_reason END AS end_reason')
        select = f"* REPLACE ({', '.join(replaced)})" if replaced else "*"
        subscriptions = view(subscriptions, select, f"start < {at}")
    accounts = data.accounts
    if accounts is not None and "signup_date" in accounts.columns:
        accounts = view(accounts, "*", f"signup_date IS NULL OR signup_date < {at}")
    return dataclasses.replace(data, events=events, subscriptions=subscriptions, accounts=accounts)


class DuckDBEngine:
    """The in-process engine: data loaded by :func:`churnml.load`, features as pandas.

    Beyond the :class:`~churnml.engines.Engine` contract it offers what only DuckDB does
    here (scoring, backtests, evaluation and analytics run on it): the features as a
    temporary table to stream (:func:`materialised`), data as known at a cutoff
    (:func:`truncated`) and the subscriptions' coverages as a table (:meth:`islands_table`).
    """

    name = "duckdb"
    loader = "churnml.load"
    fit_statistics = staticmethod(fit_statistics)
    event_types = staticmethod(event_types)
    time_span = staticmethod(time_span)
    input_counts = staticmethod(input_counts)
    compute = staticmethod(compute)
    materialised = staticmethod(materialised)
    truncated = staticmethod(truncated)

    def handles(self, data: Any) -> bool:
        from churnml.contract import UsageData
        from churnml.features import TrainingSet

        return isinstance(data, (UsageData, TrainingSet))

    def to_pandas(self, frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
        return frame  # compute gives pandas already, ordered and typed

    def training_set(self, frame: pd.DataFrame, *, observation_dates: list[dt.date], definition: ChurnDefinition,
                     builder: Any) -> Any:
        from churnml.features import TrainingSet

        return TrainingSet(frame=frame, observation_dates=observation_dates, definition=definition, builder=builder)

    def trainer_class(self) -> type:
        from churnml.modeling import ChurnTrainer

        return ChurnTrainer

    def islands_table(self, data: UsageData, target: str, gap: int) -> None:
        """The coverages of ``data``'s subscriptions (within ``gap`` days merged) as the temporary table ``target``."""
        assert data.subscriptions is not None
        data.backend.execute(_islands_sql(qi(data.subscriptions.view), target, gap, data.subscriptions.columns))


ENGINE = DuckDBEngine()
