"""The data contract: map a user's tables onto churnml's logical columns, validate, load.

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
import difflib
import re
from dataclasses import dataclass, field
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from churnml._duckdb import Backend, backend_for, fresh_name, quote_identifier, quote_literal
from churnml.errors import (
    ConfigError,
    DataValidationError,
    DuplicateKeyError,
    DuplicateRowsError,
    EmptySourceError,
    InvalidIntervalError,
    InvalidValueError,
    MappingError,
    MissingColumnError,
    MixedTimezoneError,
    NonNumericValueError,
    NullUserIdError,
    OutlierTimestampError,
    SchemaError,
    TimestampParseError,
)

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

DuplicatePolicy = Literal["keep", "drop", "error"]
OutlierPolicy = Literal["error", "drop", "keep"]
ColumnKind = Literal["id", "timestamp", "number", "text"]

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE",
                    "TIMESTAMP WITH TIME ZONE"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A clock time followed by Z, +hh[:mm], -hh[:mm] or UTC: the text carries its offset.
_AWARE_PATTERN = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?|UTC|utc)$"
# Dates written with the day and month as two small numbers: 03/04/2024 is 3 April or 4 March.
_DAY_MONTH_PATTERN = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}([ T]|$)"
# Ids in untyped text (CSV) that are whole numbers: 17, +17, 17.0 (the integer part is the id).
_WHOLE_PATTERN = r"^[+-]?[0-9]+(\.0*)?$"
_INTEGER_PART = r"^([+-]?[0-9]+)"
# Leading zeros make an id text ('007' is not '7').
_LEADING_ZERO = r"^[+-]?0[0-9]"
# Text timestamps that end in a word after the clock (AM/PM, a zone name such as EST): DuckDB and Spark drop
# the word without a sign, so 05:00 PM would read as 05:00 and 10:00 EST as naive 10:00. Refused unless
# time_format says how to read them (Z and UTC are offsets: _AWARE_PATTERN).
_WORDED_PATTERN = r"[0-9]\s*[A-Za-z][A-Za-z/_]*$"
# Text timestamps that are only digits: epoch seconds or milliseconds, most likely.
_EPOCH_PATTERN = r"^[0-9]{9,13}([.][0-9]+)?$"
# An id that is only whitespace (spaces, tabs, line breaks, non-breaking spaces), or a placeholder an export
# wrote for a missing value (NULL, None, NaN, N/A, #N/A, nil, undefined, in any case), is no id.
_BLANK_PATTERN = (r"^[\s\x{00A0}\x{FEFF}]*((?i:null|none|nan|n/a|#n/a|nil|undefined)[\s\x{00A0}\x{FEFF}]*)?$")
# Numbers beyond this magnitude are refused: no revenue or MRR is that large, and sums of them overflow.
MAX_MAGNITUDE = 1e15
# Float ids beyond 2**53 cannot be told apart (the float has lost digits).
_EXACT_FLOAT_ID = 2 ** 53
# Outlier timestamps: outside [p01 - width, p99 + width] of the events, width = max(p99 - p01, 365 days).
OUTLIER_QUANTILES = (0.01, 0.99)
OUTLIER_MIN_WIDTH = dt.timedelta(days=365)


@dataclass(frozen=True)
class _Logical:
    name: str
    kind: ColumnKind
    required: bool


@dataclass(frozen=True)
class _TableContract:
    table: str
    columns: tuple[_Logical, ...]
    keep_other_columns: bool = False  # accounts keep attributes
    unique_user: bool = False  # one account row per user


EVENTS = _TableContract("events", (
    _Logical("user_id", "id", True),
    _Logical("timestamp", "timestamp", True),
    _Logical("event_type", "text", False),
    _Logical("value", "number", False),
))
SUBSCRIPTIONS = _TableContract("subscriptions", (
    _Logical("user_id", "id", True),
    _Logical("start", "timestamp", True),
    _Logical("end", "timestamp", False),
    _Logical("mrr", "number", False),
    _Logical("end_reason", "text", False),
    _Logical("plan", "text", False),
))
ACCOUNTS = _TableContract("accounts", (
    _Logical("user_id", "id", True),
    _Logical("signup_date", "timestamp", False),
), keep_other_columns=True, unique_user=True)


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
class _Source:
    """Options shared by the three table kinds; subclasses add their logical columns."""

    contract: ClassVar[_TableContract]
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
class EventSource(_Source):
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
class SubscriptionSource(_Source):
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
class AccountSource(_Source):
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
        loaded_events = _with_signup_note(loaded_events, int(row[0]), int(row[1]))  # type: ignore[index]
    return UsageData(
        events=loaded_events,
        subscriptions=(_load_table(subscriptions, backend, not_after=loaded_events.report.last)
                       if subscriptions is not None else None),
        accounts=loaded_accounts,
    )


def _with_signup_note(events: Any, before: int, users: int) -> Any:
    """The events with the count of events before their user's ``signup_date`` noted, and the rule stated."""
    if not before:
        return events
    note = (f"{before:,} events of {users:,} users are before the user's signup_date (kept; the rule: a user "
            "is eligible at an observation date only if signed up before it, so these users have no rows at dates "
            "before their signup)")
    return dataclasses.replace(events, report=dataclasses.replace(events.report, notes=events.report.notes + (note,)))


