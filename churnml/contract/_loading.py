"""The plan of a load, written once: every engine loads a table through :func:`load_with`.

A load maps the user's columns onto the logical ones, plans each conversion and its
checks (:func:`plan_conversion`), counts every check in one pass, judges the counts
(:mod:`churnml.contract._rules`), bounds the main timestamp, counts duplicates, selects the
logical columns and summarises what it loaded. Only two things differ between engines,
and each engine supplies them: a :class:`LoadDialect` (how its SQL spells a type family, a
regular expression, a filtered count, epoch microseconds, a parse with a format) and a
:class:`LoadRun` (how it runs a query over the source and makes the loaded table). The
DuckDB ones are in :mod:`churnml.contract._sources`, Spark's in :mod:`churnml.engines.spark`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from churnml.contract._rules import (AWARE_PATTERN, BLANK_PATTERN, DAY_MONTH_PATTERN, EPOCH_PATTERN, EXACT_FLOAT_ID,
                                     INTEGER_PART, LEADING_ZERO, OUTLIER_COLUMN, OUTLIER_QUANTILES, WHOLE_PATTERN,
                                     WORDED_PATTERN, Mapped, apply_duplicate_policy, assess, check_scalar_id,
                                     first_line, judge_outliers, judge_summary, listed, number_checks, outlier_bounds,
                                     outlier_example, resolve_column, validate_options)
from churnml.errors import MappingError, NonNumericValueError

if TYPE_CHECKING:
    from churnml.contract._sources import Source

# The families of source types the plan tells apart (each engine names its own types):
# integers, integers wider than 64 bits, floats, decimals, decimals wider than 18 digits, timestamps (and
# dates), time-zone-aware timestamps, text, booleans, an all-null column, and anything else.
FAMILIES = ("integer", "wide_integer", "float", "decimal", "wide_decimal", "timestamp", "aware_timestamp", "text",
            "boolean", "null", "other")
NUMERIC_FAMILIES = ("integer", "wide_integer", "float", "decimal", "wide_decimal", "boolean")


@dataclass(frozen=True)
class LoadDialect:
    """What an engine's SQL spells its own way in a load; the plan is the same SQL otherwise."""

    name: str
    quote_identifier: Callable[[str], str]
    quote_literal: Callable[[str], str]
    text: str  # the text type of a CAST
    family: Callable[[str], str]  # a source type name -> one of FAMILIES
    matches: Callable[[str, str], str]  # text matches a regular expression (anywhere, as re.search)
    count_where: Callable[[str], str]  # the aggregate counting the rows where a condition is true
    is_true: Callable[[str], str]  # a condition that is true, not false or null
    epoch_micros: Callable[[str], str]  # a timestamp as epoch microseconds
    with_format: Callable[[str, str], str]  # text parsed with a strptime format, null where it does not parse
    unparsed_text_time: Callable[[str, str], str]  # (text, its "aware" condition) -> true where it does not parse
    to_utc: Callable[[str], str]  # a time-zone-aware timestamp column in UTC, naive
    aware_utc: Callable[[str], str] | None  # text with offsets in UTC (None: the engine's cast does it by itself)


def text_id(raw: str, d: LoadDialect) -> str:
    """A text id: the value as written; blank (only whitespace) is null."""
    text = f"CAST({raw} AS {d.text})"
    return f"CASE WHEN {d.matches(text, BLANK_PATTERN)} THEN NULL ELSE {text} END"


class NullCondition(str):
    """SQL that holds where ``of`` is missing: ``(<of> IS NULL)``, and counted over all rows as
    ``count(*) - count(<of>)``, valid SQL on both engines and with no filter evaluated per row (measured on
    DuckDB at 50M events: a pass with four such counts 0.83 s against 0.98 s; not measured on Spark)."""

    of: str

    def __new__(cls, of: str) -> NullCondition:
        condition = super().__new__(cls, f"({of} IS NULL)")
        condition.of = of
        return condition

    def __getnewargs__(self) -> tuple[str]:  # copies and pickles made again from ``of``
        return (self.of,)


