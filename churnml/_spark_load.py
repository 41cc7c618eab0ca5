"""The data contract on Spark: the same mapping, checks and report as :mod:`churnml.sources`.

A source (a Parquet or CSV path, or a Spark DataFrame) is mapped onto the logical
columns with Spark SQL expressions, checked in one aggregate pass (null user ids,
timestamps that do not parse, mixed time-zone-aware and naive text, values that
are not numbers), and loaded as a Spark DataFrame with a
:class:`~churnml.sources.LoadReport` that accounts for every row. The rules are
those of the DuckDB loader, so both engines load the same rows with the same types.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from churnml.errors import (
    ConfigError,
    DataValidationError,
    DuplicateKeyError,
    DuplicateRowsError,
    EmptySourceError,
    InvalidIntervalError,
    MappingError,
    MissingColumnError,
    MixedTimezoneError,
    NonNumericValueError,
    NullUserIdError,
    SourceNotFoundError,
    TimestampParseError,
)
from churnml.sources import _AWARE_PATTERN, LoadReport, _Logical, _Source, _validate_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTEGER = {"tinyint", "smallint", "int", "bigint", "byte", "short", "integer", "long"}
_FLOAT = {"float", "double", "real"}
_TIMESTAMP = {"timestamp", "timestamp_ntz", "date"}

# strptime directives (what ``time_format`` takes, as on DuckDB) and Spark's datetime patterns
_STRPTIME = {"%Y": "yyyy", "%y": "yy", "%m": "MM", "%d": "dd", "%H": "HH", "%I": "hh", "%M": "mm", "%S": "ss",
             "%f": "SSSSSS", "%p": "a", "%b": "MMM", "%B": "MMMM", "%a": "EEE", "%A": "EEEE", "%z": "XX",
             "%j": "DDD", "%-m": "M", "%-d": "d", "%-H": "H", "%-I": "h", "%-M": "m", "%-S": "s", "%%": "%"}


def qi(name: str) -> str:
    """Quote an identifier for Spark SQL.

    >>> qi("Call  Failure"), qi("a`b")
    ('`Call  Failure`', '`a``b`')
    """
    return "`" + name.replace("`", "``") + "`"


def ql(text: str) -> str:
    r"""Quote a string literal for Spark SQL (backslashes are escapes there).

    >>> ql("it's"), ql("a\\b")
    ("'it\\'s'", "'a\\\\b'")
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def spark_pattern(time_format: str) -> str:
    """A strptime format as a Spark datetime pattern.

    >>> spark_pattern("%d/%m/%Y %H:%M")
    'dd/MM/yyyy HH:mm'
    """
    out, i = [], 0
    while i < len(time_format):
        two, three = time_format[i:i + 2], time_format[i:i + 3]
        if three in _STRPTIME:
            out.append(_STRPTIME[three])
            i += 3
        elif two in _STRPTIME:
            out.append(_STRPTIME[two])
            i += 2
        elif time_format[i] == "%":
            raise ConfigError(f"time_format {time_format!r}: the directive {two!r} has no Spark equivalent; "
                              f"supported: {', '.join(sorted(_STRPTIME))}.")
        else:
            ch = time_format[i]
            out.append(f"'{ch}'" if ch.isalpha() else ("''" if ch == "'" else ch))
            i += 1
    return "".join(out)


@dataclass(frozen=True, eq=False)
class SparkTable:
    """A validated table on Spark: a DataFrame with the logical columns, and its report."""

    table: str
    frame: DataFrame = field(repr=False)
    report: LoadReport
    columns: tuple[str, ...]
    types: dict[str, str] = field(repr=False)  # column -> Spark simple type name


@dataclass(frozen=True, eq=False)
class SparkUsageData:
    """Events, and optionally subscriptions and accounts, loaded into one Spark session."""

    spark: SparkSession = field(repr=False)
    events: SparkTable
    subscriptions: SparkTable | None = None
    accounts: SparkTable | None = None

    @property
    def reports(self) -> list[LoadReport]:
        return [t.report for t in (self.events, self.subscriptions, self.accounts) if t is not None]


