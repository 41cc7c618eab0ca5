"""The data contract: map a user's tables onto churnml's logical columns, validate, load (DuckDB).

Three tables feed churnml, each read through DuckDB without copying it into
Python:

- events (required): ``user_id``, ``timestamp``, optional ``event_type``, ``value``;
- subscriptions (optional): ``user_id``, ``start``, ``end`` (null = still active),
  optional ``mrr``, ``end_reason``, ``plan``;
- accounts (optional): ``user_id``, optional ``signup_date``, every other column
  kept as an attribute.

Each logical column is mapped from a source column name or a SQL expression, and
an optional ``where`` filter drops rows. Loading checks the values once, in one
pass, and either raises a :class:`~churnml.errors.ChurnMLError` that names the
column, the number of bad rows and an example, or returns the loaded table with
a :class:`LoadReport` that counts every row it dropped and says why.

The contract's rules and the judgement of a load (the bad-row counts turned into
errors, drops and notes) are in :mod:`churnml.contract._rules`, shared with the Spark
loader; this module holds the public sources and the DuckDB plan of a load.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({
...     "customer": [1, 1, 2, None],
...     "when": ["2024-01-01 10:00", "2024-01-03 09:30", "2024-01-02 12:00", "2024-01-02 13:00"],
... })
>>> events = EventSource(frame, user_id="customer", timestamp="when",
...                      where="customer IS NOT NULL").load()
>>> events.report.rows_read, events.report.rows_loaded, events.report.users
(4, 3, 2)
>>> events.report.dropped
{'where customer IS NOT NULL': 1}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from churnml._duckdb import (Backend, FLOAT_TYPES, INTEGER_TYPES, TIMESTAMP_TYPES, backend_for, count_duplicates,
                             describe_source, fresh_name, quote_identifier, quote_literal)
from churnml.contract._rules import (ACCOUNTS, AWARE_PATTERN, BLANK_PATTERN, DAY_MONTH_PATTERN, DuplicatePolicy,
                                     EPOCH_PATTERN, EVENTS, EXACT_FLOAT_ID, INTEGER_PART, LEADING_ZERO, Mapped,
                                     OUTLIER_QUANTILES, OutlierPolicy, SUBSCRIPTIONS, TableContract, WHOLE_PATTERN,
                                     WORDED_PATTERN, apply_duplicate_policy, assess, check_scalar_id, first_line,
                                     judge_outliers, judge_summary, listed, number_checks, outlier_bounds,
                                     outlier_example, resolve_column, validate_options, with_signup_note)
from churnml.errors import EmptySourceError, MappingError, NonNumericValueError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = [
    "EventSource",
    "SubscriptionSource",
    "AccountSource",
    "LoadReport",
    "LoadedTable",
    "UsageData",
    "load",
]


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


@dataclass(frozen=True, eq=False)
class LoadedTable:
    """A validated table: a DuckDB view with the logical columns, and its report."""

    table: str
    view: str
    backend: Backend = field(repr=False)
    report: LoadReport
    columns: tuple[str, ...]

    def relation(self) -> duckdb.DuckDBPyRelation:
        """The loaded rows as a lazy DuckDB relation."""
        return self.backend.sql(f"SELECT * FROM {quote_identifier(self.view)}")

    def to_pandas(self) -> pd.DataFrame:
        """The loaded rows in a pandas DataFrame (reads the whole table into memory)."""
        return self.relation().df()

    def __len__(self) -> int:
        return self.report.rows_loaded


@dataclass(frozen=True, eq=False)
class UsageData:
    """Events, and optionally subscriptions and accounts, loaded into one DuckDB session."""

    events: LoadedTable
    subscriptions: LoadedTable | None = None
    accounts: LoadedTable | None = None

    @property
    def backend(self) -> Backend:
        return self.events.backend

    @property
    def reports(self) -> list[LoadReport]:
        return [t.report for t in (self.events, self.subscriptions, self.accounts) if t is not None]


@dataclass(frozen=True, eq=False, kw_only=True)
class Source:
    """Options shared by the three table kinds; subclasses add their logical columns."""

    contract: ClassVar[TableContract]
    data: Any = field(kw_only=False)
    where: str | None = None
    time_format: str | None = None
    drop_null_user_ids: bool = False
    duplicates: DuplicatePolicy = "keep"
    outliers: OutlierPolicy = "error"

    def mapping(self) -> dict[str, str | None]:
        return {col.name: getattr(self, col.name) for col in self.contract.columns}

    def load(self, connection: duckdb.DuckDBPyConnection | None = None) -> LoadedTable:
        """Validate and load this table in a DuckDB session of its own (or ``connection``)."""
        return _load_table(self, backend_for([self.data], connection))


@dataclass(frozen=True, eq=False, kw_only=True)
class EventSource(Source):
    """Usage events: one row per thing a user did.

    Parameters
    ----------
    data : path, pandas.DataFrame or duckdb.DuckDBPyRelation
        Parquet file, folder or glob; CSV file; DataFrame; DuckDB relation.
    user_id, timestamp : str
        Source column name or SQL expression for each logical column.
    event_type, value : str, optional
        Same; when left out, a source column of that name is used if present.
    where : str, optional
        SQL filter; rows it rejects are dropped and counted in the report.
    time_format : str, optional
        strptime format for text timestamps DuckDB cannot read by itself.
    drop_null_user_ids : bool, default False
        Drop rows without a user id (counted) instead of raising.
    duplicates : {'keep', 'drop', 'error'}, default 'keep'
        What to do with exact duplicate source rows; they are counted either way.
    outliers : {'error', 'drop', 'keep'}, default 'error'
        What to do with timestamps far outside the bulk of the log (more than the width
        of its central 98%, and at least 365 days, before its 1st percentile or after its
        99th): refuse, drop (counted) or keep (noted). Subscriptions apply the same rule
        to ``start``.
    """

    contract = EVENTS
    user_id: str = "user_id"
    timestamp: str = "timestamp"
    event_type: str | None = None
    value: str | None = None


@dataclass(frozen=True, eq=False, kw_only=True)
class SubscriptionSource(Source):
    """Subscriptions: one row per contiguous period on a plan (``end`` null = still active).

    Parameters are those of :class:`EventSource`, with the logical columns
    ``user_id``, ``start``, ``end``, ``mrr``, ``end_reason`` and ``plan``.
    """

    contract = SUBSCRIPTIONS
    user_id: str = "user_id"
    start: str = "start"
    end: str | None = None
    mrr: str | None = None
    end_reason: str | None = None
    plan: str | None = None


@dataclass(frozen=True, eq=False, kw_only=True)
class AccountSource(Source):
    """Accounts: one row per user with ``signup_date`` and any attributes (kept as they are).

    Parameters are those of :class:`EventSource`, with the logical columns
    ``user_id`` and ``signup_date``; every other source column is an attribute.
    """

    contract = ACCOUNTS
    user_id: str = "user_id"
    signup_date: str | None = None


def load(events: EventSource, subscriptions: SubscriptionSource | None = None,
         accounts: AccountSource | None = None, *,
         connection: duckdb.DuckDBPyConnection | None = None) -> UsageData:
    """Validate and load the tables of one product into one DuckDB session.

    Parameters
    ----------
    events : EventSource
    subscriptions : SubscriptionSource, optional
    accounts : AccountSource, optional
    connection : duckdb.DuckDBPyConnection, optional
        Session to load into; a fresh in-memory one by default.

    Returns
    -------
    UsageData

    Raises
    ------
    churnml.errors.ChurnMLError
        A subclass naming the column, the bad rows and an example.
    """
    sources = [s for s in (events, subscriptions, accounts) if s is not None]
    backend = backend_for([s.data for s in sources], connection)
    loaded_events = _load_table(events, backend)
    loaded_accounts = _load_table(accounts, backend) if accounts is not None else None
    if loaded_accounts is not None and "signup_date" in loaded_accounts.columns:
        e, a = quote_identifier(loaded_events.view), quote_identifier(loaded_accounts.view)
        row = backend.fetchone(f"SELECT count(*), count(DISTINCT e.user_id) FROM {e} e JOIN {a} a "
                               "ON a.user_id = e.user_id WHERE e.timestamp < a.signup_date")
        loaded_events = with_signup_note(loaded_events, int(row[0]), int(row[1]))  # type: ignore[index]
    return UsageData(
        events=loaded_events,
        subscriptions=(_load_table(subscriptions, backend, not_after=loaded_events.report.last)
                       if subscriptions is not None else None),
        accounts=loaded_accounts,
    )


# --------------------------------------------------------------------------- loading


def _duckdb_text_id(raw: str) -> str:
    """A text id in DuckDB SQL: the value as written; blank (only whitespace) is null."""
    text = f"CAST({raw} AS VARCHAR)"
    return f"CASE WHEN regexp_matches({text}, {quote_literal(BLANK_PATTERN)}) THEN NULL ELSE {text} END"


def _plan_conversion(m: Mapped, time_format: str | None, untyped: bool = False) -> None:
    """Fill in ``converted`` and ``checks`` from the column's kind and source type.

    ``untyped``: the column is text only because the source has no types (CSV), so ids that
    are all whole numbers become integer ids, as they would from a typed source.
    """
    kind, raw, base = m.logical.kind, m.raw, m.source_type.split("(")[0]
    blank = f"({raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR)) = '')"
    if kind == "id":
        check_scalar_id(m.label, m.source_type)
        blank = f"({raw} IS NOT NULL AND regexp_matches(CAST({raw} AS VARCHAR), {quote_literal(BLANK_PATTERN)}))"
        if base in INTEGER_TYPES:
            m.converted = f"CAST({raw} AS BIGINT)"
            if base in ("UBIGINT", "HUGEINT", "UHUGEINT"):
                m.checks["beyond_int64"] = (f"({raw} IS NOT NULL AND ({raw} > 9223372036854775807 "
                                            f"OR {raw} < -9223372036854775808))")
            m.checks["null"] = f"({raw} IS NULL)"
        elif base in FLOAT_TYPES or base == "DECIMAL":
            m.checks["non_integral"] = f"({raw} IS NOT NULL AND {raw} <> trunc({raw}))"
            m.checks["inexact"] = f"({raw} IS NOT NULL AND NOT (abs({raw}) <= {EXACT_FLOAT_ID}))"
            m.converted = f"CAST({raw} AS BIGINT)"  # revised once the check has run
            m.checks["null"] = f"({raw} IS NULL)"
        elif base == "VARCHAR" and untyped:
            whole = (f"(regexp_matches(trim({raw}), {quote_literal(WHOLE_PATTERN)}) AND try_cast(regexp_extract("
                     f"trim({raw}), {quote_literal(INTEGER_PART)}, 1) AS BIGINT) IS NOT NULL AND NOT "
                     f"regexp_matches(trim({raw}), {quote_literal(LEADING_ZERO)}))")
            m.checks["not_whole"] = f"({raw} IS NOT NULL AND NOT {blank} AND NOT {whole})"
            m.converted = (f"try_cast(regexp_extract(trim({raw}), {quote_literal(INTEGER_PART)}, 1) AS BIGINT)")
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
        else:
            m.converted = _duckdb_text_id(raw)
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "timestamp":
        if base in TIMESTAMP_TYPES:
            m.converted = (f"timezone('UTC', {raw})" if base == "TIMESTAMP WITH TIME ZONE"
                           else f"CAST({raw} AS TIMESTAMP)")
        elif base == "VARCHAR" and time_format is not None:
            m.converted = f"try_strptime(NULLIF(trim({raw}), ''), {quote_literal(time_format)})"
        elif base == "VARCHAR":
            aware = f"regexp_matches(trim({raw}), {quote_literal(AWARE_PATTERN)})"
            m.checks["day_month"] = (f"({raw} IS NOT NULL AND regexp_matches(trim({raw}), "
                                     f"{quote_literal(DAY_MONTH_PATTERN)}))")
            m.checks["epoch_like"] = (f"({raw} IS NOT NULL AND regexp_matches(trim({raw}), "
                                      f"{quote_literal(EPOCH_PATTERN)}))")
            m.checks["aware"] = f"({raw} IS NOT NULL AND {aware})"
            m.checks["naive"] = f"({raw} IS NOT NULL AND trim({raw}) <> '' AND NOT {aware})"
            worded = f"(regexp_matches(trim({raw}), {quote_literal(WORDED_PATTERN)}) AND NOT {aware})"
            m.checks["worded"] = f"({raw} IS NOT NULL AND {worded})"
            m.converted = f"try_cast(NULLIF(trim({raw}), '') AS TIMESTAMP)"  # revised if aware
            m.checks["unparsed"] = (
                f"({raw} IS NOT NULL AND trim({raw}) <> '' AND ({worded} OR CASE WHEN {aware} "
                f"THEN try_cast(trim({raw}) AS TIMESTAMPTZ) IS NULL "
                f"ELSE try_cast(trim({raw}) AS TIMESTAMP) IS NULL END))")
        else:
            # Not a timestamp type: refused once the pass has counted a value; entirely empty reads as missing.
            m.checks["wrong_type"] = f"({raw} IS NOT NULL)"
            m.converted = "CAST(NULL AS TIMESTAMP)"
            m.checks["null"] = f"({raw} IS NULL)"
            return
        if base in TIMESTAMP_TYPES:
            m.checks["null"] = f"({raw} IS NULL)"
        else:
            m.checks.setdefault(
                "unparsed", f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)")
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "number":
        if base in INTEGER_TYPES | FLOAT_TYPES or base == "DECIMAL" or base == "BOOLEAN":
            m.converted = f"CAST({raw} AS DOUBLE)"
        elif base == "VARCHAR":
            m.converted = f"try_cast(NULLIF(trim({raw}), '') AS DOUBLE)"
            m.checks["non_numeric"] = f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)"
            m.checks["blank"] = blank
        elif base == "NULL":
            m.converted = "CAST(NULL AS DOUBLE)"
        else:
            raise NonNumericValueError(
                f"Column {m.label!r} ({m.logical.name}) has type {m.source_type}, which is not "
                "numeric. Fix: map it to a numeric SQL expression.", column=m.label, n_bad=-1)
        number_checks(m)
        m.checks["null"] = f"({m.converted} IS NULL)"
    else:  # text
        m.converted = f"NULLIF(CAST({raw} AS VARCHAR), '')"
        m.checks["null"] = f"({m.converted} IS NULL)"


def _example(backend: Backend, src: str, row_filter: str, expression: str) -> Any:
    row = backend.fetchone(f"SELECT {expression} FROM {src} WHERE {row_filter}")
    return row[0] if row else None


def text_columns(source: Source) -> list[str]:
    """The source columns mapped by name to an id, a timestamp or a text column: read from CSV as text, so
    that churnml's rules type them (a sniffer guesses day/month order, time zones and id types per file).
    Numbers, columns used in expressions, and attributes keep the sniffed types (so ``where="amount > 0"``
    and ``value="qty * price"`` work as on Parquet); their values are checked all the same."""
    out = []
    for logical in source.contract.columns:
        if logical.kind == "number":
            continue
        given = source.mapping()[logical.name] or logical.name
        if isinstance(given, str) and given.strip():
            out.append(given)
    return out


def is_csv_path(data: Any) -> bool:
    """Whether ``data`` names CSV files (untyped text, typed by churnml's rules)."""
    import glob
    import os

    from churnml._duckdb import CSV_SUFFIXES

    if not (isinstance(data, str) or hasattr(data, "__fspath__")):
        return False
    text = str(data)
    if os.path.isdir(text):
        return any(p.lower().endswith(CSV_SUFFIXES) for _, _, names in os.walk(text) for p in names)
    if any(ch in text for ch in "*?["):
        return any(f.lower().endswith(CSV_SUFFIXES) for f in glob.glob(text, recursive=True))
    return text.lower().endswith(CSV_SUFFIXES)


def _read_errors(described: str) -> Any:
    """Turn DuckDB's reading errors on bad bytes into :class:`SourceFormatError`; others pass."""
    import contextlib

    import duckdb

    @contextlib.contextmanager
    def translate() -> Any:
        try:
            yield
        except duckdb.Error as error:
            text = str(error)
            if "unicode" in text.lower() or "utf-8" in text.lower():
                from churnml._duckdb import not_utf8

                raise not_utf8(described.strip("'")) from error
            raise
    return translate()


def _load_table(source: Source, backend: Backend, *, not_after: dt.datetime | None = None) -> LoadedTable:
    validate_options(source)
    contract, table = source.contract, source.contract.table
    untyped = is_csv_path(source.data)
    src = backend.register(source.data, text_columns=text_columns(source))
    described = describe_source(source.data)
    with _read_errors(described):
        return _load_registered(source, backend, src, described, untyped, not_after)


def _load_registered(source: Source, backend: Backend, src: str, described: str, untyped: bool,
                     not_after: dt.datetime | None) -> LoadedTable:
    contract, table = source.contract, source.contract.table
    columns = backend.column_types(src)
    if untyped and list(columns) == ["column0"] and not backend.fetchone(f"SELECT 1 FROM {src}"):
        raise EmptySourceError(f"The {table} source {described} holds no data (not even a header line).",
                               column="*", n_bad=0)

    mapped: dict[str, Mapped] = {}
    for logical in contract.columns:
        entry = resolve_column(logical, source.mapping()[logical.name], columns, table,
                         lambda raw: backend.expression_type(src, raw))
        if entry is not None:
            _plan_conversion(entry, source.time_format, untyped)
            mapped[logical.name] = entry

    where = "TRUE"
    if source.where is not None:
        where = f"({source.where})"
        try:
            backend.sql(f"SELECT count(*) FROM {src} WHERE {where} LIMIT 0").fetchall()
        except Exception as error:
            raise MappingError(f"The {table} filter where={source.where!r} does not compile: "
                               f"{first_line(error)}. Columns in the source: {listed(columns)}.") from error

    # One pass over the source counts every problem at once.
    aggregates = ["count(*)", f"count(*) FILTER (WHERE {where} IS TRUE)"]
    keys: list[tuple[str, str]] = []
    for name, m in mapped.items():
        for check, condition in m.checks.items():
            keys.append((name, check))
            aggregates.append(f"count(*) FILTER (WHERE {where} IS TRUE AND {condition})")
    counts_row = backend.fetchone(f"SELECT {', '.join(aggregates)} FROM {src}")
    rows_read, rows_after_where = int(counts_row[0]), int(counts_row[1])
    counts = {key: int(value) for key, value in zip(keys, counts_row[2:])}

    assessed = assess(source, mapped, counts, rows_read, rows_after_where, described,
                       example=lambda condition, expression: _example(backend, src, f"{where} IS TRUE AND {condition}",
                                                                      expression),
                       text_id=_duckdb_text_id,
                       aware_utc=lambda raw: f"timezone('UTC', try_cast(trim({raw}) AS TIMESTAMPTZ))")
    notes, dropped = assessed.notes, assessed.dropped
    keep = f"{where} IS TRUE" + (f" AND {mapped['user_id'].converted} IS NOT NULL" if assessed.drop_null_users else "")

    # Timestamps far outside the bulk of the table; subscriptions starting after the events end (noted).
    def micros(name: str) -> str:
        return f"epoch_us({mapped[name].converted})"

    for bounds in outlier_bounds(source, mapped, not_after, lambda column: backend.fetchone(
            f"SELECT quantile_disc({micros(column)}, {OUTLIER_QUANTILES[0]}), "
            f"quantile_disc({micros(column)}, {OUTLIER_QUANTILES[1]}) FROM {src} WHERE {keep}")):
        outside = bounds.condition(micros(bounds.column))
        row = backend.fetchone(f"SELECT count(*) FILTER (WHERE {outside}), min({micros(bounds.column)}) FILTER "
                               f"(WHERE {outside}), max({micros(bounds.column)}) FILTER (WHERE {outside}), count(*) "
                               f"FROM {src} WHERE {keep}")
        assert row is not None
        if judge_outliers(source, mapped[bounds.column], bounds, int(row[0]), int(row[3]),
                           outlier_example(row[1], row[2], bounds), dropped, notes):
            keep += f" AND NOT coalesce({outside}, FALSE)"

    # Duplicates are exact copies of a whole source row among the rows that are kept.
    duplicate_rows, duplicate_example = count_duplicates(backend, src, keep, list(columns))
    apply_duplicate_policy(source, duplicate_rows, lambda: duplicate_example, dropped, notes)

    select = [f"{m.converted} AS {quote_identifier(name)}" for name, m in mapped.items()]
    if contract.keep_other_columns:
        used = {m.label for m in mapped.values()}
        for column in columns:
            if column in used:
                continue
            if column in mapped:
                notes.append(f"source column {column!r} not kept: its name is a logical column")
                continue
            select.append(quote_identifier(column))
    inner = f"SELECT {'DISTINCT ' if source.duplicates == 'drop' else ''}* FROM {src} WHERE {keep}"
    view = fresh_name(table)
    backend.execute(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(view)} AS "
                    f"SELECT {', '.join(select)} FROM ({inner}) AS source_rows")

    loaded = _summarise(backend, view, contract, mapped, table, notes)
    rows_loaded, users, first, last, null_counts = loaded
    report = LoadReport(
        table=table, source=described,
        columns={name: m.label for name, m in mapped.items()},
        rows_read=rows_read, rows_loaded=rows_loaded, dropped=dropped,
        duplicate_rows=duplicate_rows, users=users, first=first, last=last,
        null_counts=null_counts, notes=tuple(notes))
    if rows_read - sum(dropped.values()) != rows_loaded:  # the report must account for every row
        raise AssertionError(f"churnml lost rows loading {table}: {report}")
    out_columns = tuple(backend.column_types(quote_identifier(view)))
    return LoadedTable(table=table, view=view, backend=backend, report=report, columns=out_columns)


