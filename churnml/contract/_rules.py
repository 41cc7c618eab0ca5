"""The data contract's rules and the judgement of a load, the same on every engine.

What churnml's three tables must hold (:data:`EVENTS`, :data:`SUBSCRIPTIONS`,
:data:`ACCOUNTS`), how a user's mapping entry becomes a logical column
(:func:`resolve_column`), the text patterns both engines read timestamps and ids
with, and the judgement of a load: the engine counts the bad rows of each check
in one pass, and :func:`assess`, :func:`judge_outliers`, :func:`judge_summary` and
:func:`apply_duplicate_policy` turn the counts into errors (naming the column, the
number of bad rows and an example), drops and notes. The one load plan
(:func:`churnml.contract._loading.load_with`) runs the counts on an engine and calls these;
no engine decides anything this module decides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from churnml._duckdb import quote_identifier
from churnml.errors import (ConfigError, DataValidationError, DuplicateKeyError, DuplicateRowsError, EmptySourceError,
                            InvalidIntervalError, InvalidValueError, MappingError, MissingColumnError,
                            MixedTimezoneError, NonNumericValueError, NullUserIdError, OutlierTimestampError,
                            SchemaError, TimestampParseError)

if TYPE_CHECKING:
    from churnml.contract._sources import Source

DuplicatePolicy = Literal["keep", "drop", "error"]
OutlierPolicy = Literal["error", "drop", "keep"]
ColumnKind = Literal["id", "timestamp", "number", "text"]
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# A clock time followed by Z, +hh[:mm], -hh[:mm] or UTC: the text carries its offset.
AWARE_PATTERN = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?|UTC|utc)$"


# Dates written with the day and month as two small numbers: 03/04/2024 is 3 April or 4 March.
DAY_MONTH_PATTERN = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}([ T]|$)"


# Ids in untyped text (CSV) that are whole numbers: 17, +17, 17.0 (the integer part is the id).
WHOLE_PATTERN = r"^[+-]?[0-9]+(\.0*)?$"
INTEGER_PART = r"^([+-]?[0-9]+)"


# Leading zeros make an id text ('007' is not '7').
LEADING_ZERO = r"^[+-]?0[0-9]"


# Text timestamps that end in a word after the clock (AM/PM, a zone name such as EST): DuckDB and Spark drop
# the word without a sign, so 05:00 PM would read as 05:00 and 10:00 EST as naive 10:00. Refused unless
# time_format says how to read them (Z and UTC are offsets: AWARE_PATTERN).
WORDED_PATTERN = r"[0-9]\s*[A-Za-z][A-Za-z/_]*$"


# Text timestamps that are only digits: epoch seconds or milliseconds, most likely.
EPOCH_PATTERN = r"^[0-9]{9,13}([.][0-9]+)?$"


# An id that is only whitespace (spaces, tabs, line breaks, non-breaking spaces), or a placeholder an export
# wrote for a missing value (NULL, None, NaN, N/A, #N/A, nil, undefined, in any case), is no id.
BLANK_PATTERN = (r"^[\s\x{00A0}\x{FEFF}]*((?i:null|none|nan|n/a|#n/a|nil|undefined)[\s\x{00A0}\x{FEFF}]*)?$")


# Numbers beyond this magnitude are refused: no revenue or MRR is that large, and sums of them overflow.
MAX_MAGNITUDE = 1e15


# Float ids beyond 2**53 cannot be told apart (the float has lost digits).
EXACT_FLOAT_ID = 2 ** 53


# Outlier timestamps: outside [p01 - width, p99 + width] of the events, width = max(p99 - p01, 365 days).
OUTLIER_QUANTILES = (0.01, 0.99)
OUTLIER_MIN_WIDTH = dt.timedelta(days=365)


@dataclass(frozen=True)
class Logical:
    name: str
    kind: ColumnKind
    required: bool


@dataclass(frozen=True)
class TableContract:
    table: str
    columns: tuple[Logical, ...]
    keep_other_columns: bool = False  # accounts keep attributes
    unique_user: bool = False  # one account row per user
EVENTS = TableContract("events", (
    Logical("user_id", "id", True),
    Logical("timestamp", "timestamp", True),
    Logical("event_type", "text", False),
    Logical("value", "number", False),
))
SUBSCRIPTIONS = TableContract("subscriptions", (
    Logical("user_id", "id", True),
    Logical("start", "timestamp", True),
    Logical("end", "timestamp", False),
    Logical("mrr", "number", False),
    Logical("end_reason", "text", False),
    Logical("plan", "text", False),
))
ACCOUNTS = TableContract("accounts", (
    Logical("user_id", "id", True),
    Logical("signup_date", "timestamp", False),
), keep_other_columns=True, unique_user=True)


def with_signup_note(events: Any, before: int, users: int) -> Any:
    """The events with the count of events before their user's ``signup_date`` noted, and the rule stated."""
    if not before:
        return events
    note = (f"{before:,} events of {users:,} users are before the user's signup_date (kept; the rule: a user "
            "is eligible at an observation date only if signed up before it, so these users have no rows at dates "
            "before their signup)")
    return dataclasses.replace(events, report=dataclasses.replace(events.report, notes=events.report.notes + (note,)))