def read_source(spark: SparkSession, data: Any) -> tuple[DataFrame, str]:
    """A source as a Spark DataFrame, and how reports name it."""
    import os

    from pyspark.sql import DataFrame

    if isinstance(data, DataFrame):
        return data, "a Spark DataFrame"
    if isinstance(data, (str, os.PathLike)):
        text = str(data)
        lower = text.rstrip("/").lower()
        is_remote = "://" in text
        if not is_remote and not any(ch in text for ch in "*?[") and not os.path.exists(text):
            raise SourceNotFoundError(f"No such file or folder: {text!r}.")
        if lower.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")):
            sep = "\t" if ".tsv" in lower else ","
            return (spark.read.option("header", True).option("inferSchema", True).option("sep", sep).csv(text),
                    repr(text))
        return spark.read.option("recursiveFileLookup", not any(ch in text for ch in "*?[")).parquet(text), repr(text)
    raise ConfigError("A Spark data source must be a path (Parquet or CSV file, folder or glob, local or on "
                      f"object storage) or a Spark DataFrame. Got {type(data).__name__} instead.")


@dataclass
class _Mapped:
    logical: _Logical
    label: str
    raw: str
    source_type: str
    converted: str = ""
    checks: dict[str, str] = field(default_factory=dict)


def _resolve(logical: _Logical, given: str | None, frame: DataFrame, table: str) -> _Mapped | None:
    columns = frame.columns
    if given is None:
        if logical.name in columns:
            given = logical.name
        elif logical.required:
            _raise_missing(logical.name, logical.name, columns, table)
        else:
            return None
    if given in columns:
        raw = qi(given)
    elif _IDENTIFIER.match(given):
        _raise_missing(given, logical.name, columns, table)
    else:
        raw = f"({given})"
    try:
        kind = frame.selectExpr(f"{raw} AS x").schema["x"].dataType.simpleString()
    except Exception as error:  # Spark's analysis and parse errors have no common base
        raise MappingError(f"The {table} mapping {logical.name} = {given!r} does not compile: "
                           f"{str(error).strip().splitlines()[0]}. Columns in the source: "
                           f"{', '.join(map(repr, columns))}.") from error
    return _Mapped(logical, given, raw, kind)


def _raise_missing(name: str, logical: str, columns: list[str], table: str) -> None:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6) or [c for c in columns
                                                                         if c.lower() == name.lower()]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise MissingColumnError(
        f"The {table} source has no column {name!r} for {logical!r}.{hint} Columns in the source: "
        f"{', '.join(map(repr, columns))}. Fix: map it, e.g. {logical}='<column>'.")


