"""Population stability: how far the scored accounts' features moved from the training data.

At training, each feature's distribution over the training slice is kept as bins
(deciles of the values, one bin for missing; levels for categories) with the
share of rows in each. At scoring, the same bins are counted chunk by chunk and
the population stability index (PSI) compares the two:

    PSI = sum over bins of (scored share - training share) * ln(scored share / training share)

with shares floored at 1e-4 so an empty bin counts as rare, not infinite. The
usual reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a shift
worth acting on (the default warning threshold).

Examples
--------
>>> import pandas as pd
>>> train = pd.DataFrame({"days": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]})
>>> reference = drift_reference(train, ["days"])
>>> counter = DriftCounter(reference)
>>> counter.add(pd.DataFrame({"days": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]}))
>>> round(float(counter.table()["psi"].iloc[0]), 6)
0.0
>>> shifted = DriftCounter(reference)
>>> shifted.add(pd.DataFrame({"days": [10.0] * 10}))
>>> bool(shifted.table()["psi"].iloc[0] > 0.25)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DriftCounter", "drift_reference", "population_stability_index"]

FLOOR = 1e-4
DEFAULT_THRESHOLD = 0.25


def drift_reference(frame: pd.DataFrame, names: list[str], *, bins: int = 10) -> dict[str, Any]:
    """Each feature's bins and training shares (JSON-ready), from the rows of ``frame``.

    Numbers get the distinct decile edges of their non-missing values (bin ``i``
    holds values in ``(edge[i-1], edge[i]]``, the last bin everything above), then a
    bin for missing; categories get one bin per level, then one for missing (or an
    unseen level).
    """
    out: dict[str, Any] = {}
    for name in names:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            levels = [str(c) for c in column.cat.categories]
            entry: dict[str, Any] = {"levels": levels}
        else:
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            present = values[~np.isnan(values)]
            edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if len(present) else []
            entry = {"edges": [float(e) for e in edges]}
        counts = _bin_counts(entry, column)
        entry["shares"] = [float(c) for c in counts / max(1, counts.sum())]
        out[name] = entry
    return {"rows": len(frame), "features": out}


def _bin_counts(entry: dict[str, Any], column: pd.Series) -> np.ndarray:
    if "levels" in entry:
        levels = entry["levels"]
        text = column.astype("object")
        codes = pd.Categorical(text.where(text.isin(levels), None), categories=levels).codes
        index = np.where(codes < 0, len(levels), codes)
        return np.bincount(index, minlength=len(levels) + 1)
    return _numeric_bin_counts(entry, column.to_numpy(dtype="float64", na_value=np.nan))


def _numeric_bin_counts(entry: dict[str, Any], values: np.ndarray) -> np.ndarray:
    edges = np.asarray(entry["edges"], dtype="float64")
    missing = np.isnan(values)
    index = np.where(missing, len(edges) + 1, np.searchsorted(edges, np.where(missing, 0.0, values), side="left"))
    return np.bincount(index, minlength=len(edges) + 2)


def population_stability_index(expected: Any, actual: Any) -> float:
    """PSI between two vectors of bin shares (each summing to 1).

    >>> population_stability_index([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> round(population_stability_index([0.5, 0.5], [0.9, 0.1]), 4)
    0.8789
    """
    e = np.maximum(np.asarray(expected, dtype="float64"), FLOOR)
    a = np.maximum(np.asarray(actual, dtype="float64"), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftCounter:
    """Counts scored rows into the training bins, one chunk at a time (memory does not grow with rows)."""

    def __init__(self, reference: dict[str, Any]) -> None:
        self.reference = reference
        self.counts = {name: np.zeros(len(entry["shares"]), dtype="int64")
                       for name, entry in reference["features"].items()}
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        for name, entry in self.reference["features"].items():
            if name in frame:
                self.counts[name] += _bin_counts(entry, frame[name])

    def add_matrix(self, matrix: np.ndarray, columns: list[Any]) -> None:
        """:meth:`add` for rows of the model's input matrix (:func:`churnml.modeling.input_matrix`; ``columns``
        its feature columns): categories come as their codes on the columns' levels."""
        self.rows += len(matrix)
        for j, c in enumerate(columns):
            entry = self.reference["features"].get(c.name)
            if entry is None:
                continue
            values = matrix[:, j]
            if "levels" not in entry:
                self.counts[c.name] += _numeric_bin_counts(entry, values)
            elif c.levels is not None and list(c.levels) == entry["levels"]:
                index = np.where(np.isnan(values), len(entry["levels"]), values).astype("int64")
                self.counts[c.name] += np.bincount(index, minlength=len(entry["levels"]) + 1)
            else:  # other levels than the model's: counted as add() counts them
                column = pd.Series(values if c.levels is None else pd.Categorical.from_codes(
                    np.where(np.isnan(values), -1, values).astype("int64"), list(c.levels)))
                self.counts[c.name] += _bin_counts(entry, column)

    def table(self) -> pd.DataFrame:
        """One row per feature: ``psi``, the missing share at training and now; largest PSI first."""
        rows = []
        for name, entry in self.reference["features"].items():
            counts = self.counts[name]
            actual = counts / max(1, counts.sum())
            rows.append({"feature": name, "psi": population_stability_index(entry["shares"], actual),
                         "training_missing_share": float(entry["shares"][-1]),
                         "scored_missing_share": float(actual[-1])})
        table = pd.DataFrame(rows, columns=["feature", "psi", "training_missing_share", "scored_missing_share"])
        return table.sort_values(["psi", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)