@dataclass
class Mapped:
    """One logical column: where it comes from and how it is converted."""

    logical: Logical
    label: str  # what the user calls it: the source column or the expression
    raw: str  # SQL over the source row
    source_type: str
    converted: str = ""
    checks: dict[str, str] = field(default_factory=dict)  # name -> SQL condition of bad rows
    # Where the conversion raises on values its checks refuse (a float id past 2**63 or NaN in CAST): the same
    # conversion written so that it cannot (null there instead), equal to ``converted`` on every value the
    # checks let stand. What is computed over the source before the checks are judged uses it.
    guarded: str = ""


def validate_options(source: Source) -> None:
    name = type(source).__name__
    if source.duplicates not in ("keep", "drop", "error"):
        raise ConfigError(f"The 'duplicates' parameter of {name} must be one of 'keep', 'drop', "
                          f"'error'. Got {source.duplicates!r} instead.")
    if source.outliers not in ("error", "drop", "keep"):
        raise ConfigError(f"The 'outliers' parameter of {name} must be one of 'error', 'drop', "
                          f"'keep'. Got {source.outliers!r} instead.")
    for option in ("drop_null_user_ids",):
        if not isinstance(getattr(source, option), bool):
            raise ConfigError(f"The {option!r} parameter of {name} must be true or false. "
                              f"Got {getattr(source, option)!r} instead.")
    for option in ("where", "time_format"):
        value = getattr(source, option)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"The {option!r} parameter of {name} must be a non-empty string. "
                              f"Got {value!r} instead.")
    for logical in source.contract.columns:
        value = getattr(source, logical.name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"The {logical.name!r} parameter of {name} must be a column name or "
                              f"a SQL expression. Got {value!r} instead.")


def resolve_column(logical: Logical, given: str | None, columns: Collection[str], table: str,
             type_of: Callable[[str], str], quote: Callable[[str], str] = quote_identifier) -> Mapped | None:
    """Turn a mapping entry into SQL, or None for an optional column that is absent.

    ``type_of(sql)`` is the engine's type of an expression over the source (it raises when the
    expression does not compile); ``quote`` quotes a column name in the engine's SQL.
    """
    if given is None:
        if logical.name in columns:
            given = logical.name
        elif logical.required:
            raise_missing(logical.name, logical.name, columns, table)
        else:
            return None
    if given in columns:
        raw = quote(given)
    elif IDENTIFIER.match(given):
        raise_missing(given, logical.name, columns, table)
    else:
        raw = f"({given})"
    try:
        source_type = type_of(raw)
    except Exception as error:  # the engines' binder and parser errors have no common base
        raise MappingError(
            f"The {table} mapping {logical.name} = {given!r} does not compile: "
            f"{first_line(error)}. Columns in the source: {listed(columns)}.") from error
    return Mapped(logical, given, raw, source_type)