def _plan(m: _Mapped, time_format: str | None) -> None:
    """``converted`` and ``checks`` as on DuckDB (see ``churnml.sources._plan_conversion``)."""
    kind, raw, base = m.logical.kind, m.raw, m.source_type.split("(")[0]
    blank = f"({raw} IS NOT NULL AND trim(CAST({raw} AS STRING)) = '')"
    if kind == "id":
        if base in _INTEGER:
            m.converted = f"CAST({raw} AS BIGINT)"
        elif base in _FLOAT or base == "decimal":
            m.checks["non_integral"] = f"({raw} IS NOT NULL AND {raw} <> floor({raw}))"
            m.converted = f"CAST({raw} AS BIGINT)"
        else:
            m.converted = f"nullif(CAST({raw} AS STRING), '')"
        m.checks["null"] = f"({m.converted} IS NULL)"
    elif kind == "timestamp":
        if base in _TIMESTAMP:
            m.converted = f"CAST({raw} AS TIMESTAMP)"
            m.checks["null"] = f"({raw} IS NULL)"
            return
        if base != "string":
            hint = (" If it holds epoch seconds, map it as 'timestamp_seconds(<column>)'."
                    if base in _INTEGER | _FLOAT or base == "decimal" else "")
            raise TimestampParseError(f"Column {m.label!r} ({m.logical.name}) has type {m.source_type}, which is "
                                      f"not a timestamp.{hint}", column=m.label, n_bad=-1)
        if time_format is not None:
            m.converted = f"try_to_timestamp(nullif(trim({raw}), ''), {ql(spark_pattern(time_format))})"
        else:
            aware = f"(trim({raw}) RLIKE {ql(_AWARE_PATTERN)})"
            m.checks["aware"] = f"({raw} IS NOT NULL AND {aware})"
            m.checks["naive"] = f"({raw} IS NOT NULL AND trim({raw}) <> '' AND NOT {aware})"
            # Spark reads an offset and converts to UTC (the session's time zone), as DuckDB does.
            m.converted = f"try_cast(nullif(trim({raw}), '') AS TIMESTAMP)"
        m.checks["unparsed"] = f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)"
        m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "number":
        if base in _INTEGER | _FLOAT or base in ("decimal", "boolean"):
            m.converted = f"CAST({raw} AS DOUBLE)"
        elif base == "string":
            m.converted = f"try_cast(nullif(trim({raw}), '') AS DOUBLE)"
            m.checks["non_numeric"] = f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)"
            m.checks["blank"] = blank
        else:
            raise NonNumericValueError(f"Column {m.label!r} ({m.logical.name}) has type {m.source_type}, which is "
                                       "not numeric. Fix: map it to a numeric SQL expression.", column=m.label,
                                       n_bad=-1)
        m.checks["null"] = f"({m.converted} IS NULL)"
    else:
        m.converted = f"nullif(CAST({raw} AS STRING), '')"
        m.checks["null"] = f"({m.converted} IS NULL)"


def _where_text(table: str, m: _Mapped) -> str:
    if m.label == m.logical.name:
        return f"Column {m.label!r} of the {table} source"
    return f"Column {m.label!r} ({m.logical.name}) of the {table} source"


def _named(m: _Mapped) -> str:
    return m.logical.name if m.label == m.logical.name else f"{m.logical.name} ({m.label!r})"


