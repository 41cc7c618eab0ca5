"""The data contract on Spark: the same mapping, checks and report as :mod:`churnml.contract`.

A source (a Parquet or CSV path, or a Spark DataFrame) is mapped onto the logical
columns with Spark SQL expressions, checked in one aggregate pass (null user ids,
timestamps that do not parse, mixed time-zone-aware and naive text, values that
are not numbers), and loaded as a Spark DataFrame with a
:class:`~churnml.contract.LoadReport` that accounts for every row. The rules are
those of the DuckDB loader, so both engines load the same rows with the same types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from churnml.contract import (AWARE_PATTERN, BLANK_PATTERN, DAY_MONTH_PATTERN, EPOCH_PATTERN, EXACT_FLOAT_ID,
                              INTEGER_PART, LEADING_ZERO, LoadReport, Mapped, OUTLIER_QUANTILES, Source, WHOLE_PATTERN,
                              WORDED_PATTERN, apply_duplicate_policy, assess, check_scalar_id, first_line,
                              judge_outliers, judge_summary, listed, number_checks, outlier_bounds, outlier_example,
                              resolve_column, validate_options)
from churnml.errors import ConfigError, MappingError, NonNumericValueError, SourceNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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


def _local_files(text: str) -> list[str]:
    """The local files a path names (a file, a folder or a glob); none for remote ones."""
    import glob
    import os

    if "://" in text:
        return []
    if any(ch in text for ch in "*?["):
        return sorted(f for f in glob.glob(text, recursive=True) if os.path.isfile(f))
    if os.path.isdir(text):
        return sorted(os.path.join(root, n) for root, _, names in os.walk(text) for n in names
                      if not n.startswith((".", "_")))
    return [text]


def read_source(spark: SparkSession, data: Any, text_columns: Any = ()) -> tuple[DataFrame, str]:
    """A source as a Spark DataFrame, and how reports name it.

    CSV columns named in ``text_columns`` are read as text, the others with Spark's inferred types:
    churnml's rules type the mapped columns, as on DuckDB.
    Local files get DuckDB's checks of their bytes and of the Parquet parts' schemas.
    """
    import os

    from pyspark.sql import DataFrame

    from churnml._duckdb import CSV_SUFFIXES, PARQUET_SUFFIXES, check_file_bytes, check_parquet_parts

    if isinstance(data, DataFrame):
        return data, "a Spark DataFrame"
    if isinstance(data, (str, os.PathLike)):
        text = str(data)
        lower = text.rstrip("/").lower()
        is_remote = "://" in text
        if not is_remote and not any(ch in text for ch in "*?[") and not os.path.exists(text):
            raise SourceNotFoundError(f"No such file or folder: {text!r}.")
        files = [f for f in _local_files(text) if f.lower().endswith(PARQUET_SUFFIXES + CSV_SUFFIXES)]
        for name in files:
            check_file_bytes(name)
        if lower.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")):
            from pyspark.sql.types import StringType, StructField, StructType

            sep = "\t" if ".tsv" in lower else ","
            reader = spark.read.option("header", True).option("sep", sep)
            inferred = reader.option("inferSchema", True).csv(text).schema
            wanted = set(text_columns)
            schema = StructType([StructField(f.name, StringType(), True) if f.name in wanted else f
                                 for f in inferred.fields])
            return reader.schema(schema).csv(text), repr(text)
        check_parquet_parts([f for f in files if f.lower().endswith(PARQUET_SUFFIXES)])
        return spark.read.option("recursiveFileLookup", not any(ch in text for ch in "*?[")).parquet(text), repr(text)
    raise ConfigError("A Spark data source must be a path (Parquet or CSV file, folder or glob, local or on "
                      f"object storage) or a Spark DataFrame. Got {type(data).__name__} instead.")


def _text_id(raw: str) -> str:
    """A text id in Spark SQL: the value as written; blank (only whitespace) is null."""
    return f"CASE WHEN CAST({raw} AS STRING) RLIKE {ql(BLANK_PATTERN)} THEN NULL ELSE CAST({raw} AS STRING) END"


def _plan(m: Mapped, time_format: str | None, untyped: bool = False) -> None:
    """``converted`` and ``checks`` as on DuckDB (see ``churnml.contract._plan_conversion``)."""
    kind, raw, base = m.logical.kind, m.raw, m.source_type.split("(")[0]
    blank = f"({raw} IS NOT NULL AND trim(CAST({raw} AS STRING)) = '')"
    if kind == "id":
        check_scalar_id(m.label, m.source_type)
        blank = f"({raw} IS NOT NULL AND CAST({raw} AS STRING) RLIKE {ql(BLANK_PATTERN)})"
        if base in _INTEGER:
            m.converted = f"CAST({raw} AS BIGINT)"
            m.checks["null"] = f"({raw} IS NULL)"
        elif base == "decimal" and _decimal_digits(m.source_type) > 18:
            m.checks["non_integral"] = f"({raw} IS NOT NULL AND {raw} <> floor({raw}))"
            m.checks["beyond_int64"] = (f"({raw} IS NOT NULL AND ({raw} > 9223372036854775807 "
                                        f"OR {raw} < -9223372036854775808))")
            m.converted = f"CAST({raw} AS BIGINT)"
            m.checks["null"] = f"({raw} IS NULL)"
        elif base in _FLOAT or base == "decimal":
            m.checks["non_integral"] = f"({raw} IS NOT NULL AND {raw} <> floor({raw}))"
            m.checks["inexact"] = f"({raw} IS NOT NULL AND NOT (abs({raw}) <= {EXACT_FLOAT_ID}))"
            m.converted = f"CAST({raw} AS BIGINT)"
            m.checks["null"] = f"({raw} IS NULL)"
        elif base == "string" and untyped:
            integer = f"try_cast(regexp_extract(trim({raw}), {ql(INTEGER_PART)}, 1) AS BIGINT)"
            whole = (f"(trim({raw}) RLIKE {ql(WHOLE_PATTERN)} AND {integer} IS NOT NULL "
                     f"AND NOT trim({raw}) RLIKE {ql(LEADING_ZERO)})")
            m.checks["not_whole"] = f"({raw} IS NOT NULL AND NOT {blank} AND NOT {whole})"
            m.converted = integer
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
        else:
            m.converted = _text_id(raw)
            m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "timestamp":
        if base in _TIMESTAMP:
            m.converted = f"CAST({raw} AS TIMESTAMP)"
            m.checks["null"] = f"({raw} IS NULL)"
            return
        if base != "string":  # refused once counted; entirely empty reads as missing (as on DuckDB)
            m.checks["wrong_type"] = f"({raw} IS NOT NULL)"
            m.converted = "CAST(NULL AS TIMESTAMP)"
            m.checks["null"] = f"({raw} IS NULL)"
            return
        if time_format is None:
            m.checks["day_month"] = f"({raw} IS NOT NULL AND trim({raw}) RLIKE {ql(DAY_MONTH_PATTERN)})"
            m.checks["epoch_like"] = f"({raw} IS NOT NULL AND trim({raw}) RLIKE {ql(EPOCH_PATTERN)})"
        if time_format is not None:
            m.converted = f"try_to_timestamp(nullif(trim({raw}), ''), {ql(spark_pattern(time_format))})"
        else:
            aware = f"(trim({raw}) RLIKE {ql(AWARE_PATTERN)})"
            m.checks["aware"] = f"({raw} IS NOT NULL AND {aware})"
            m.checks["naive"] = f"({raw} IS NOT NULL AND trim({raw}) <> '' AND NOT {aware})"
            # Spark reads an offset and converts to UTC (the session's time zone), as DuckDB does.
            m.converted = f"try_cast(nullif(trim({raw}), '') AS TIMESTAMP)"
        m.checks["unparsed"] = f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)"
        if time_format is None:  # a trailing AM/PM or zone name would be dropped without a sign (as on DuckDB)
            worded = f"(trim({raw}) RLIKE {ql(WORDED_PATTERN)} AND NOT trim({raw}) RLIKE {ql(AWARE_PATTERN)})"
            m.checks["worded"] = f"({raw} IS NOT NULL AND {worded})"
            m.checks["unparsed"] = f"({m.checks['unparsed']} OR ({raw} IS NOT NULL AND NOT {blank} AND {worded}))"
        m.checks["null"] = f"({raw} IS NULL OR {blank})"
    elif kind == "number":
        if base in _INTEGER | _FLOAT or base in ("decimal", "boolean"):
            m.converted = f"CAST({raw} AS DOUBLE)"
        elif base == "string":
            m.converted = f"try_cast(nullif(trim({raw}), '') AS DOUBLE)"
            m.checks["non_numeric"] = f"({raw} IS NOT NULL AND NOT {blank} AND {m.converted} IS NULL)"
            m.checks["blank"] = blank
        elif base == "void":
            m.converted = "CAST(NULL AS DOUBLE)"
        else:
            raise NonNumericValueError(f"Column {m.label!r} ({m.logical.name}) has type {m.source_type}, which is "
                                       "not numeric. Fix: map it to a numeric SQL expression.", column=m.label,
                                       n_bad=-1)
        number_checks(m)
        m.checks["null"] = f"({m.converted} IS NULL)"
    else:
        m.converted = f"nullif(CAST({raw} AS STRING), '')"
        m.checks["null"] = f"({m.converted} IS NULL)"


def _decimal_digits(source_type: str) -> int:
    """The precision of a Spark decimal type name ('decimal(20,0)' -> 20)."""
    try:
        return int(source_type.split("(")[1].split(",")[0])
    except (IndexError, ValueError):
        return 10


def load_table(spark: SparkSession, source: Source, *, not_after: Any = None) -> SparkTable:
    """Map, check and load one table on Spark; raise a ``ChurnMLError`` naming the column, count and example.

    ``not_after``: the last event, for subscriptions loaded with their events (later starts are outliers).
    """
    from churnml.contract import is_csv_path, text_columns

    validate_options(source)
    contract, table = source.contract, source.contract.table
    frame, described = read_source(spark, source.data, text_columns(source))
    untyped = is_csv_path(source.data)
    mapped: dict[str, Mapped] = {}
    for logical in contract.columns:
        entry = resolve_column(logical, source.mapping()[logical.name], frame.columns, table,
                         lambda raw: frame.selectExpr(f"{raw} AS x").schema["x"].dataType.simpleString(), quote=qi)
        if entry is not None:
            _plan(entry, source.time_format, untyped)
            mapped[logical.name] = entry
    where = "TRUE"
    if source.where is not None:
        where = f"({source.where})"
        try:
            frame.selectExpr(f"{where} AS x").schema  # noqa: B018 - analysis only
        except Exception as error:
            raise MappingError(f"The {table} filter where={source.where!r} does not compile: "
                               f"{first_line(error)}. Columns in the source: {listed(frame.columns)}.") from error

    aggregates = ["count(*)", f"count_if(coalesce({where}, FALSE))"]
    keys: list[tuple[str, str]] = []
    for name, m in mapped.items():
        for check, condition in m.checks.items():
            keys.append((name, check))
            aggregates.append(f"count_if(coalesce({where}, FALSE) AND {condition})")
    row = frame.selectExpr(*aggregates).first()
    rows_read, rows_after_where = int(row[0]), int(row[1])
    counts = {key: int(value) for key, value in zip(keys, list(row)[2:])}

    def example(condition: str, expression: str) -> Any:
        found = frame.where(f"coalesce({where}, FALSE) AND {condition}").selectExpr(f"{expression} AS x").first()
        return found[0] if found is not None else None

    # Spark reads text with offsets in UTC by itself (the session's time zone is UTC).
    assessed = assess(source, mapped, counts, rows_read, rows_after_where, described, example=example,
                       text_id=_text_id, aware_utc=None)
    notes, dropped = assessed.notes, assessed.dropped
    keep = where + (f" AND {mapped['user_id'].converted} IS NOT NULL" if assessed.drop_null_users else "")

    def micros(name: str) -> str:
        return f"unix_micros({mapped[name].converted})"

    def quantiles(column: str) -> Any:
        found = frame.where(f"coalesce({keep}, FALSE)").selectExpr(
            f"percentile_approx({micros(column)}, array({OUTLIER_QUANTILES[0]}, {OUTLIER_QUANTILES[1]}), "
            "100000) AS q").first()
        return None if found is None or found[0] is None else list(found[0])

    for bounds in outlier_bounds(source, mapped, not_after, quantiles):
        outside = bounds.condition(micros(bounds.column))
        found = frame.where(f"coalesce({keep}, FALSE)").selectExpr(
            f"count_if({outside})", f"min(CASE WHEN {outside} THEN {micros(bounds.column)} END)",
            f"max(CASE WHEN {outside} THEN {micros(bounds.column)} END)", "count(*)").first()
        if judge_outliers(source, mapped[bounds.column], bounds, int(found[0]), int(found[3]),
                           outlier_example(found[1], found[2], bounds), dropped, notes):
            keep = f"({keep}) AND NOT coalesce({outside}, FALSE)"

    kept = frame.where(f"coalesce({keep}, FALSE)")
    duplicate_rows = kept.count() - kept.distinct().count()

    def duplicated() -> Any:
        row = kept.groupBy(*[qi(c) for c in kept.columns]).count().where("count > 1").drop("count").first()
        return row.asDict() if row is not None else None

    apply_duplicate_policy(source, duplicate_rows, duplicated, dropped, notes)
    if duplicate_rows and source.duplicates == "drop":
        kept = kept.distinct()

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


def _summarise(frame: DataFrame, mapped: dict[str, Mapped], table: str, unique_user: bool, notes: list[str],
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
    has_value, has_end = table == "events" and "value" in mapped, table == "subscriptions" and "end" in mapped
    judge_summary(table, mapped, notes, null_counts=null_counts,
                   negative=int(rest.pop(0)) if has_value else 0,
                   backwards=int(rest.pop(0)) if has_end else 0,
                   repeated=rows - users if unique_user else 0,
                   backwards_example=lambda: tuple(frame.where("`end` < start").select("user_id", "start", "end")
                                                   .first()),
                   repeated_example=lambda: frame.groupBy("user_id").count().where("count > 1")
                   .orderBy("user_id").first()[0])
    report = LoadReport(table=table, source=described, columns={n: m.label for n, m in mapped.items()},
                        rows_read=rows_read, rows_loaded=rows, dropped=dropped, duplicate_rows=duplicate_rows,
                        users=users, first=first, last=last, null_counts=null_counts, notes=tuple(notes))
    if rows_read - sum(dropped.values()) != rows:
        raise AssertionError(f"churnml lost rows loading {table} on Spark: {report}")
    return report