# --------------------------------------------------------------------------- loading


@dataclass
class _Mapped:
    """One logical column: where it comes from and how it is converted."""

    logical: _Logical
    label: str  # what the user calls it: the source column or the expression
    raw: str  # SQL over the source row
    source_type: str
    converted: str = ""
    checks: dict[str, str] = field(default_factory=dict)  # name -> SQL condition of bad rows


def _describe_source(data: Any) -> str:
    import duckdb

    if isinstance(data, duckdb.DuckDBPyRelation):
        return "a DuckDB relation"
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        return repr(str(data))
    return f"a {type(data).__name__} of {len(data):,} rows" if hasattr(data, "__len__") else type(data).__name__


def _validate_options(source: _Source) -> None:
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


def _resolve(logical: _Logical, given: str | None, columns: Collection[str], table: str,
             type_of: Callable[[str], str], quote: Callable[[str], str] = quote_identifier) -> _Mapped | None:
    """Turn a mapping entry into SQL, or None for an optional column that is absent.

    ``type_of(sql)`` is the engine's type of an expression over the source (it raises when the
    expression does not compile); ``quote`` quotes a column name in the engine's SQL.
    """
    if given is None:
        if logical.name in columns:
            given = logical.name
        elif logical.required:
            _raise_missing(logical.name, logical.name, columns, table)
        else:
            return None
    if given in columns:
        raw = quote(given)
    elif _IDENTIFIER.match(given):
        _raise_missing(given, logical.name, columns, table)
    else:
        raw = f"({given})"
    try:
        source_type = type_of(raw)
    except Exception as error:  # the engines' binder and parser errors have no common base
        raise MappingError(
            f"The {table} mapping {logical.name} = {given!r} does not compile: "
            f"{_first_line(error)}. Columns in the source: {_list(columns)}.") from error
    return _Mapped(logical, given, raw, source_type)


def _raise_missing(name: str, logical: str, columns: Collection[str], table: str) -> None:
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    if not close:
        close = [c for c in columns if c.lower() == name.lower()]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise MissingColumnError(
        f"The {table} source has no column {name!r} for {logical!r}.{hint} "
        f"Columns in the source: {_list(columns)}. Fix: map it, e.g. {logical}='<column>'.")