def load_table(spark: SparkSession, source: _Source) -> SparkTable:
    """Map, check and load one table on Spark; raise a ``ChurnMLError`` naming the column, count and example."""
    _validate_options(source)
    contract, table = source.contract, source.contract.table
    frame, described = read_source(spark, source.data)
    mapped: dict[str, _Mapped] = {}
    for logical in contract.columns:
        entry = _resolve(logical, source.mapping()[logical.name], frame, table)
        if entry is not None:
            _plan(entry, source.time_format)
            mapped[logical.name] = entry
    where = "TRUE"
    if source.where is not None:
        where = f"({source.where})"
        try:
            frame.selectExpr(f"{where} AS x").schema  # noqa: B018 - analysis only
        except Exception as error:
            raise MappingError(f"The {table} filter where={source.where!r} does not compile: "
                               f"{str(error).strip().splitlines()[0]}. Columns in the source: "
                               f"{', '.join(map(repr, frame.columns))}.") from error

    aggregates = ["count(*)", f"count_if(coalesce({where}, FALSE))"]
    keys: list[tuple[str, str]] = []
    for name, m in mapped.items():
        for check, condition in m.checks.items():
            keys.append((name, check))
            aggregates.append(f"count_if(coalesce({where}, FALSE) AND {condition})")
    row = frame.selectExpr(*aggregates).first()
    rows_read, rows_after_where = int(row[0]), int(row[1])
    counts = {key: int(value) for key, value in zip(keys, list(row)[2:])}
    if rows_read == 0:
        raise EmptySourceError(f"The {table} source {described} has no rows.", column="*", n_bad=0)
    if rows_after_where == 0:
        raise EmptySourceError(f"The {table} filter where={source.where!r} removed all {rows_read:,} rows of "
                               f"{described}; nothing is left to load. Fix: check the filter.", column="*", n_bad=0)

    def example(condition: str, expression: str) -> Any:
        found = frame.where(f"coalesce({keep}, FALSE) AND {condition}").selectExpr(f"{expression} AS x").first()
        return found[0] if found is not None else None

    notes: list[str] = []
    problems: list[DataValidationError] = []
    dropped: dict[str, int] = {}
    user = mapped["user_id"]
    keep = where
    if counts.get(("user_id", "non_integral"), 0):
        user.converted = f"nullif(CAST({user.raw} AS STRING), '')"
        notes.append(f"{_named(user)} holds non-integral {user.source_type.upper()} values: read as text ids")
    elif ("user_id", "non_integral") in counts:
        notes.append(f"{_named(user)} holds whole numbers stored as {user.source_type.upper()}: read as integer ids")
    if source.where is not None and rows_read > rows_after_where:
        dropped[f"where {source.where}"] = rows_read - rows_after_where
    n_null_users = counts[("user_id", "null")]
    if n_null_users:
        if source.drop_null_user_ids:
            dropped["null user_id (drop_null_user_ids=True)"] = n_null_users
            keep = f"({keep}) AND {user.converted} IS NOT NULL"
        else:
            problems.append(NullUserIdError(
                f"{_where_text(table, user)} is null in {n_null_users:,} of {rows_after_where:,} rows. Fix: drop "
                f"them with where=\"{user.label} IS NOT NULL\" or drop_null_user_ids=True (either way the report "
                "counts them).", column=user.label, n_bad=n_null_users))
    for name, m in mapped.items():
        got = {check: counts.get((name, check), 0) for check in m.checks}
        if m.logical.kind == "timestamp":
            if got.get("aware") and got.get("naive"):
                aware, naive = example(m.checks["aware"], m.raw), example(m.checks["naive"], m.raw)
                problems.append(MixedTimezoneError(
                    f"{_where_text(table, m)} mixes {got['aware']:,} time-zone-aware timestamps (e.g. {aware!r}) "
                    f"with {got['naive']:,} naive ones (e.g. {naive!r}). Fix: give them all an offset, or map "
                    f"{name} to an expression that makes them uniform.", column=m.label,
                    n_bad=min(got["aware"], got["naive"]), example=aware))
            elif got.get("aware"):
                notes.append(f"{_named(m)} is text with UTC offsets: converted to UTC")
            if got.get("unparsed"):
                bad = example(m.checks["unparsed"], m.raw)
                problems.append(TimestampParseError(
                    f"{_where_text(table, m)} has {got['unparsed']:,} of {rows_after_where:,} rows that do not "
                    f"parse as a timestamp, e.g. {bad!r}. Fix: pass time_format='<strptime format>' or drop them "
                    "with where=.", column=m.label, n_bad=got["unparsed"], example=bad))
            if got["null"] and m.logical.required:
                problems.append(TimestampParseError(
                    f"{_where_text(table, m)} is empty in {got['null']:,} of {rows_after_where:,} rows. Fix: drop "
                    f"them with where=\"{m.label} IS NOT NULL\".", column=m.label, n_bad=got["null"]))
        elif m.logical.kind == "number":
            if got.get("non_numeric"):
                bad = example(m.checks["non_numeric"], m.raw)
                problems.append(NonNumericValueError(
                    f"{_where_text(table, m)} has {got['non_numeric']:,} of {rows_after_where:,} rows that are "
                    f"not numbers, e.g. {bad!r}. Fix: map {name} to a numeric SQL expression, or drop those rows "
                    "with where=.", column=m.label, n_bad=got["non_numeric"], example=bad))
            if got.get("blank"):
                notes.append(f"{_named(m)} is text holding numbers; {got['blank']:,} blank values read as missing")
            if m.source_type == "boolean":
                notes.append(f"{_named(m)} is boolean: read as 1.0 / 0.0")
    if problems:
        first = problems[0]
        first.others = [str(p.args[0]) for p in problems[1:]]
        raise first

    kept = frame.where(f"coalesce({keep}, FALSE)")
    duplicate_rows = kept.count() - kept.distinct().count()
    if duplicate_rows:
        if source.duplicates == "error":
            dup = kept.groupBy(*[qi(c) for c in kept.columns]).count().where("count > 1").drop("count").first()
            example_row = dup.asDict() if dup is not None else None
            raise DuplicateRowsError(
                f"The {table} source has {duplicate_rows:,} exact duplicate rows, e.g. {example_row!r}. Fix: "
                "duplicates='drop' to drop the extra copies, or duplicates='keep' to keep them (both are reported).",
                column="*", n_bad=duplicate_rows, example=example_row)
        if source.duplicates == "drop":
            dropped["exact duplicate rows (duplicates='drop')"] = duplicate_rows
            kept = kept.distinct()
        else:
            notes.append(f"{duplicate_rows:,} exact duplicate rows kept (duplicates='keep')")

    select = [f"{m.converted} AS {qi(name)}" for name, m in mapped.items()]
    if contract.keep_other_columns:
        used = {m.label for m in mapped.values()}
        for column in frame.columns:
            if column in used:
                continue
            if column in mapped:
                notes.append(f"source column {column!r} not kept: its name is a logical column")
                continue
            select.append(qi(column))
    loaded = kept.selectExpr(*select)
    report = _summarise(loaded, mapped, table, contract.unique_user, notes, described, rows_read, dropped,
                        duplicate_rows)
    types = {f.name: f.dataType.simpleString() for f in loaded.schema.fields}
    return SparkTable(table=table, frame=loaded, report=report, columns=tuple(loaded.columns), types=types)