def is_null(column: str) -> str:
    """A missing value of a column (SQL of it, in parentheses), written the same way by the checks and by the
    report's counts, so that a pass asking for both counts it once."""
    return NullCondition(column)


def plan_conversion(m: Mapped, time_format: str | None, untyped: bool, d: LoadDialect) -> None:
    """Fill in ``converted`` and ``checks`` from the column's kind and its source type's family.

    ``untyped``: the column is text only because the source has no types (CSV), so ids that
    are all whole numbers become integer ids, as they would from a typed source.
    """
    kind, raw, family = m.logical.kind, m.raw, d.family(m.source_type)
    literal = d.quote_literal
    trimmed = f"trim({raw})"
    blank = f"({raw} IS NOT NULL AND trim(CAST({raw} AS {d.text})) = '')"
    if kind == "id":
        check_scalar_id(m.label, m.source_type)
        blank = f"({raw} IS NOT NULL AND {d.matches(f'CAST({raw} AS {d.text})', BLANK_PATTERN)})"
        beyond = f"({raw} IS NOT NULL AND ({raw} > 9223372036854775807 OR {raw} < -9223372036854775808))"
        non_integral = f"({raw} IS NOT NULL AND {raw} <> floor({raw}))"
        if family in ("integer", "wide_integer"):
            m.converted = f"CAST({raw} AS BIGINT)"
            if family == "wide_integer":
                m.guarded = f"try_cast({raw} AS BIGINT)"
                m.checks["beyond_int64"] = beyond
            m.checks["null"] = is_null(raw)
        elif family == "wide_decimal":
            m.guarded = f"try_cast({raw} AS BIGINT)"
            m.checks["non_integral"] = non_integral
            m.checks["beyond_int64"] = beyond
            m.converted = f"CAST({raw} AS BIGINT)"  # revised once the checks have run
            m.checks["null"] = is_null(raw)
        elif family in ("float", "decimal"):
            m.guarded = f"try_cast({raw} AS BIGINT)"  # CAST raises on NaN, infinities, past 2**63
            m.checks["non_integral"] = non_integral
            m.checks["inexact"] = f"({raw} IS NOT NULL AND NOT (abs({raw}) <= {EXACT_FLOAT_ID}))"
            m.converted = f"CAST({raw} AS BIGINT)"  # revised once the checks have run
            m.checks["null"] = is_null(raw)
        elif family == "text" and untyped:
            integer = f"try_cast(regexp_extract({trimmed}, {literal(INTEGER_PART)}, 1) AS BIGINT)"
            whole = (f"({d.matches(trimmed, WHOLE_PATTERN)} AND {integer} IS NOT NULL "
                     f"AND NOT {d.matches(trimmed, LEADING_ZERO)})")
            m.checks["not_whole"] = f"({raw} IS NOT NULL AND NOT {blank} AND NOT {whole})"
            m.converted = integer  # revised once the checks have run
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
        else:
            m.converted = text_id(raw, d)
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "timestamp":
        if family in ("timestamp", "aware_timestamp"):
            m.converted = d.to_utc(raw) if family == "aware_timestamp" else f"CAST({raw} AS TIMESTAMP)"
            m.checks["null"] = is_null(raw)
        elif family != "text":
            # Not a timestamp type: refused once the pass has counted a value; entirely empty reads as missing.
            m.checks["wrong_type"] = f"({raw} IS NOT NULL)"
            m.converted = "CAST(NULL AS TIMESTAMP)"
            m.checks["null"] = is_null(raw)
        elif time_format is not None:
            m.converted = d.with_format(f"nullif({trimmed}, '')", time_format)
            m.checks["unparsed"] = f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)"
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
        else:
            aware = d.matches(trimmed, AWARE_PATTERN)
            m.checks["day_month"] = f"({raw} IS NOT NULL AND {d.matches(trimmed, DAY_MONTH_PATTERN)})"
            m.checks["epoch_like"] = f"({raw} IS NOT NULL AND {d.matches(trimmed, EPOCH_PATTERN)})"
            m.checks["aware"] = f"({raw} IS NOT NULL AND {aware})"
            m.checks["naive"] = f"({raw} IS NOT NULL AND {trimmed} <> '' AND NOT {aware})"
            # A trailing AM/PM or zone name would be dropped without a sign by both engines' casts.
            worded = f"({d.matches(trimmed, WORDED_PATTERN)} AND NOT {aware})"
            m.checks["worded"] = f"({raw} IS NOT NULL AND {worded})"
            m.converted = f"try_cast(nullif({trimmed}, '') AS TIMESTAMP)"  # revised where the text is aware
            m.checks["unparsed"] = (f"({raw} IS NOT NULL AND NOT {blank} AND "
                                    f"({worded} OR {d.unparsed_text_time(trimmed, aware)}))")
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "number":
        if family in NUMERIC_FAMILIES:
            m.converted = f"CAST({raw} AS DOUBLE)"
        elif family == "text":
            m.converted = f"try_cast(nullif({trimmed}, '') AS DOUBLE)"
            m.checks["non_numeric"] = f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)"
            m.checks["blank"] = blank
        elif family == "null":
            m.converted = "CAST(NULL AS DOUBLE)"
        else:
            raise NonNumericValueError(
                f"Column {m.label!r} ({m.logical.name}) has type {m.source_type}, which is not "
                "numeric. Fix: map it to a numeric SQL expression.", column=m.label, n_bad=-1)
        number_checks(m)
        m.checks["null"] = is_null(f"({m.converted})")
    else:  # text
        m.converted = f"nullif(CAST({raw} AS {d.text}), '')"
        m.checks["null"] = is_null(f"({m.converted})")