def _list(columns: Collection[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]


def check_scalar_id(column: str, source_type: str) -> None:
    """Ids are numbers or text; a list, struct or map would be read as its text ('[1, 2]') and make users up."""
    kind = source_type.strip().lower()
    if kind.endswith("]") or kind.startswith(("struct", "map", "array", "list", "union")):
        raise SchemaError(f"Column {column!r} (user_id) has type {source_type}, not a number or text: each row "
                          "would become the text of the whole value (e.g. '[1, 2]'). Fix: map user_id to one "
                          f"element, e.g. user_id='{column}[1]' (DuckDB, 1-based) or '{column}.id' for a struct.")


def _duckdb_text_id(raw: str) -> str:
    """A text id in DuckDB SQL: the value as written; blank (only whitespace) is null."""
    text = f"CAST({raw} AS VARCHAR)"
    return f"CASE WHEN regexp_matches({text}, {quote_literal(_BLANK_PATTERN)}) THEN NULL ELSE {text} END"


def _plan_conversion(m: _Mapped, time_format: str | None, untyped: bool = False) -> None:
    """Fill in ``converted`` and ``checks`` from the column's kind and source type.

    ``untyped``: the column is text only because the source has no types (CSV), so ids that
    are all whole numbers become integer ids, as they would from a typed source.
    """
    kind, raw, base = m.logical.kind, m.raw, m.source_type.split("(")[0]
    blank = f"({raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR)) = '')"
    if kind == "id":
        check_scalar_id(m.label, m.source_type)
        blank = f"({raw} IS NOT NULL AND regexp_matches(CAST({raw} AS VARCHAR), {quote_literal(_BLANK_PATTERN)}))"
        if base in _INTEGER_TYPES:
            m.converted = f"CAST({raw} AS BIGINT)"
            if base in ("UBIGINT", "HUGEINT", "UHUGEINT"):
                m.checks["beyond_int64"] = (f"({raw} IS NOT NULL AND ({raw} > 9223372036854775807 "
                                            f"OR {raw} < -9223372036854775808))")
            m.checks["null"] = f"({raw} IS NULL)"
        elif base in _FLOAT_TYPES or base == "DECIMAL":
            m.checks["non_integral"] = f"({raw} IS NOT NULL AND {raw} <> trunc({raw}))"
            m.checks["inexact"] = f"({raw} IS NOT NULL AND NOT (abs({raw}) <= {_EXACT_FLOAT_ID}))"
            m.converted = f"CAST({raw} AS BIGINT)"  # revised once the check has run
            m.checks["null"] = f"({raw} IS NULL)"
        elif base == "VARCHAR" and untyped:
            whole = (f"(regexp_matches(trim({raw}), {quote_literal(_WHOLE_PATTERN)}) AND try_cast(regexp_extract("
                     f"trim({raw}), {quote_literal(_INTEGER_PART)}, 1) AS BIGINT) IS NOT NULL AND NOT "
                     f"regexp_matches(trim({raw}), {quote_literal(_LEADING_ZERO)}))")
            m.checks["not_whole"] = f"({raw} IS NOT NULL AND NOT {blank} AND NOT {whole})"
            m.converted = (f"try_cast(regexp_extract(trim({raw}), {quote_literal(_INTEGER_PART)}, 1) AS BIGINT)")
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
        else:
            m.converted = _duckdb_text_id(raw)
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "timestamp":
        if base in _TIMESTAMP_TYPES:
            m.converted = (f"timezone('UTC', {raw})" if base == "TIMESTAMP WITH TIME ZONE"
                           else f"CAST({raw} AS TIMESTAMP)")
        elif base == "VARCHAR" and time_format is not None:
            m.converted = f"try_strptime(NULLIF(trim({raw}), ''), {quote_literal(time_format)})"
        elif base == "VARCHAR":
            aware = f"regexp_matches(trim({raw}), {quote_literal(_AWARE_PATTERN)})"
            m.checks["day_month"] = (f"({raw} IS NOT NULL AND regexp_matches(trim({raw}), "
                                     f"{quote_literal(_DAY_MONTH_PATTERN)}))")
            m.checks["epoch_like"] = (f"({raw} IS NOT NULL AND regexp_matches(trim({raw}), "
                                      f"{quote_literal(_EPOCH_PATTERN)}))")
            m.checks["aware"] = f"({raw} IS NOT NULL AND {aware})"
            m.checks["naive"] = f"({raw} IS NOT NULL AND trim({raw}) <> '' AND NOT {aware})"
            worded = f"(regexp_matches(trim({raw}), {quote_literal(_WORDED_PATTERN)}) AND NOT {aware})"
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
        if base in _TIMESTAMP_TYPES:
            m.checks["null"] = f"({raw} IS NULL)"
        else:
            m.checks.setdefault(
                "unparsed", f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)")
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "number":
        if base in _INTEGER_TYPES | _FLOAT_TYPES or base == "DECIMAL" or base == "BOOLEAN":
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
        _number_checks(m)
        m.checks["null"] = f"({m.converted} IS NULL)"
    else:  # text
        m.converted = f"NULLIF(CAST({raw} AS VARCHAR), '')"
        m.checks["null"] = f"({m.converted} IS NULL)"


def _number_checks(m: _Mapped) -> None:
    """Checks on a converted number, the same SQL on both engines: not finite or beyond
    :data:`MAX_MAGNITUDE`, and a negative MRR."""
    value = m.converted
    m.checks["non_finite"] = f"({value} IS NOT NULL AND (isnan({value}) OR NOT (abs({value}) <= {MAX_MAGNITUDE:.0e})))"
    if m.logical.name == "mrr":
        m.checks["negative"] = f"({value} IS NOT NULL AND {value} < 0)"


def _example(backend: Backend, src: str, row_filter: str, expression: str) -> Any:
    row = backend.fetchone(f"SELECT {expression} FROM {src} WHERE {row_filter}")
    return row[0] if row else None


def text_columns(source: _Source) -> list[str]:
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


def _load_table(source: _Source, backend: Backend, *, not_after: dt.datetime | None = None) -> LoadedTable:
    _validate_options(source)
    contract, table = source.contract, source.contract.table
    untyped = is_csv_path(source.data)
    src = backend.register(source.data, text_columns=text_columns(source))
    described = _describe_source(source.data)
    with _read_errors(described):
        return _load_registered(source, backend, src, described, untyped, not_after)


def _load_registered(source: _Source, backend: Backend, src: str, described: str, untyped: bool,
                     not_after: dt.datetime | None) -> LoadedTable:
    contract, table = source.contract, source.contract.table
    columns = backend.column_types(src)
    if untyped and list(columns) == ["column0"] and not backend.fetchone(f"SELECT 1 FROM {src}"):
        raise EmptySourceError(f"The {table} source {described} holds no data (not even a header line).",
                               column="*", n_bad=0)

    mapped: dict[str, _Mapped] = {}
    for logical in contract.columns:
        entry = _resolve(logical, source.mapping()[logical.name], columns, table,
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
                               f"{_first_line(error)}. Columns in the source: {_list(columns)}.") from error

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

    assessed = _assess(source, mapped, counts, rows_read, rows_after_where, described,
                       example=lambda condition, expression: _example(backend, src, f"{where} IS TRUE AND {condition}",
                                                                      expression),
                       text_id=_duckdb_text_id,
                       aware_utc=lambda raw: f"timezone('UTC', try_cast(trim({raw}) AS TIMESTAMPTZ))")
    notes, dropped = assessed.notes, assessed.dropped
    keep = f"{where} IS TRUE" + (f" AND {mapped['user_id'].converted} IS NOT NULL" if assessed.drop_null_users else "")

    # Timestamps far outside the bulk of the table; subscriptions starting after the events end (noted).
    def micros(name: str) -> str:
        return f"epoch_us({mapped[name].converted})"

    for bounds in _outlier_bounds(source, mapped, not_after, lambda column: backend.fetchone(
            f"SELECT quantile_disc({micros(column)}, {OUTLIER_QUANTILES[0]}), "
            f"quantile_disc({micros(column)}, {OUTLIER_QUANTILES[1]}) FROM {src} WHERE {keep}")):
        outside = bounds.condition(micros(bounds.column))
        row = backend.fetchone(f"SELECT count(*) FILTER (WHERE {outside}), min({micros(bounds.column)}) FILTER "
                               f"(WHERE {outside}), max({micros(bounds.column)}) FILTER (WHERE {outside}), count(*) "
                               f"FROM {src} WHERE {keep}")
        assert row is not None
        if _judge_outliers(source, mapped[bounds.column], bounds, int(row[0]), int(row[3]),
                           _outlier_example(row[1], row[2], bounds), dropped, notes):
            keep += f" AND NOT coalesce({outside}, FALSE)"

    # Duplicates are exact copies of a whole source row among the rows that are kept.
    duplicate_rows, duplicate_example = _count_duplicates(backend, src, keep, list(columns))
    _apply_duplicate_policy(source, duplicate_rows, lambda: duplicate_example, dropped, notes)

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



@dataclass
class _Assessment:
    notes: list[str]
    dropped: dict[str, int]
    drop_null_users: bool  # rows without a user id leave (drop_null_user_ids=True)


def _assess(source: _Source, mapped: dict[str, _Mapped], counts: dict[tuple[str, str], int], rows_read: int,
            rows_after_where: int, described: str, *, example: Callable[[str, str], Any],
            text_id: Callable[[str], str], aware_utc: Callable[[str], str] | None) -> _Assessment:
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
            f"{_where_text(table, user)} holds {counts[('user_id', 'inexact')]:,} ids beyond 2**53 stored as "
            f"{user.source_type.upper()}, e.g. {bad!r}: a float has lost their last digits, so different users "
            "may share one. Fix: export the ids as text or as integers.",
            column=user.label, n_bad=counts[("user_id", "inexact")], example=bad))
    elif counts.get(("user_id", "non_integral"), 0):
        user.converted = text_id(user.raw)
        notes.append(f"{_named(user)} holds non-integral {user.source_type.upper()} values: "
                     "read as text ids")
    elif ("user_id", "non_integral") in counts:
        notes.append(f"{_named(user)} holds whole numbers stored as {user.source_type.upper()}: "
                     "read as integer ids")
    if counts.get(("user_id", "beyond_int64"), 0):
        user.converted = text_id(user.raw)
        notes.append(f"{_named(user)} holds {counts[('user_id', 'beyond_int64')]:,} integers beyond the 64-bit "
                     "range: read as text ids")
    if ("user_id", "not_whole") in counts:
        if counts[("user_id", "not_whole")]:
            user.converted = text_id(user.raw)
            notes.append(f"{_named(user)} is text that is not all whole numbers (without leading "
                         "zeros): read as text ids, "
                         "as written")
        else:
            notes.append(f"{_named(user)} is text holding whole numbers: read as integer ids")
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
                f"{_where_text(table, user)} is null in {n_null_users:,} of {rows_after_where:,} "
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
                    notes.append(f"{_named(m)} is empty in every row: read as missing")
            # Refused even where DuckDB would read them ('24-01-05' as the year 24): the order is a guess.
            if got.get("day_month") and got.get("unparsed", 0) <= got["day_month"]:
                bad = example(kept + m.checks["day_month"], m.raw)
                problems.append(TimestampParseError(
                    f"{_where_text(table, m)} has {got['day_month']:,} of {rows_after_where:,} dates whose day "
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
                    f"{_where_text(table, m)} mixes {got['aware']:,} time-zone-aware timestamps "
                    f"(e.g. {aware_example!r}) with {got['naive']:,} naive ones (e.g. "
                    f"{naive_example!r}). Fix: give them all an offset, or map "
                    f"{name} to an expression that makes them uniform.",
                    column=m.label, n_bad=min(got["aware"], got["naive"]), example=aware_example))
            elif got.get("aware"):
                if aware_utc is not None:
                    m.converted = aware_utc(m.raw)
                notes.append(f"{_named(m)} is text with UTC offsets: converted to UTC")
            if got.get("unparsed"):
                bad = example(kept + m.checks["unparsed"], m.raw)
                problems.append(TimestampParseError(
                    f"{_where_text(table, m)} has {got['unparsed']:,} of {rows_after_where:,} rows "
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
                    f"{_where_text(table, m)} is empty in {got['null']:,} of {rows_after_where:,} "
                    f"rows. Fix: drop them with where=\"{m.label} IS NOT NULL\".",
                    column=m.label, n_bad=got["null"]))
            if m.source_type == "TIMESTAMP WITH TIME ZONE":
                notes.append(f"{_named(m)} is time-zone-aware: converted to UTC")
        elif m.logical.kind == "number":
            if got.get("non_numeric"):
                bad = example(kept + m.checks["non_numeric"], m.raw)
                problems.append(NonNumericValueError(
                    f"{_where_text(table, m)} has {got['non_numeric']:,} of {rows_after_where:,} "
                    f"rows that are not numbers, e.g. {bad!r}. Fix: map {name} to a numeric "
                    "SQL expression, or drop those rows with where=.",
                    column=m.label, n_bad=got["non_numeric"], example=bad))
            if got.get("blank"):
                notes.append(f"{_named(m)} is text holding numbers; {got['blank']:,} blank "
                             "values read as missing")
            if got.get("non_finite"):
                bad = example(kept + m.checks["non_finite"], m.raw)
                problems.append(InvalidValueError(
                    f"{_where_text(table, m)} has {got['non_finite']:,} of {rows_after_where:,} rows that are "
                    f"infinite, NaN or beyond {MAX_MAGNITUDE:.0e} in size, e.g. {bad!r}. Fix: correct them, or "
                    "drop them with where= (e.g. where=\"abs(<column>) < 1e15\"), or map them to null with a "
                    "SQL expression.", column=m.label, n_bad=got["non_finite"], example=bad))
            if got.get("negative"):
                bad = example(kept + m.checks["negative"], m.raw)
                problems.append(InvalidValueError(
                    f"{_where_text(table, m)} is negative in {got['negative']:,} of {rows_after_where:,} rows, "
                    f"e.g. {bad!r}; a monthly recurring revenue is zero or more. Fix: correct them, or drop "
                    "them with where=.", column=m.label, n_bad=got["negative"], example=bad))
            if m.source_type.upper() == "BOOLEAN":
                notes.append(f"{_named(m)} is boolean: read as 1.0 / 0.0")

    if problems:
        first = problems[0]
        first.others = [str(p.args[0]) for p in problems[1:]]
        raise first
    return _Assessment(notes=notes, dropped=dropped, drop_null_users=bool(kept))