def raise_missing(name: str, logical: str, columns: Collection[str], table: str) -> None:
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    if not close:
        close = [c for c in columns if c.lower() == name.lower()]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise MissingColumnError(
        f"The {table} source has no column {name!r} for {logical!r}.{hint} "
        f"Columns in the source: {listed(columns)}. Fix: map it, e.g. {logical}='<column>'.")


def listed(columns: Collection[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]


def check_scalar_id(column: str, source_type: str) -> None:
    """Ids are numbers or text; a list, struct or map would be read as its text ('[1, 2]') and make users up."""
    kind = source_type.strip().lower()
    if kind.endswith("]") or kind.startswith(("struct", "map", "array", "list", "union")):
        raise SchemaError(f"Column {column!r} (user_id) has type {source_type}, not a number or text: each row "
                          "would become the text of the whole value (e.g. '[1, 2]'). Fix: map user_id to one "
                          f"element, e.g. user_id='{column}[1]' (DuckDB, 1-based) or '{column}.id' for a struct.")


def number_checks(m: Mapped) -> None:
    """Checks on a converted number, the same SQL on both engines: not finite or beyond
    :data:`MAX_MAGNITUDE`, and a negative MRR.

    Both engines order NaN above every number, so ``NOT (abs(x) <= m)`` holds for NaN and the infinities
    as for numbers past ``m``, with no ``isnan`` of its own (which made this check 1.5x dearer at 50M rows).
    """
    value = m.converted
    m.checks["non_finite"] = f"({value} IS NOT NULL AND NOT (abs({value}) <= {MAX_MAGNITUDE:.0e}))"
    if m.logical.name == "mrr":
        m.checks["negative"] = f"({value} IS NOT NULL AND {value} < 0)"


@dataclass
class Assessment:
    notes: list[str]
    dropped: dict[str, int]
    drop_null_users: bool  # rows without a user id leave (drop_null_user_ids=True)


def assess(source: Source, mapped: dict[str, Mapped], counts: dict[tuple[str, str], int], rows_read: int,
            rows_after_where: int, described: str, *, example: Callable[[str, str], Any],
            text_id: Callable[[str], str], aware_utc: Callable[[str], str] | None) -> Assessment:
    """Judge one pass of check counts, the same way on every engine: raise the problems found (the first, with
    the others attached), else the notes, the drops and whether rows without a user id leave.

    ``example(condition, expression)`` returns ``expression`` of one row kept by ``where`` that meets
    ``condition``; ``text_id(raw)`` and ``aware_utc(raw)`` are the engine's SQL for a text id and for text
    timestamps with offsets in UTC (None: the engine reads offsets by itself).
    """
    table = source.contract.table
    if rows_read == 0:
        raise EmptySourceError(f"The {table} source {described} has no rows.",
                               column="*", n_bad=0)
    if rows_after_where == 0:
        raise EmptySourceError(
            f"The {table} filter where={source.where!r} removed all {rows_read:,} rows of "
            f"{described}; nothing is left to load. Fix: check the filter.", column="*", n_bad=0)

    notes: list[str] = []
    problems: list[DataValidationError] = []
    user = mapped["user_id"]
    kept = ""  # the null-user filter, once rows without a user id are dropped

    # user ids: whole numbers stored as floats become integer ids; others become text.
    if counts.get(("user_id", "inexact"), 0):
        bad = example(user.checks["inexact"], user.raw)
        problems.append(InvalidValueError(
            f"{where_text(table, user)} holds {counts[('user_id', 'inexact')]:,} ids beyond 2**53 stored as "
            f"{user.source_type.upper()}, e.g. {bad!r}: a float has lost their last digits, so different users "
            "may share one. Fix: export the ids as text or as integers.",
            column=user.label, n_bad=counts[("user_id", "inexact")], example=bad))
    elif counts.get(("user_id", "non_integral"), 0):
        user.converted = text_id(user.raw)
        notes.append(f"{named(user)} holds non-integral {user.source_type.upper()} values: "
                     "read as text ids")
    elif ("user_id", "non_integral") in counts:
        notes.append(f"{named(user)} holds whole numbers stored as {user.source_type.upper()}: "
                     "read as integer ids")
    if counts.get(("user_id", "beyond_int64"), 0):
        user.converted = text_id(user.raw)
        notes.append(f"{named(user)} holds {counts[('user_id', 'beyond_int64')]:,} integers beyond the 64-bit "
                     "range: read as text ids")
    if ("user_id", "not_whole") in counts:
        if counts[("user_id", "not_whole")]:
            user.converted = text_id(user.raw)
            notes.append(f"{named(user)} is text that is not all whole numbers (without leading "
                         "zeros): read as text ids, "
                         "as written")
        else:
            notes.append(f"{named(user)} is text holding whole numbers: read as integer ids")
    n_null_users = counts[("user_id", "null")]
    dropped: dict[str, int] = {}
    if source.where is not None and rows_read > rows_after_where:
        dropped[f"where {source.where}"] = rows_read - rows_after_where
    if n_null_users:
        if source.drop_null_user_ids:
            dropped["null user_id (drop_null_user_ids=True)"] = n_null_users
            kept = f"{user.converted} IS NOT NULL AND "
        else:
            problems.append(NullUserIdError(
                f"{where_text(table, user)} is null in {n_null_users:,} of {rows_after_where:,} "
                f"rows. Fix: drop them with where=\"{user.label} IS NOT NULL\" or "
                "drop_null_user_ids=True (either way the report counts them).",
                column=user.label, n_bad=n_null_users))

    for name, m in mapped.items():
        got = {check: counts.get((name, check), 0) for check in m.checks}
        if m.logical.kind == "timestamp":
            if "wrong_type" in got:
                if got["wrong_type"]:
                    base = m.source_type.split("(")[0].upper()
                    hint = (" If it holds epoch seconds, map it as 'to_timestamp(<column>)' (DuckDB) or "
                            "'timestamp_seconds(<column>)' (Spark)."
                            if any(word in base for word in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "LONG", "REAL"))
                            else "")
                    problems.append(TimestampParseError(
                        f"Column {m.label!r} ({m.logical.name}) has type {m.source_type}, which is not a "
                        f"timestamp.{hint}", column=m.label, n_bad=got["wrong_type"]))
                    continue
                if not m.logical.required:
                    notes.append(f"{named(m)} is empty in every row: read as missing")
            # Refused even where DuckDB would read them ('24-01-05' as the year 24): the order is a guess.
            if got.get("day_month") and got.get("unparsed", 0) <= got["day_month"]:
                bad = example(kept + m.checks["day_month"], m.raw)
                problems.append(TimestampParseError(
                    f"{where_text(table, m)} has {got['day_month']:,} of {rows_after_where:,} dates whose day "
                    f"and month order is ambiguous, e.g. {bad!r} (which number is the day, which the month, which the "
                    "year?); churnml does not guess "
                    "it. Fix: pass time_format='%d/%m/%Y' (day first) or time_format='%m/%d/%Y' (month first), "
                    "adding the time if there is one, e.g. '%d/%m/%Y %H:%M'.",
                    column=m.label, n_bad=got["day_month"], example=bad))
                continue
            if got.get("aware") and got.get("naive"):
                aware_example = example(kept + m.checks["aware"], m.raw)
                naive_example = example(kept + m.checks["naive"], m.raw)
                problems.append(MixedTimezoneError(
                    f"{where_text(table, m)} mixes {got['aware']:,} time-zone-aware timestamps "
                    f"(e.g. {aware_example!r}) with {got['naive']:,} naive ones (e.g. "
                    f"{naive_example!r}). Fix: give them all an offset, or map "
                    f"{name} to an expression that makes them uniform.",
                    column=m.label, n_bad=min(got["aware"], got["naive"]), example=aware_example))
            elif got.get("aware"):
                if aware_utc is not None:
                    m.converted = aware_utc(m.raw)
                notes.append(f"{named(m)} is text with UTC offsets: converted to UTC")
            if got.get("unparsed"):
                bad = example(kept + m.checks["unparsed"], m.raw)
                problems.append(TimestampParseError(
                    f"{where_text(table, m)} has {got['unparsed']:,} of {rows_after_where:,} rows "
                    f"that do not parse as a timestamp, e.g. {bad!r}."
                    + (f" {got['day_month']:,} of them put the day and month in an order churnml does not "
                       "guess (03/04/2024)." if got.get("day_month") else "")
                    + (f" {got['epoch_like']:,} of them are only digits: if they are epoch seconds, map "
                       f"{name}='to_timestamp(CAST(<column> AS BIGINT))' (DuckDB) or "
                       f"'timestamp_seconds(CAST(<column> AS BIGINT))' (Spark)." if got.get("epoch_like") else "")
                    + (f" {got['worded']:,} of them end in a word (AM/PM, or a zone name such as EST) that would be "
                       "dropped without a sign: pass time_format (e.g. '%Y-%m-%d %I:%M:%S %p'), or write zones as "
                       "offsets (+01:00)." if got.get("worded") else "")
                    + " Fix: pass time_format='<strptime format>' or drop them with where=.",
                    column=m.label, n_bad=got["unparsed"], example=bad))
            if got["null"] and m.logical.required:
                problems.append(TimestampParseError(
                    f"{where_text(table, m)} is empty in {got['null']:,} of {rows_after_where:,} "
                    f"rows. Fix: drop them with where=\"{m.label} IS NOT NULL\".",
                    column=m.label, n_bad=got["null"]))
            if m.source_type == "TIMESTAMP WITH TIME ZONE":
                notes.append(f"{named(m)} is time-zone-aware: converted to UTC")
        elif m.logical.kind == "number":
            if got.get("non_numeric"):
                bad = example(kept + m.checks["non_numeric"], m.raw)
                problems.append(NonNumericValueError(
                    f"{where_text(table, m)} has {got['non_numeric']:,} of {rows_after_where:,} "
                    f"rows that are not numbers, e.g. {bad!r}. Fix: map {name} to a numeric "
                    "SQL expression, or drop those rows with where=.",
                    column=m.label, n_bad=got["non_numeric"], example=bad))
            if got.get("blank"):
                notes.append(f"{named(m)} is text holding numbers; {got['blank']:,} blank "
                             "values read as missing")
            if got.get("non_finite"):
                bad = example(kept + m.checks["non_finite"], m.raw)
                problems.append(InvalidValueError(
                    f"{where_text(table, m)} has {got['non_finite']:,} of {rows_after_where:,} rows that are "
                    f"infinite, NaN or beyond {MAX_MAGNITUDE:.0e} in size, e.g. {bad!r}. Fix: correct them, or "
                    "drop them with where= (e.g. where=\"abs(<column>) < 1e15\"), or map them to null with a "
                    "SQL expression.", column=m.label, n_bad=got["non_finite"], example=bad))
            if got.get("negative"):
                bad = example(kept + m.checks["negative"], m.raw)
                problems.append(InvalidValueError(
                    f"{where_text(table, m)} is negative in {got['negative']:,} of {rows_after_where:,} rows, "
                    f"e.g. {bad!r}; a monthly recurring revenue is zero or more. Fix: correct them, or drop "
                    "them with where=.", column=m.label, n_bad=got["negative"], example=bad))
            if m.source_type.upper() == "BOOLEAN":
                notes.append(f"{named(m)} is boolean: read as 1.0 / 0.0")

    if problems:
        first = problems[0]
        first.others = [str(p.args[0]) for p in problems[1:]]
        raise first
    return Assessment(notes=notes, dropped=dropped, drop_null_users=bool(kept))


