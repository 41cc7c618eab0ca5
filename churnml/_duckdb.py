"""Where SQL runs: one embedded DuckDB session shared by the tables of one load."""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnml.errors import (
    ConfigError,
    EmptySourceError,
    MixedTimezoneError,
    SchemaError,
    SourceFormatError,
    SourceNotFoundError,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

_names = itertools.count(1)

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")
# DuckDB's type names, as a relation's types print
INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                 "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE",
                   "TIMESTAMP WITH TIME ZONE"}


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

    def register(self, data: object, *, text_columns: Collection[str] = ()) -> str:
        """Make ``data`` readable from SQL; returns text usable after ``FROM``.

        ``text_columns``: CSV columns read as text (the others keep the types DuckDB's sniffer
        finds), so that churnml's own rules, not a guess per file, type ids and timestamps.
        """
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
            return read_path_sql(Path(data), text_columns=text_columns)
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


def read_path_sql(path: Path, *, text_columns: Collection[str] = ()) -> str:
    """The DuckDB table function that reads ``path`` (a file, a folder or a glob).

    Raises
    ------
    EmptySourceError
        A file is empty (0 bytes).
    SourceFormatError
        A file's bytes are not what its name says (gzip or Parquet behind ``.csv``, text
        that is not UTF-8).
    SchemaError
        The Parquet parts of a folder or glob do not have the same columns.
    """
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
    for f in files:
        check_file_bytes(f)
    listed = "[" + ", ".join(quote_literal(f) for f in files) + "]"
    if kinds == {"parquet"}:
        check_parquet_parts(files)
        return f"read_parquet({listed}, union_by_name = true)"
    types = ""
    if text_columns:
        import duckdb

        # the header only (a short sniff of the dialect), to name just the columns that exist
        with duckdb.connect() as probe:
            header = probe.sql(f"SELECT * FROM read_csv({listed}, header = true, all_varchar = true, "
                               "union_by_name = true) LIMIT 0").columns
        wanted = [c for c in header if c in set(text_columns)]
        if wanted:
            types = ", types = {" + ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in wanted) + "}"
    # The whole file is sniffed so that a text value deep in a numeric-looking
    # column is typed as text (and reported) instead of failing mid-scan.
    return f"read_csv({listed}, header = true, sample_size = -1, union_by_name = true{types})"


_UTF8_PROBE = 1 << 20  # bytes of a CSV decoded up front; a bad byte further on is caught by the read itself


def check_file_bytes(name: str) -> None:
    """Refuse a file that is empty or whose first bytes are not what its name says."""
    import codecs
    import gzip

    lower = name.lower()
    if os.path.isfile(name) and os.path.getsize(name) == 0:
        raise EmptySourceError(f"The file {name!r} is empty (0 bytes). Fix: export the data again.",
                               column="*", n_bad=0)
    if not os.path.isfile(name):
        return
    with open(name, "rb") as handle:
        head = handle.read(4)
    is_gzip, is_parquet, is_zip = head[:2] == b"\x1f\x8b", head in (b"PAR1", b"PARE"), head[:2] == b"PK"
    if lower.endswith(PARQUET_SUFFIXES):
        if not is_parquet:
            raise SourceFormatError(f"{name!r} is named as Parquet but is not a Parquet file (it does not start "
                                    "with 'PAR1'). Fix: give it the extension of its real format.")
        return
    compressed = lower.endswith(".gz")
    if is_gzip and not compressed:
        raise SourceFormatError(f"{name!r} is gzip-compressed but named as plain CSV. Fix: rename it to "
                                f"{os.path.basename(name) + '.gz'!r} (churnml reads .csv.gz), or decompress it "
                                "with `gunzip -c`.")
    if compressed and not is_gzip:
        raise SourceFormatError(f"{name!r} is named .gz but is not gzip-compressed. Fix: drop the .gz extension.")
    if is_parquet:
        raise SourceFormatError(f"{name!r} is a Parquet file named as CSV. Fix: rename it to end in .parquet.")
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise SourceFormatError(f"{name!r} is UTF-16 text (e.g. Excel's 'Unicode text'); churnml reads CSV as "
                                "UTF-8. Fix: convert it, `iconv -f utf-16 -t utf-8 in.csv > out.csv`, or save it "
                                "as 'CSV UTF-8'.")
    if is_zip:
        raise SourceFormatError(f"{name!r} is a zip archive (or an Excel workbook), not CSV. Fix: extract or "
                                "export it as a UTF-8 CSV file.")
    opener = gzip.open if compressed else open
    try:
        with opener(name, "rb") as handle:
            data = handle.read(_UTF8_PROBE)
    except (OSError, EOFError) as error:
        raise SourceFormatError(f"{name!r} cannot be decompressed: {error}.") from error
    if compressed and not data:
        raise EmptySourceError(f"The file {name!r} is empty (no bytes once decompressed). Fix: export the "
                               "data again.", column="*", n_bad=0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=len(data) < _UTF8_PROBE)
    except UnicodeDecodeError as error:
        raise not_utf8(name, data[max(0, error.start - 20):error.end + 20], error.start) from error


