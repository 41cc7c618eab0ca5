"""Where SQL runs: one embedded DuckDB session shared by the tables of one load."""

from __future__ import annotations

import glob
import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnml.errors import ConfigError, MixedTimezoneError, SourceNotFoundError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

_names = itertools.count(1)

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")


def quote_identifier(name: str) -> str:
    """Quote a column or view name for DuckDB SQL.

    >>> quote_identifier('Call  Failure')
    '"Call  Failure"'
    >>> quote_identifier('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for DuckDB SQL.

    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def fresh_name(prefix: str) -> str:
    """A view name no other load in this process uses."""
    return f"churnml_{prefix}_{next(_names)}"


class Backend:
    """Runs SQL in one DuckDB connection.

    A DuckDB relation carries its own connection but does not expose it, so a
    backend anchored on a relation runs every statement through
    ``relation.query``; views it creates are ordinary temporary views of that
    connection and can be joined with each other.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None,
                 anchor: duckdb.DuckDBPyRelation | None = None) -> None:
        import duckdb

        if connection is not None and anchor is not None:
            raise ConfigError("Backend takes a connection or an anchor relation, not both.")
        if connection is None and anchor is None:
            connection = duckdb.connect()
        self.connection = connection
        self._anchor = anchor
        self._anchor_name = fresh_name("anchor") if anchor is not None else None

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        if self._anchor is not None:
            return self._anchor.query(self._anchor_name, query)
        assert self.connection is not None
        return self.connection.sql(query)

    def execute(self, statement: str) -> None:
        rel = self.sql(statement)
        if rel is not None:
            rel.fetchall()

    def fetchone(self, query: str) -> tuple[Any, ...] | None:
        """The first row of ``query``, or None when it has none."""
        rows = self.sql(query).limit(1).fetchall()
        return tuple(rows[0]) if rows else None

    def column_types(self, from_sql: str) -> dict[str, str]:
        """Column name -> DuckDB type of a FROM-clause item, read without scanning it."""
        rel = self.sql(f"SELECT * FROM {from_sql} LIMIT 0")
        return {name: str(kind) for name, kind in zip(rel.columns, rel.types)}

    def expression_type(self, from_sql: str, expression: str) -> str:
        rel = self.sql(f"SELECT {expression} FROM {from_sql} LIMIT 0")
        return str(rel.types[0])

    def register(self, data: object) -> str:
        """Make ``data`` readable from SQL; returns text usable after ``FROM``."""
        import duckdb
        import pandas as pd

        if isinstance(data, duckdb.DuckDBPyRelation):
            # The view lands in the relation's own connection: relations of one load
            # must share a connection (the one passed, or the first relation's).
            name = fresh_name("source")
            data.create_view(name, replace=True)
            return quote_identifier(name)
        if isinstance(data, pd.DataFrame):
            if self.connection is None:
                raise ConfigError(
                    "A pandas DataFrame cannot be joined with a DuckDB relation's data; "
                    "load the DataFrame into that connection (connection.register) and pass "
                    "connection.table(name) instead.")
            _check_object_timezones(data)
            name = fresh_name("frame")
            self.connection.register(name, data)
            return quote_identifier(name)
        if isinstance(data, (str, os.PathLike)):
            return read_path_sql(Path(data))
        raise ConfigError(
            "A data source must be a path (Parquet or CSV file, folder or glob), a pandas "
            f"DataFrame or a DuckDB relation. Got {type(data).__name__} instead.")


def backend_for(sources: list[object], connection: duckdb.DuckDBPyConnection | None) -> Backend:
    """One backend for all the sources of a load."""
    import duckdb

    relations = [s for s in sources if isinstance(s, duckdb.DuckDBPyRelation)]
    if relations and connection is None:
        return Backend(anchor=relations[0])
    return Backend(connection=connection)


def read_path_sql(path: Path) -> str:
    """The DuckDB table function that reads ``path`` (a file, a folder or a glob)."""
    text = str(path)
    is_glob = any(ch in text for ch in "*?[")
    if is_glob:
        files = sorted(glob.glob(text, recursive=True))
        if not files:
            raise SourceNotFoundError(f"No file matches the pattern {text!r}.")
    elif path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and _kind(p.name))
        if not files:
            raise SourceNotFoundError(
                f"The folder {text!r} holds no Parquet or CSV file (looked for "
                f"{', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES)}).")
    elif path.exists():
        files = [text]
    else:
        raise SourceNotFoundError(f"No such file or folder: {text!r}.")
    kinds = {_kind(f) for f in files}
    if None in kinds:
        bad = next(f for f in files if _kind(f) is None)
        raise ConfigError(
            f"Cannot tell the format of {bad!r}: churnml reads Parquet "
            f"({', '.join(PARQUET_SUFFIXES)}) and CSV ({', '.join(CSV_SUFFIXES)}).")
    if len(kinds) > 1:
        raise ConfigError(f"{text!r} mixes Parquet and CSV files; point to one format.")
    listed = "[" + ", ".join(quote_literal(f) for f in files) + "]"
    if kinds == {"parquet"}:
        return f"read_parquet({listed}, union_by_name = true)"
    # The whole file is sniffed so that a text value deep in a numeric-looking
    # column is typed as text (and reported) instead of failing mid-scan.
    return f"read_csv({listed}, header = true, sample_size = -1, union_by_name = true)"


def _kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _check_object_timezones(frame: pd.DataFrame) -> None:
    """pandas keeps mixed aware/naive datetimes only in object columns; catch them here."""
    import datetime as dt

    for column in frame.columns:
        series = frame[column]
        if series.dtype != object:
            continue
        aware = naive = 0
        example_aware = example_naive = None
        for value in series.dropna():
            if not isinstance(value, dt.datetime):
                break
            if value.tzinfo is None:
                naive += 1
                example_naive = example_naive or value
            else:
                aware += 1
                example_aware = example_aware or value
        if aware and naive:
            raise MixedTimezoneError(
                f"Column {column!r} mixes {aware:,} time-zone-aware timestamps (e.g. "
                f"{str(example_aware)!r}) with {naive:,} naive ones (e.g. {str(example_naive)!r}). "
                "Fix: make them all aware (tz_localize) or all naive before loading.",
                column=str(column), n_bad=min(aware, naive), example=example_aware)