@dataclass(frozen=True)
class Bounds:
    """Where a table's main timestamp is believable: ``low`` .. ``high`` (epoch microseconds, None: open)."""

    column: str
    low: int | None
    high: int | None
    description: str  # what lies outside, for the messages
    reason: str  # the drop reason's wording
    note_only: bool = False  # counted in the notes whatever ``outliers`` says

    def condition(self, micros_sql: str) -> str:
        parts = ([f"{micros_sql} < {self.low}"] if self.low is not None else []) + (
            [f"{micros_sql} > {self.high}"] if self.high is not None else [])
        return "(" + " OR ".join(parts) + ")"
EPOCH = dt.datetime(1970, 1, 1)


def micros(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def from_micros(value: int) -> dt.datetime:
    """The timestamp of epoch microseconds, clamped to what Python's datetime holds (years 1 .. 9999)."""
    low, high = micros(dt.datetime.min), micros(dt.datetime.max)
    return EPOCH + dt.timedelta(microseconds=min(max(int(value), low), high))
OUTLIER_COLUMN = {"events": "timestamp", "subscriptions": "start"}


def outlier_bounds(source: Source, mapped: dict[str, Mapped], not_after: dt.datetime | None,
                   span: Callable[[str], tuple[Any, Any]], quantiles: Callable[[str], tuple[Any, Any]]) -> list[Bounds]:
    """The believable span of the main timestamp, the same rule on every engine.

    Events' ``timestamp`` and subscriptions' ``start``: ``[p01 - width, p99 + width]`` with
    ``width = max(p99 - p01, 365 days)`` (``span(column)`` gives its first and last value, and
    ``quantiles(column)`` p01 and p99, in epoch microseconds over the rows kept so far); rows outside
    follow ``outliers=``. A column spanning at most 365 days has nothing outside (``low <= p01 - (last -
    first) <= first``, and likewise at the top), so its quantiles are not asked for. Subscriptions
    starting more than a day after the last event (``not_after``, when loaded with the events) are
    counted in the notes: legitimate in a log cut at a date, so never refused.
    """
    table = source.contract.table
    out: list[Bounds] = []
    column = OUTLIER_COLUMN.get(table)
    min_width = OUTLIER_MIN_WIDTH // dt.timedelta(microseconds=1)
    first, last = span(column) if column in mapped else (None, None)
    if first is not None and int(last) - int(first) > min_width:
        q = quantiles(column)
        p01, p99 = int(q[0]), int(q[1])
        width = max(p99 - p01, min_width)
        low, high = p01 - width, p99 + width
        out.append(Bounds(
            column, low, high,
            f"far outside the bulk of the {table} (the central 98% span {from_micros(p01):%Y-%m-%d} .. "
            f"{from_micros(p99):%Y-%m-%d}; believable: {from_micros(low):%Y-%m-%d} .. "
            f"{from_micros(high):%Y-%m-%d})",
            f"{column} far outside the bulk of the {table}"))
    if table == "subscriptions" and not_after is not None and "start" in mapped:
        limit = not_after + dt.timedelta(days=1)
        out.append(Bounds("start", None, micros(limit),
                           f"starting more than a day after the last event ({not_after:%Y-%m-%d %H:%M})",
                           "start after the last event", note_only=True))
    return out


def outlier_example(low: int | None, high: int | None, bounds: Bounds) -> str | None:
    """The most extreme timestamp outside ``bounds`` (from its epoch microseconds), as text."""
    pick = high if high is not None and bounds.high is not None and high > bounds.high else low
    return None if pick is None else from_micros(pick).isoformat(sep=" ")


def judge_outliers(source: Source, m: Mapped, bounds: Bounds, n_out: int, rows: int, example: Any,
                    dropped: dict[str, int], notes: list[str]) -> bool:
    """Refuse (``outliers='error'``), drop (counted; returns True) or keep (noted) the rows outside ``bounds``."""
    if not n_out:
        return False
    table = source.contract.table
    text = f"{where_text(table, m)} has {n_out:,} of {rows:,} rows {bounds.description}, e.g. {example!r}"
    if bounds.note_only:
        notes.append(f"{named(m)} has {n_out:,} of {rows:,} rows {bounds.description}, e.g. {example!r}: kept "
                     "(they count from their start on)")
        return False
    if source.outliers == "error":
        raise OutlierTimestampError(
            f"{text}. Fix: correct them, drop them with where=, or pass outliers='drop' (outliers = \"drop\" "
            f"under [{table}] in churnml.toml); the report counts them.",
            column=m.label, n_bad=n_out, example=example)
    if source.outliers == "drop":
        dropped[f"{bounds.reason} (outliers='drop')"] = n_out
        return True
    notes.append(f"{text}: kept (outliers='keep')")
    return False


def judge_summary(table: str, mapped: dict[str, Mapped], notes: list[str], *, null_counts: dict[str, int],
                   negative: int, backwards: int, repeated: int, backwards_example: Callable[[], Any],
                   repeated_example: Callable[[], Any]) -> None:
    """Notes and errors from the loaded table's counts, the same on every engine: missing optional values and
    negative values are noted; subscriptions ending before they start, and users repeated in a table that
    allows one row per user, raise (with an example fetched only then)."""
    for name, n in null_counts.items():
        if n:
            notes.append(f"{named(mapped[name])} is missing in {n:,} rows (kept)")
    if negative:
        notes.append(f"value is negative in {negative:,} rows (kept: returns, refunds, cancellations)")
    if backwards:
        example = backwards_example()
        raise InvalidIntervalError(
            f"The subscriptions source has {backwards:,} rows whose end "
            f"({mapped['end'].label!r}) is before their start ({mapped['start'].label!r}), "
            f"e.g. {example!r}. Fix: correct or filter them with where=.",
            column=mapped["end"].label, n_bad=backwards, example=example)
    if repeated:
        example = repeated_example()
        raise DuplicateKeyError(
            f"The {table} source has {repeated:,} extra rows for users that appear more than "
            f"once (user_id {mapped['user_id'].label!r}), e.g. {example!r}. Fix: keep one "
            "row per user (filter with where=, or deduplicate upstream).",
            column=mapped["user_id"].label, n_bad=repeated, example=example)


def apply_duplicate_policy(source: Source, duplicate_rows: int, example: Callable[[], Any], dropped: dict[str, int],
                            notes: list[str]) -> None:
    """``duplicates='error'`` raises (with ``example()``, one duplicated row); 'drop' records the drop; 'keep' a note."""
    if not duplicate_rows:
        return
    if source.duplicates == "error":
        row = example()
        raise DuplicateRowsError(
            f"The {source.contract.table} source has {duplicate_rows:,} exact duplicate rows, e.g. "
            f"{row!r}. Fix: duplicates='drop' to drop the extra copies, or "
            "duplicates='keep' to keep them (both are reported).",
            column="*", n_bad=duplicate_rows, example=row)
    if source.duplicates == "drop":
        dropped["exact duplicate rows (duplicates='drop')"] = duplicate_rows
    else:
        notes.append(f"{duplicate_rows:,} exact duplicate rows kept (duplicates='keep')")


def named(m: Mapped) -> str:
    """How notes name a column: the logical name, plus the source's when they differ."""
    return m.logical.name if m.label == m.logical.name else f"{m.logical.name} ({m.label!r})"


def where_text(table: str, m: Mapped) -> str:
    if m.label == m.logical.name:
        return f"Column {m.label!r} of the {table} source"
    return f"Column {m.label!r} ({m.logical.name}) of the {table} source"