def not_utf8(name: str, context: bytes = b"", offset: int | None = None) -> SourceFormatError:
    """The error for CSV text that is not UTF-8 (the only encoding churnml reads)."""
    where = f" at byte {offset:,} ({context!r})" if offset is not None else ""
    return SourceFormatError(
        f"{name!r} is not UTF-8 text{where}; churnml reads CSV as UTF-8. If it is Latin-1 / Windows-1252 "
        "(common for spreadsheet exports), convert it: `iconv -f latin1 -t utf-8 in.csv > out.csv`.")


def _kind_of_arrow(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_dictionary(arrow_type):
        return "text"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamp"
    if pa.types.is_null(arrow_type):
        return "null"
    return str(arrow_type)


def check_parquet_parts(files: list[str]) -> None:
    """The parts of one Parquet source must have the same column names and kinds of type (number, text,
    timestamp); a part that differs is named with the difference (a silent union would read its rows as nulls)."""
    if len(files) < 2:
        return
    import pyarrow.parquet as pq

    def schema_of(name: str) -> dict[str, str]:
        try:
            schema = pq.read_schema(name)
        except Exception as error:  # pyarrow raises ArrowInvalid / OSError for a file that is not Parquet
            raise SourceFormatError(f"{name!r} is not a readable Parquet file: {error}.") from error
        return {field.name: _kind_of_arrow(field.type) for field in schema}

    first = schema_of(files[0])
    for name in files[1:]:
        other = schema_of(name)
        missing, extra = [c for c in first if c not in other], [c for c in other if c not in first]
        differ = [c for c in first if c in other and "null" not in (first[c], other[c]) and first[c] != other[c]]
        if missing or extra or differ:
            parts = []
            if missing:
                parts.append(f"lacks {', '.join(repr(c) for c in missing)}")
            if extra:
                parts.append(f"has extra {', '.join(repr(c) for c in extra)}")
            if differ:
                parts.append(", ".join(f"{c!r} is {other[c]} where it is {first[c]}" for c in differ))
            raise SchemaError(
                f"The Parquet part {name!r} does not match {files[0]!r}: it {'; '.join(parts)}. Every part of "
                "a source must have the same columns. Fix: rewrite the odd part, or point to a file or glob "
                "that leaves it out.")


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


def describe_source(data: Any) -> str:
    """How an error names a source: its path, a DuckDB relation, or a frame and its size."""
    import duckdb

    if isinstance(data, duckdb.DuckDBPyRelation):
        return "a DuckDB relation"
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        return repr(str(data))
    return f"a {type(data).__name__} of {len(data):,} rows" if hasattr(data, "__len__") else type(data).__name__


# DuckDB's memory limit while scoring computes features, unless the caller gives one: DuckDB spills past it,
# and Python holds little beside it (a chunk of accounts at a time). At the 1.4M-user size of
# bench/scoring.py the features took 1.12x their uncapped time under a 2GB cap and the uncapped time under
# 2.5GB, the whole run's peak then 2.7 GB (bench/RESULTS.md).
SCORING_MEMORY_LIMIT = "2.5GB"

_SIZE_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def memory_limit_bytes(backend: Backend) -> int | None:
    """The session's ``memory_limit`` in bytes (None where DuckDB prints something else)."""
    row = backend.fetchone("SELECT current_setting('memory_limit')")
    number, _, unit = str(row[0] if row else "").partition(" ")
    try:
        return int(float(number) * _SIZE_UNITS[unit])
    except (KeyError, ValueError):
        return None


def _held_hashes(backend: Backend, query: str, rows: int, budget: int) -> Any:
    """The one column of ``query`` (row hashes, at most ``rows`` of them) as a NumPy array, or None where
    ``rows`` hashes would pass ``budget`` bytes.

    The array is allocated once at its greatest size, in anonymous memory of the operating system's
    ordinary pages, and filled batch by batch. Concatenating the batches touched twice the memory, and
    NumPy asks for huge pages for large arrays, which the kernel may assemble first (where transparent huge
    pages are "madvise", a common default, by compacting memory): on the benchmark machine the first touch
    of 400 MB took 0.8 s that way and 0.2 s in ordinary pages (``bench/RESULTS.md``).
    """
    import mmap

    import numpy as np

    if 8 * rows > budget:
        return None
    held, filled = np.frombuffer(mmap.mmap(-1, max(8 * rows, 8)), dtype=np.uint64), 0
    for batch in backend.sql(query).to_arrow_reader(1_000_000):
        part = batch.column(0).to_numpy()
        if filled + len(part) > rows:
            raise AssertionError(f"the duplicate screen was told of at most {rows:,} rows and read more")
        held[filled:filled + len(part)] = part
        filled += len(part)
    return held[:filled]


def _equal_neighbours(values: Any) -> int:
    """How many entries of a sorted array equal the one before, compared in slices whose temporaries stay
    small (see :func:`_held_hashes` on large NumPy arrays)."""
    import numpy as np

    step, count = 1 << 21, 0
    for start in range(0, max(len(values) - 1, 0), step):
        stop = min(start + step, len(values) - 1)
        count += int(np.count_nonzero(values[start + 1:stop + 1] == values[start:stop]))
    return count


def _in_strict_order(backend: Backend, query: str, batch_rows: int = 1_000_000) -> bool:
    """Whether the rows of ``query`` (one or two key columns) arrive in strictly increasing order of their
    keys, compared first to last or last to first (a log ordered by user and time, or by time and user);
    False at the first row that breaks both orders, repeats a key or holds a null key.

    Rows whose keys all differ cannot copy one another, so such a log has no duplicate rows, and proving it
    costs one streamed pass with no row held (``bench/RESULTS.md``).
    """
    import pyarrow.compute as pc

    def breaks(order: tuple[int, ...], before: list[Any], after: list[Any]) -> bool:
        """Whether some row of ``after`` is not greater, in ``order`` of the keys, than the row before it."""
        step = pc.less_equal(after[order[-1]], before[order[-1]])
        for i in reversed(order[:-1]):
            step = pc.or_(pc.less(after[i], before[i]), pc.and_(pc.equal(after[i], before[i]), step))
        return bool(pc.any(step).as_py())

    orders: list[tuple[int, ...]] | None = None  # the orders of the keys still kept, once a batch is seen
    last: tuple[Any, ...] | None = None
    for batch in backend.sql(query).to_arrow_reader(batch_rows):
        if batch.num_rows == 0:
            continue
        keys = batch.columns
        if any(key.null_count for key in keys):
            return False
        if orders is None:  # first to last and last to first (one order where there is one key)
            orders = list(dict.fromkeys([tuple(range(len(keys))), tuple(reversed(range(len(keys))))]))
        first = tuple(key[0].as_py() for key in keys)
        if last is not None:  # across the batches' edge
            orders = [o for o in orders if [first[i] for i in o] > [last[i] for i in o]]
        n = batch.num_rows
        if n > 1:
            before, after = [key.slice(0, n - 1) for key in keys], [key.slice(1) for key in keys]
            orders = [o for o in orders if not breaks(o, before, after)]
        if not orders:
            return False
        last = tuple(key[n - 1].as_py() for key in keys)
    return True


def count_duplicates(backend: Backend, src: str, keep: str, columns: list[str], rows: int,
                     keys: list[str] | None = None) -> tuple[int, Any]:
    """Extra copies of whole source rows among the kept rows (at most ``rows``), and one duplicated row.

    ``keys``: SQL of one or two columns that every copy of a row shares (its user id and time). Where the
    kept rows arrive in strictly increasing order of them (:func:`_in_strict_order`), no row repeats and
    nothing more is read. Otherwise the screen sorts one hash per row and counts hashes equal to their
    predecessor (a sort is much cheaper than a 50M-entry hash set). The hashes are sorted in NumPy while
    they take at most a quarter of the session's memory limit (8 bytes a row; at 50M rows 1 s against 4 s
    for DuckDB's window, ``bench/RESULTS.md``), else by DuckDB, which spills when it must. Only when the
    screen finds candidates does the exact GROUP BY run, so a hash collision can never be reported as a
    duplicate.
    """
    if keys and _in_strict_order(backend, f"SELECT {', '.join(keys)} FROM {src} WHERE {keep}"):
        return 0, None
    row_hash = "hash(" + ", ".join(quote_identifier(c) for c in columns) + ")"
    hashes_of_rows = f"SELECT {row_hash} AS h FROM {src} WHERE {keep}"
    limit = memory_limit_bytes(backend)
    hashes = None if limit is None else _held_hashes(backend, hashes_of_rows, rows, limit // 4)
    if hashes is not None:
        hashes.sort()
        screen: tuple[Any, ...] | None = (_equal_neighbours(hashes),)
        del hashes
    else:
        screen = backend.fetchone("SELECT count(*) FILTER (WHERE h = previous) FROM (SELECT h, lag(h) OVER "
                                  f"(ORDER BY h) AS previous FROM ({hashes_of_rows}))")
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