def _summarise(backend: Backend, view: str, contract: TableContract, mapped: dict[str, Mapped],
               table: str, notes: list[str]) -> tuple[int, int, dt.datetime | None,
                                                     dt.datetime | None, dict[str, int]]:
    v = quote_identifier(view)
    time_column = next((c.name for c in contract.columns if c.kind == "timestamp" and c.name in mapped), None)
    parts = ["count(*)", "count(DISTINCT user_id)"]
    parts += ([f"min({quote_identifier(time_column)})", f"max({quote_identifier(time_column)})"]
              if time_column else ["NULL", "NULL"])
    optional = [name for name, m in mapped.items() if not m.logical.required]
    parts += [f"count(*) FILTER (WHERE {quote_identifier(name)} IS NULL)" for name in optional]
    extra: list[str] = []
    if table == "events" and "value" in mapped:
        extra.append("count(*) FILTER (WHERE value < 0)")
    if table == "subscriptions" and "end" in mapped:
        extra.append('count(*) FILTER (WHERE "end" < start)')
    if contract.unique_user:
        extra.append("count(*) - count(DISTINCT user_id)")
    row = backend.fetchone(f"SELECT {', '.join(parts + extra)} FROM {v}")
    rows, users, first, last = int(row[0]), int(row[1]), row[2], row[3]
    null_counts = {name: int(n) for name, n in zip(optional, row[4:4 + len(optional)])}
    rest = list(row[4 + len(optional):])
    has_value, has_end = table == "events" and "value" in mapped, table == "subscriptions" and "end" in mapped
    judge_summary(table, mapped, notes, null_counts=null_counts,
                   negative=int(rest.pop(0)) if has_value else 0,
                   backwards=int(rest.pop(0)) if has_end else 0,
                   repeated=int(rest.pop(0)) if contract.unique_user else 0,
                   backwards_example=lambda: backend.fetchone(
                       f'SELECT user_id, start, "end" FROM {v} WHERE "end" < start'),
                   repeated_example=lambda: backend.fetchone(  # type: ignore[index]
                       f"SELECT user_id FROM {v} GROUP BY user_id HAVING count(*) > 1 ORDER BY user_id LIMIT 1")[0])
    return rows, users, first, last, null_counts