def _summarise(frame: DataFrame, mapped: dict[str, _Mapped], table: str, unique_user: bool, notes: list[str],
               described: str, rows_read: int, dropped: dict[str, int], duplicate_rows: int) -> LoadReport:
    time_column = next((n for n, m in mapped.items() if m.logical.kind == "timestamp"), None)
    parts = ["count(*)", "count(DISTINCT user_id)"]
    parts += [f"min({qi(time_column)})", f"max({qi(time_column)})"] if time_column else ["NULL", "NULL"]
    optional = [name for name, m in mapped.items() if not m.logical.required]
    parts += [f"count_if({qi(name)} IS NULL)" for name in optional]
    extra = []
    if table == "events" and "value" in mapped:
        extra.append("count_if(value < 0)")
    if table == "subscriptions" and "end" in mapped:
        extra.append("count_if(`end` < start)")
    row = list(frame.selectExpr(*parts, *extra).first())
    rows, users, first, last = int(row[0]), int(row[1]), row[2], row[3]
    null_counts = {name: int(n) for name, n in zip(optional, row[4:4 + len(optional)])}
    rest = row[4 + len(optional):]
    for name, n in null_counts.items():
        if n:
            notes.append(f"{_named(mapped[name])} is missing in {n:,} rows (kept)")
    if table == "events" and "value" in mapped:
        negative = int(rest.pop(0))
        if negative:
            notes.append(f"value is negative in {negative:,} rows (kept: returns, refunds, cancellations)")
    if table == "subscriptions" and "end" in mapped:
        backwards = int(rest.pop(0))
        if backwards:
            bad = frame.where("`end` < start").select("user_id", "start", "end").first()
            raise InvalidIntervalError(
                f"The subscriptions source has {backwards:,} rows whose end ({mapped['end'].label!r}) is before "
                f"their start ({mapped['start'].label!r}), e.g. {tuple(bad)!r}. Fix: correct or filter them with "
                "where=.", column=mapped["end"].label, n_bad=backwards, example=tuple(bad))
    if unique_user and rows != users:
        bad = frame.groupBy("user_id").count().where("count > 1").orderBy("user_id").first()
        raise DuplicateKeyError(
            f"The {table} source has {rows - users:,} extra rows for users that appear more than once (user_id "
            f"{mapped['user_id'].label!r}), e.g. {bad[0]!r}. Fix: keep one row per user (filter with where=, or "
            "deduplicate upstream).", column=mapped["user_id"].label, n_bad=rows - users, example=bad[0])
    report = LoadReport(table=table, source=described, columns={n: m.label for n, m in mapped.items()},
                        rows_read=rows_read, rows_loaded=rows, dropped=dropped, duplicate_rows=duplicate_rows,
                        users=users, first=first, last=last, null_counts=null_counts, notes=tuple(notes))
    if rows_read - sum(dropped.values()) != rows:
        raise AssertionError(f"churnml lost rows loading {table} on Spark: {report}")
    return report
