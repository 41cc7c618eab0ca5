"""Tables that already carry a churn label: one row per customer, no event history.

The common Kaggle-style case (IBM Telco, the Iranian telecom table): the label
column becomes 0/1, numbers stored as text become numbers (blanks read as
missing and counted), exact duplicate rows are counted and kept, dropped or
refused, and everything else is a feature column.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"id": ["a", "b", "c"], "charges": ["10.5", " ", "3"],
...                       "churned": ["Yes", "No", "No"]})
>>> table = LabelledTableSource(frame, label="churned", id="id").load()
>>> table.y.tolist(), table.X["charges"].tolist()
([1, 0, 0], [10.5, nan, 3.0])
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

from churnml._duckdb import backend_for, count_duplicates, describe_source, quote_identifier
from churnml.contract._rules import DuplicatePolicy, raise_missing
from churnml.contract._loading import LoadReport
from churnml.errors import ConfigError, DuplicateRowsError, EmptySourceError, LabelError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = ["LabelledTableSource", "LabelledTable"]

_POSITIVE = {"1", "yes", "y", "true", "t", "churn", "churned", "1.0"}
_NEGATIVE = {"0", "no", "n", "false", "f", "retained", "stayed", "active", "0.0"}


@dataclass(frozen=True, eq=False)
class LabelledTable:
    """Features ``X``, label ``y`` (0/1, 1 = churned), optional ``ids``, and the load report."""

    X: pd.DataFrame
    y: pd.Series | None  # None for a table to score, without labels
    ids: pd.Series | None
    report: LoadReport


@dataclass(frozen=True, eq=False)
class LabelledTableSource:
    """A table with one row per customer and a churn label column.

    Parameters
    ----------
    data : path, pandas.DataFrame or duckdb.DuckDBPyRelation
    label : str or None
        The label column: booleans, 0/1, or text such as Yes/No. None for a table
        to score (no labels yet).
    id : str, optional
        A customer id column, kept aside and not used as a feature.
    positive : str, optional
        The label value that means churned, when it is not one of the usual
        spellings (yes, true, 1, churned, ...).
    where : str, optional
        SQL filter; rows it rejects are counted in the report.
    duplicates : {'keep', 'drop', 'error'}, default 'keep'
    """

    data: Any
    _: KW_ONLY
    label: str | None
    id: str | None = None
    positive: str | None = None
    where: str | None = None
    duplicates: DuplicatePolicy = "keep"

    def load(self, connection: duckdb.DuckDBPyConnection | None = None) -> LabelledTable:
        """Validate the table and read it into pandas (such tables fit in memory)."""
        if self.duplicates not in ("keep", "drop", "error"):
            raise ConfigError("The 'duplicates' parameter of LabelledTableSource must be one of "
                              f"'keep', 'drop', 'error'. Got {self.duplicates!r} instead.")
        backend = backend_for([self.data], connection)
        src = backend.register(self.data)
        described = describe_source(self.data)
        columns = backend.column_types(src)
        for name, role in ((self.label, "label"), (self.id, "id")):
            if name is not None and name not in columns:
                raise_missing(name, role, columns, "labelled table")
        where = f"({self.where})" if self.where else "TRUE"

        text_columns = [c for c, kind in columns.items()
                        if kind == "VARCHAR" and c not in (self.label, self.id)]
        checks = ["count(*)", f"count(*) FILTER (WHERE {where} IS TRUE)"]
        for column in text_columns:
            q = quote_identifier(column)
            checks.append(f"count(*) FILTER (WHERE {where} IS TRUE AND trim({q}) <> '' "
                          f"AND try_cast(trim({q}) AS DOUBLE) IS NULL)")
            checks.append(f"count(*) FILTER (WHERE {where} IS TRUE AND trim({q}) = '')")
            checks.append(f"count(*) FILTER (WHERE {where} IS TRUE AND trim({q}) <> '')")
        row = backend.fetchone(f"SELECT {', '.join(checks)} FROM {src}")
        assert row is not None
        rows_read, rows_kept = int(row[0]), int(row[1])
        if rows_read == 0:
            raise EmptySourceError(f"The labelled table {described} has no rows.", column="*", n_bad=0)
        if rows_kept == 0:
            raise EmptySourceError(f"The filter where={self.where!r} removed all {rows_read:,} rows "
                                   f"of {described}.", column="*", n_bad=0)

        notes: list[str] = []
        select: list[str] = []
        for column, kind in columns.items():
            q = quote_identifier(column)
            if column in text_columns:
                i = 2 + 3 * text_columns.index(column)
                non_numeric, blank, filled = (int(v) for v in row[i:i + 3])
                if non_numeric == 0 and filled > 0:
                    select.append(f"try_cast(NULLIF(trim({q}), '') AS DOUBLE) AS {q}")
                    if blank:
                        notes.append(f"{column!r} is text holding numbers; {blank:,} blank values "
                                     "read as missing")
                    continue
            select.append(q)

        dropped: dict[str, int] = {}
        if self.where and rows_read > rows_kept:
            dropped[f"where {self.where}"] = rows_read - rows_kept
        duplicate_rows, _ = count_duplicates(backend, src, f"{where} IS TRUE", list(columns), rows_kept)
        if duplicate_rows and self.duplicates == "error":
            raise DuplicateRowsError(
                f"The labelled table {described} has {duplicate_rows:,} exact duplicate rows. Fix: "
                "duplicates='drop' or duplicates='keep' (both are reported).",
                column="*", n_bad=duplicate_rows)
        if duplicate_rows and self.duplicates == "drop":
            dropped["exact duplicate rows (duplicates='drop')"] = duplicate_rows
        elif duplicate_rows:
            notes.append(f"{duplicate_rows:,} exact duplicate rows kept (duplicates='keep')")

        # rows come in file order (a plain scan keeps insertion order; SELECT DISTINCT does not, and the random
        # split is by position, so a dropped duplicate must not reorder the table between runs)
        kept = f"FROM {src} WHERE {where} IS TRUE"
        frame = backend.sql(f"SELECT {', '.join(select)} {kept}").df()
        if duplicate_rows and self.duplicates == "drop":  # the first of each set of exact duplicates stays
            first = ~backend.sql(f"SELECT * {kept}").df().duplicated(keep="first").to_numpy()
            frame = frame[first].reset_index(drop=True)
        y = _binary_label(frame[self.label], self.label, self.positive) if self.label is not None else None
        ids = frame[self.id] if self.id is not None else None
        X = frame.drop(columns=[c for c in (self.label, self.id) if c is not None])
        if y is not None:
            positives = int(y.sum())
            notes.append(f"label {self.label!r}: {positives:,} churned of {len(y):,} "
                         f"({positives / len(y):.1%})")
        report = LoadReport(
            table="labelled table", source=described,
            columns={**({"label": self.label} if self.label else {}), **({"id": self.id} if self.id else {})},
            rows_read=rows_read, rows_loaded=len(frame), dropped=dropped,
            duplicate_rows=duplicate_rows,
            users=int(ids.nunique()) if ids is not None else len(frame),
            first=None, last=None,
            null_counts={c: int(n) for c, n in X.isna().sum().items() if n},
            notes=tuple(notes))
        if rows_read - sum(dropped.values()) != report.rows_loaded:
            raise AssertionError(f"churnml lost rows loading a labelled table: {report}")
        return LabelledTable(X=X, y=y, ids=ids, report=report)


def _binary_label(values: pd.Series, column: str, positive: str | None) -> pd.Series:
    import pandas as pd

    missing = int(values.isna().sum())
    if missing:
        raise LabelError(f"Label column {column!r} is missing in {missing:,} rows. Fix: drop them "
                         f"with where=\"{column} IS NOT NULL\".", column=column, n_bad=missing)
    text = values.astype(str).str.strip().str.lower()
    if values.dtype == bool:
        text = values.map({True: "true", False: "false"})
    seen = sorted(set(text))
    if positive is not None:
        wanted = str(positive).strip().lower()
        if wanted not in seen:
            raise LabelError(f"positive={positive!r} does not occur in label column {column!r}; "
                             f"its values are {seen!r}.", column=column, n_bad=len(values))
        if len(seen) != 2:
            raise LabelError(f"Label column {column!r} must have two values; it has {len(seen)}: "
                             f"{seen[:10]!r}.", column=column, n_bad=len(values))
        return pd.Series((text == wanted).astype("int8").to_numpy(), index=values.index, name="label")
    unknown = [v for v in seen if v not in _POSITIVE | _NEGATIVE]
    positives = [v for v in seen if v in _POSITIVE]
    if unknown or len(seen) > 2 or len(positives) > 1 or len(seen) - len(positives) > 1:
        bad = int((~text.isin(list(_POSITIVE | _NEGATIVE))).sum()) if unknown else len(values)
        counts = text.value_counts()
        found = ", ".join(f"{v!r} ({int(counts[v]):,} rows)" for v in seen[:10]) + (", ..." if len(seen) > 10 else "")
        fix = ("name the churned value with positive='<value>' (--positive on the command line)"
               if len(seen) == 2 else
               "a label has two values; map the column to two (e.g. where= to drop the others), then name the "
               "churned one with positive='<value>' (--positive on the command line)")
        raise LabelError(
            f"Label column {column!r} holds values churnml cannot read as churned / retained: "
            f"{seen[:10]!r} ({len(seen)} values: {found}). Fix: {fix}.", column=column, n_bad=bad,
            example=unknown[0] if unknown else seen[0])
    return pd.Series(text.isin(list(_POSITIVE)).astype("int8").to_numpy(), index=values.index,
                     name="label")