@dataclass(frozen=True)
class LoadReport:
    """What a load read, what it dropped and why, and the rules it applied.

    ``rows_read - sum(dropped.values()) == rows_loaded`` always holds: no row
    leaves without a reason.
    """

    table: str
    source: str
    columns: dict[str, str]
    rows_read: int
    rows_loaded: int
    dropped: dict[str, int]
    duplicate_rows: int
    users: int
    first: dt.datetime | None
    last: dt.datetime | None
    null_counts: dict[str, int]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["first"] = self.first.isoformat() if self.first else None
        out["last"] = self.last.isoformat() if self.last else None
        out["notes"] = list(self.notes)
        return out

    def __str__(self) -> str:
        lines = [f"{self.table} from {self.source}",
                 f"  rows read    {self.rows_read:>14,}",
                 f"  rows loaded  {self.rows_loaded:>14,}",
                 f"  users        {self.users:>14,}"]
        if self.first is not None:
            lines.append(f"  time span    {self.first:%Y-%m-%d %H:%M} .. {self.last:%Y-%m-%d %H:%M}")
        for reason, count in self.dropped.items():
            lines.append(f"  dropped {count:,} rows: {reason}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)



@dataclass(frozen=True)
class _TakenAhead:
    """What the checks' pass took ahead of the passes that would follow it, and over what.

    ``keep``: the rows the figures were taken over (SQL over the source row); ``converted``: each mapped
    column's conversion then; ``span``: the main timestamp's first and last value (epoch microseconds);
    ``summary``: the report's figures (:func:`load_with`'s ``summary_of``).
    """

    keep: str
    converted: dict[str, str]
    span: dict[str, tuple[Any, Any]]
    summary: tuple[Any, ...]


class LoadRun(Protocol):
    """One table's load on one engine: the source it reads, and how it runs queries over it.

    ``columns`` are the source's columns (name -> the engine's type name), in order.
    """

    dialect: LoadDialect
    described: str
    columns: dict[str, str]

    def expression_type(self, expression: str) -> str:
        """The engine's type of an expression over the source row (raises when it does not compile)."""

    def check_filter(self, condition: str) -> None:
        """Raise when a filter over the source does not compile."""

    def first(self, expressions: list[str], condition: str) -> tuple[Any, ...] | None:
        """The first row of ``expressions`` over the source rows that meet ``condition`` (aggregates: one row)."""

    def quantiles(self, expression: str, condition: str, at: tuple[float, float]) -> tuple[Any, Any]:
        """The two quantiles ``at`` of ``expression`` over the rows meeting ``condition`` (None, None: no
        values), from one pass that asks for nothing else."""

    def duplicates(self, condition: str, rows: int, keys: list[str]) -> tuple[int, Callable[[], Any]]:
        """Extra copies of whole source rows among those meeting ``condition`` (at most ``rows`` of them), and
        one duplicated row. ``keys``: SQL over the source row of values every copy of a row shares (the user id
        and the main timestamp, as loaded), which an engine may use to prove that no row repeats."""

    def materialise(self, select: list[str], condition: str, distinct: bool) -> Any:
        """The loaded table: ``select`` over the (distinct) source rows meeting ``condition``."""

    def first_loaded(self, loaded: Any, expressions: list[str], condition: str = "TRUE") -> tuple[Any, ...] | None:
        """The first row of ``expressions`` over the loaded rows that meet ``condition``."""

    def repeated_user(self, loaded: Any) -> Any:
        """The smallest user id with more than one loaded row."""


def load_with(source: Source, open_run: Callable[[], LoadRun], *, untyped: bool,
              not_after: dt.datetime | None = None) -> tuple[LoadReport, Any]:
    """Map, check and load one table on an engine: its report, and the loaded table the run made.

    ``open_run`` reads the source and returns the engine's :class:`LoadRun` over it; it is called after
    the source's options are checked, so that bad options fail before anything is read.
    Raises the :class:`~churnml.errors.ChurnMLError` that names the column, the number of bad rows and an
    example. ``not_after``: the last event, for subscriptions loaded with their events.
    """
    validate_options(source)
    run = open_run()
    d, contract, table, columns = run.dialect, source.contract, source.contract.table, run.columns
    q = d.quote_identifier
    mapped: dict[str, Mapped] = {}
    for logical in contract.columns:
        entry = resolve_column(logical, source.mapping()[logical.name], list(columns), table, run.expression_type,
                               quote=q)
        if entry is not None:
            plan_conversion(entry, source.time_format, untyped, d)
            mapped[logical.name] = entry

    where = "TRUE"  # the rows the filter keeps (without one, every row: no condition to evaluate per row)
    if source.where is not None:
        where = f"({source.where})"
        try:
            run.check_filter(where)
        except Exception as error:  # the engines' binder and parser errors have no common base
            raise MappingError(f"The {table} filter where={source.where!r} does not compile: "
                               f"{first_line(error)}. Columns in the source: {listed(columns)}.") from error
        where = d.is_true(where)

    def among(condition: str, rows: str) -> str:
        """``condition`` over the rows meeting ``rows`` (TRUE: all rows)."""
        return condition if rows == "TRUE" else f"{rows} AND {condition}"

    def count_of(condition: str) -> str:
        if isinstance(condition, NullCondition):
            return f"(count(*) - count({condition.of}))"
        return "count(*)" if condition == "TRUE" else d.count_where(condition)

    # What the load report counts over the loaded rows, written over any column expressions: ``column(name)``
    # is a loaded column, or its conversion over the source rows; ``within`` (SQL over the source row), where
    # given, restricts every figure to the rows meeting it.
    time_column = next((name for name, m in mapped.items() if m.logical.kind == "timestamp"), None)
    optional = [name for name, m in mapped.items() if not m.logical.required]
    has_value, has_end = table == "events" and "value" in mapped, table == "subscriptions" and "end" in mapped

    def summary_of(column: Callable[[str], str], within: str = "TRUE") -> list[str]:
        def counted(condition: str) -> str:
            return count_of(among(condition, within))

        def of(name: str) -> str:
            return column(name) if within == "TRUE" else f"CASE WHEN {within} THEN {column(name)} END"

        parts = [count_of(within), f"count(DISTINCT {of('user_id')})"]
        parts += [f"min({of(time_column)})", f"max({of(time_column)})"] if time_column else ["NULL", "NULL"]
        parts += [counted(is_null(column(name))) for name in optional]
        if has_value:
            parts.append(counted(f"{column('value')} < 0"))
        if has_end:
            parts.append(counted(f"{column('end')} < {column('start')}"))
        return parts

    def converted(name: str) -> str:
        return f"({mapped[name].converted})"

    def micros(name: str) -> str:
        return d.epoch_micros(mapped[name].converted)

    # One pass over the source counts every problem at once. The same pass takes what the next would (the main
    # timestamp's span and the report's figures) over the rows ``where`` keeps: the rows loaded when the checks
    # pass and no row leaves for a missing user id (with ``drop_null_user_ids`` and such rows, a pass of its
    # own follows). A conversion that could raise before its checks refuse the value is taken in its guarded
    # form, equal wherever the checks let it stand. The figures are set aside when the checks revise a
    # conversion (ids that are not all whole numbers, text timestamps with offsets), and the next pass runs.
    # The pass asks for each aggregate once: without a filter the row counts are all ``count(*)``.
    asked: dict[str, int] = {}

    def ask(aggregate: str) -> int:
        return asked.setdefault(aggregate, len(asked))

    read, after_where = ask("count(*)"), ask(count_of(where))
    checked = {(name, check): ask(count_of(among(condition, where)))
               for name, m in mapped.items() for check, condition in m.checks.items()}
    outlier_column = OUTLIER_COLUMN.get(table) if OUTLIER_COLUMN.get(table) in mapped else None

    def guarded(name: str) -> str:
        return f"({mapped[name].guarded or mapped[name].converted})"

    extent = []
    if outlier_column is not None:
        value = d.epoch_micros(guarded(outlier_column))
        value = value if where == "TRUE" else f"CASE WHEN {where} THEN {value} END"
        extent = [ask(f"min({value})"), ask(f"max({value})")]
    summarised = [ask(part) for part in summary_of(guarded, where)]
    found = run.first(list(asked), "TRUE")
    assert found is not None
    ahead: _TakenAhead | None = _TakenAhead(
        keep=where, converted={name: m.converted for name, m in mapped.items()},
        span={outlier_column: (found[extent[0]], found[extent[1]])} if extent else {},
        summary=tuple(found[i] for i in summarised))
    rows_read, rows_after_where = int(found[read]), int(found[after_where])
    counts = {key: int(found[i]) for key, i in checked.items()}

    def example(condition: str, expression: str) -> Any:
        found = run.first([expression], f"{where} AND {condition}")
        return found[0] if found else None

    assessed = assess(source, mapped, counts, rows_read, rows_after_where, run.described, example=example,
                      text_id=lambda raw: text_id(raw, d), aware_utc=d.aware_utc)
    notes, dropped = assessed.notes, assessed.dropped
    keep = where + (f" AND {mapped['user_id'].converted} IS NOT NULL" if assessed.drop_null_users else "")
    if ahead is not None and not (ahead.converted == {name: m.converted for name, m in mapped.items()}
                                  and keep == ahead.keep):
        ahead = None  # taken over other rows or other conversions than those loaded
    summary: tuple[Any, ...] | None = ahead.summary if ahead is not None else None

    # Timestamps far outside the bulk of the table; subscriptions starting after the events end (noted).
    # The column's span comes from the checks' pass, or else from a pass that also gives the report's figures
    # over the same rows (the loaded rows, unless the outliers or duplicates are dropped below). Its
    # quantiles are asked for only where the span is wider than a year, and a table with nothing outside
    # the bounds needs no count of it.
    spans: dict[str, tuple[Any, Any]] = dict(ahead.span) if ahead is not None else {}

    def span(column: str) -> tuple[Any, Any]:
        nonlocal summary
        if column not in spans:
            found = run.first([f"min({micros(column)})", f"max({micros(column)})", *summary_of(converted)], keep)
            assert found is not None
            spans[column], summary = (found[0], found[1]), tuple(found[2:])
        return spans[column]

    def quantiles(column: str) -> tuple[Any, Any]:
        return run.quantiles(micros(column), keep, OUTLIER_QUANTILES)

    for bounds in outlier_bounds(source, mapped, not_after, span, quantiles):
        if bounds.column in spans:
            low, high = spans[bounds.column]
            if low is None or ((bounds.low is None or low >= bounds.low)
                               and (bounds.high is None or high <= bounds.high)):
                continue  # nothing outside
        outside, value = bounds.condition(micros(bounds.column)), micros(bounds.column)
        found = run.first([d.count_where(outside), f"min(CASE WHEN {outside} THEN {value} END)",
                           f"max(CASE WHEN {outside} THEN {value} END)", "count(*)"], keep)
        assert found is not None
        if judge_outliers(source, mapped[bounds.column], bounds, int(found[0]), int(found[3]),
                          outlier_example(found[1], found[2], bounds), dropped, notes):
            keep += f" AND NOT coalesce({outside}, FALSE)"
            summary = None  # counted over rows that are no longer all loaded

    # Duplicates are exact copies of a whole source row among the rows that are kept.
    keys = [converted(name) for name in ("user_id", time_column) if name is not None and name in mapped]
    duplicate_rows, duplicated = run.duplicates(keep, rows_after_where, keys)
    apply_duplicate_policy(source, duplicate_rows, duplicated, dropped, notes)

    select = [f"{m.converted} AS {q(name)}" for name, m in mapped.items()]
    if contract.keep_other_columns:
        used = {m.label for m in mapped.values()}
        for column in columns:
            if column in used:
                continue
            if column in mapped:
                notes.append(f"source column {column!r} not kept: its name is a logical column")
                continue
            select.append(q(column))
    distinct = source.duplicates == "drop" and duplicate_rows > 0
    loaded = run.materialise(select, keep, distinct=distinct)

    # What was loaded: rows, users, the time span, missing optional values, and the table's own checks.
    if summary is None or distinct:
        summary = run.first_loaded(loaded, summary_of(q))
    assert summary is not None
    rows_loaded, users, first, last = int(summary[0]), int(summary[1]), summary[2], summary[3]
    null_counts = {name: int(n) for name, n in zip(optional, summary[4:4 + len(optional)])}
    rest = list(summary[4 + len(optional):])
    judge_summary(table, mapped, notes, null_counts=null_counts,
                  negative=int(rest.pop(0)) if has_value else 0,
                  backwards=int(rest.pop(0)) if has_end else 0,
                  repeated=rows_loaded - users if contract.unique_user else 0,
                  backwards_example=lambda: run.first_loaded(loaded, ["user_id", "start", q("end")],
                                                             f"{q('end')} < start"),
                  repeated_example=lambda: run.repeated_user(loaded))
    report = LoadReport(
        table=table, source=run.described, columns={name: m.label for name, m in mapped.items()},
        rows_read=rows_read, rows_loaded=rows_loaded, dropped=dropped, duplicate_rows=duplicate_rows,
        users=users, first=first, last=last, null_counts=null_counts, notes=tuple(notes))
    if rows_read - sum(dropped.values()) != rows_loaded:  # the report must account for every row
        raise AssertionError(f"churnml lost rows loading {table} ({d.name}): {report}")
    return report, loaded