@dataclass(frozen=True)
class _Bounds:
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


_EPOCH = dt.datetime(1970, 1, 1)


def _micros(value: dt.datetime) -> int:
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def _from_micros(value: int) -> dt.datetime:
    """The timestamp of epoch microseconds, clamped to what Python's datetime holds (years 1 .. 9999)."""
    low, high = _micros(dt.datetime.min), _micros(dt.datetime.max)
    return _EPOCH + dt.timedelta(microseconds=min(max(int(value), low), high))


_OUTLIER_COLUMN = {"events": "timestamp", "subscriptions": "start"}


def _outlier_bounds(source: _Source, mapped: dict[str, _Mapped], not_after: dt.datetime | None,
                    quantiles: Callable[[str], Any]) -> list[_Bounds]:
    """The believable span of the main timestamp, the same rule on every engine.

    Events' ``timestamp`` and subscriptions' ``start``: ``[p01 - width, p99 + width]`` with
    ``width = max(p99 - p01, 365 days)`` (``quantiles(column)`` gives p01 and p99 in epoch
    microseconds, over the rows kept so far); rows outside follow ``outliers=``. Subscriptions
    starting more than a day after the last event (``not_after``, when loaded with the events) are
    counted in the notes: legitimate in a log cut at a date, so never refused.
    """
    table = source.contract.table
    out: list[_Bounds] = []
    column = _OUTLIER_COLUMN.get(table)
    if column in mapped:
        q = quantiles(column)
        if q and q[0] is not None:
            p01, p99 = int(q[0]), int(q[1])
            width = max(p99 - p01, OUTLIER_MIN_WIDTH // dt.timedelta(microseconds=1))
            low, high = p01 - width, p99 + width
            out.append(_Bounds(
                column, low, high,
                f"far outside the bulk of the {table} (the central 98% span {_from_micros(p01):%Y-%m-%d} .. "
                f"{_from_micros(p99):%Y-%m-%d}; believable: {_from_micros(low):%Y-%m-%d} .. "
                f"{_from_micros(high):%Y-%m-%d})",
                f"{column} far outside the bulk of the {table}"))
    if table == "subscriptions" and not_after is not None and "start" in mapped:
        limit = not_after + dt.timedelta(days=1)
        out.append(_Bounds("start", None, _micros(limit),
                           f"starting more than a day after the last event ({not_after:%Y-%m-%d %H:%M})",
                           "start after the last event", note_only=True))
    return out


def _outlier_example(low: int | None, high: int | None, bounds: _Bounds) -> str | None:
    """The most extreme timestamp outside ``bounds`` (from its epoch microseconds), as text."""
    pick = high if high is not None and bounds.high is not None and high > bounds.high else low
    return None if pick is None else _from_micros(pick).isoformat(sep=" ")


def _judge_outliers(source: _Source, m: _Mapped, bounds: _Bounds, n_out: int, rows: int, example: Any,
                    dropped: dict[str, int], notes: list[str]) -> bool:
    """Refuse (``outliers='error'``), drop (counted; returns True) or keep (noted) the rows outside ``bounds``."""
    if not n_out:
        return False
    table = source.contract.table
    text = f"{_where_text(table, m)} has {n_out:,} of {rows:,} rows {bounds.description}, e.g. {example!r}"
    if bounds.note_only:
        notes.append(f"{_named(m)} has {n_out:,} of {rows:,} rows {bounds.description}, e.g. {example!r}: kept "
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


def _judge_summary(table: str, mapped: dict[str, _Mapped], notes: list[str], *, null_counts: dict[str, int],
                   negative: int, backwards: int, repeated: int, backwards_example: Callable[[], Any],
                   repeated_example: Callable[[], Any]) -> None:
    """Notes and errors from the loaded table's counts, the same on every engine: missing optional values and
    negative values are noted; subscriptions ending before they start, and users repeated in a table that
    allows one row per user, raise (with an example fetched only then)."""
    for name, n in null_counts.items():
        if n:
            notes.append(f"{_named(mapped[name])} is missing in {n:,} rows (kept)")
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


def _apply_duplicate_policy(source: _Source, duplicate_rows: int, example: Callable[[], Any], dropped: dict[str, int],
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


def _named(m: _Mapped) -> str:
    """How notes name a column: the logical name, plus the source's when they differ."""
    return m.logical.name if m.label == m.logical.name else f"{m.logical.name} ({m.label!r})"


def _where_text(table: str, m: _Mapped) -> str:
    if m.label == m.logical.name:
        return f"Column {m.label!r} of the {table} source"
    return f"Column {m.label!r} ({m.logical.name}) of the {table} source"


def _count_duplicates(backend: Backend, src: str, keep: str, columns: list[str]) -> tuple[int, Any]:
    """Extra copies of whole source rows among the kept rows, and one duplicated row.

    The screen sorts one hash per row and counts hashes equal to their predecessor
    (a sort is much cheaper than a 50M-entry hash set, and spills when it must); only
    when it finds candidates does the exact GROUP BY run, so a hash collision can
    never be reported as a duplicate.
    """
    row_hash = "hash(" + ", ".join(quote_identifier(c) for c in columns) + ")"
    screen = backend.fetchone(
        "SELECT count(*) FILTER (WHERE h = previous) FROM (SELECT h, lag(h) OVER (ORDER BY h) AS previous "
        f"FROM (SELECT {row_hash} AS h FROM {src} WHERE {keep}))")
    if not screen or not screen[0]:
        return 0, None
    grouped = f"SELECT *, count(*) AS churnml_copies FROM {src} WHERE {keep} GROUP BY ALL"
    n = backend.fetchone(f"SELECT coalesce(sum(churnml_copies - 1), 0) FROM ({grouped}) "
                         "WHERE churnml_copies > 1")
    if not n or not n[0]:
        return 0, None
    rel = backend.sql(f"SELECT * EXCLUDE (churnml_copies) FROM ({grouped}) WHERE churnml_copies > 1")
    row = rel.limit(1).fetchall()[0]
    return int(n[0]), dict(zip(rel.columns, row))


def _summarise(backend: Backend, view: str, contract: _TableContract, mapped: dict[str, _Mapped],
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
    _judge_summary(table, mapped, notes, null_counts=null_counts,
                   negative=int(rest.pop(0)) if has_value else 0,
                   backwards=int(rest.pop(0)) if has_end else 0,
                   repeated=int(rest.pop(0)) if contract.unique_user else 0,
                   backwards_example=lambda: backend.fetchone(
                       f'SELECT user_id, start, "end" FROM {v} WHERE "end" < start'),
                   repeated_example=lambda: backend.fetchone(  # type: ignore[index]
                       f"SELECT user_id FROM {v} GROUP BY user_id HAVING count(*) > 1 ORDER BY user_id LIMIT 1")[0])
    return rows, users, first, last, null_counts
