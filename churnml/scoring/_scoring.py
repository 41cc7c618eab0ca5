"""Batch scoring: every eligible account's churn probability, risk tier, rank, revenue at risk and reasons.

Features are computed as of one date by the same feature spec (and code) as at
training. The engine's Arrow batches then go straight into the model's input
matrix (no DataFrame between), chunk by chunk: probability, reasons for the
accounts that get them, drift counts; so memory stays bounded however many
accounts there are. The chunks are ranked by DuckDB (which spills to disk past
its memory limit; tiers and the as-of date are added in the same query) and
written atomically: a crash, or a kill, mid-run leaves any previous output
intact and no partial or temporary file.

Columns of the output, one row per account, ranked (rank 1 = most likely to churn):

``user_id``, ``as_of``, ``churn_probability``, ``risk_tier`` (high / medium / low),
``rank``, ``revenue_at_risk`` (probability x monthly revenue: the running
subscription's MRR, else the average monthly spend of the last 90 days; only
when the model's data has a value or MRR), then for ``i`` in ``1..k``: ``reason_<i>`` (a
sentence), ``reason_<i>_feature``, ``reason_<i>_contribution`` (log-odds) and
``reason_<i>_family`` (the fact it states, a key of
:data:`churnml.features.REASON_FAMILIES`), filled for the accounts whose reasons
were asked for (by default the high and medium tiers).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from churnml._duckdb import SCORING_MEMORY_LIMIT
from churnml.errors import ConfigError, MissingFeatureError
from churnml.features import grows_with_age

if TYPE_CHECKING:
    import pyarrow as pa

    from churnml.contract import ChurnDefinition, UsageData
    from churnml.modeling import ChurnModel

__all__ = ["DriftWarning", "ScoringResult", "score", "scores_definition", "write_scores"]


class DriftWarning(UserWarning):
    """Features of the scored accounts moved away from the training data (PSI above the threshold)."""


Reasons = Literal["tiers", "all", "none"]
TIERS = ("high", "medium", "low")
_OUTPUT_ROWS = 65_536  # rows per Parquet row group of the output
#: a feature present for most training rows but missing for every scored account is taken as a missing
#: input when that would happen by chance with at most this probability
_MISSING_BY_CHANCE = 1e-6
#: one chunk of accounts: their ids (an Arrow array), the model's input matrix, their monthly revenue (or None)
_Chunk = tuple[Any, np.ndarray, Any]


@dataclass(frozen=True, eq=False)
class ScoringResult:
    """What a scoring run produced and found."""

    accounts: int
    as_of: dt.date | None
    tier_counts: dict[str, int]
    thresholds: dict[str, float]
    explained: int  # accounts given reasons
    revenue_at_risk: float | None  # total; None when the model's data has no value or MRR
    drift: pd.DataFrame  # one row per feature: psi, missing shares (empty without a training reference)
    drift_threshold: float
    frame: pd.DataFrame | None = None  # the scores, from score()
    path: Path | None = None  # the file, from write_scores()
    columns: list[str] = field(default_factory=list)
    #: what the run should achieve if calibration holds (:func:`churnml.scoring.expected_performance`);
    #: None with no account scored, and on the Spark path
    expected: dict[str, float] | None = None

    @property
    def drifted(self) -> list[str]:
        """Features whose PSI is above the threshold, largest first; not those that grow with account age
        (tenure, whole-history counts), which shift by construction as accounts age (see ``aged``)."""
        return [name for name in self._over_threshold() if not grows_with_age(name)]

    @property
    def aged(self) -> list[str]:
        """Features over the threshold that grow with account age: reported, not warned about."""
        return [name for name in self._over_threshold() if grows_with_age(name)]

    def _over_threshold(self) -> list[str]:
        if self.drift.empty:
            return []
        return self.drift.loc[self.drift["psi"] > self.drift_threshold, "feature"].tolist()


def score(model: ChurnModel, data: UsageData | pd.DataFrame, *, as_of: str | dt.date | None = None,
          id_col: str | None = None, reasons: Reasons = "tiers", top_k: int = 3,
          tiers: dict[str, float] | None = None, batch_rows: int = 50_000,
          drift_threshold: float = 0.25, memory_limit: str | None = SCORING_MEMORY_LIMIT,
          shap_engine: str = "auto") -> ScoringResult:
    """Score every eligible account and return the ranked scores in ``result.frame``.

    Parameters
    ----------
    model : ChurnModel
    data : UsageData or DataFrame
        The event log (and subscriptions, accounts) for a model trained on one; or
        rows of a table with the model's feature columns for a model trained on a
        labelled table.
    as_of : date, optional
        Features use only events before it. Default: the day after the last event.
    id_col : str, optional
        The account id column of a table (``data`` a DataFrame).
    reasons : 'tiers', 'all' or 'none'
        Which accounts get reasons: the high and medium tiers (default), all, none.
    top_k : int, default 3
    tiers : dict, optional
        ``{"high": p1, "medium": p2}``: probability cut-offs; default those stored with
        the model (the top 10% and next 20% of its test slice).
    batch_rows : int, default 50,000
        Accounts per chunk: bounds the memory.
    drift_threshold : float, default 0.25
        PSI above which a feature counts as drifted (``result.drifted``).
    memory_limit : str or None, default '2.5GB'
        DuckDB's memory limit while it computes the features (it spills to disk past
        it); restored afterwards. None leaves DuckDB's own (80% of the RAM).
    shap_engine : 'auto', 'fast' or 'xgboost'
        The reasons' TreeSHAP engine (see :class:`~churnml.explain.ChurnExplainer`).

    Raises
    ------
    MissingFeatureError
        A feature present for most training accounts is missing for every scored one.
    """
    with _Run(model, data, as_of=as_of, id_col=id_col, reasons=reasons, top_k=top_k, tiers=tiers,
              batch_rows=batch_rows, drift_threshold=drift_threshold, memory_limit=memory_limit,
              shap_engine=shap_engine) as run:
        frame = run.ranked().to_arrow_table().to_pandas(date_as_object=False)
        return _warn_drift(run.result(frame=frame))


def write_scores(model: ChurnModel, data: UsageData | pd.DataFrame, path: str | os.PathLike[str], *,
                 overwrite: bool = False, as_of: str | dt.date | None = None, id_col: str | None = None,
                 reasons: Reasons = "tiers", top_k: int = 3, tiers: dict[str, float] | None = None,
                 batch_rows: int = 50_000, drift_threshold: float = 0.25,
                 memory_limit: str | None = SCORING_MEMORY_LIMIT, shap_engine: str = "auto") -> ScoringResult:
    """Like :func:`score`, but streams the ranked scores to ``path`` (``.parquet`` or ``.csv``) atomically.

    Refuses an existing ``path`` unless ``overwrite``.
    """
    from churnml._io import TABLE_SUFFIXES, atomic_output, check_output

    target = check_output(path, overwrite=overwrite, suffixes=TABLE_SUFFIXES)
    with _Run(model, data, as_of=as_of, id_col=id_col, reasons=reasons, top_k=top_k, tiers=tiers,
              batch_rows=batch_rows, drift_threshold=drift_threshold, memory_limit=memory_limit,
              shap_engine=shap_engine) as run:
        reader = run.ranked().to_arrow_reader(_OUTPUT_ROWS)  # fixed: the file must not depend on batch_rows
        with atomic_output(target, overwrite=overwrite) as handle:
            _write_batches(reader, handle, csv=target.suffix.lower() == ".csv", definition=model.definition)
        return _warn_drift(run.result(path=target))


def _warn_drift(result: ScoringResult) -> ScoringResult:
    drifted = result.drifted
    if drifted:
        psi = result.drift.set_index("feature")["psi"]
        warnings.warn(f"{len(drifted)} feature(s) drifted since training (PSI > {result.drift_threshold:g}): "
                      + ", ".join(f"{name} ({psi[name]:.2f})" for name in drifted[:8])
                      + (", ..." if len(drifted) > 8 else "")
                      + ". Scores for accounts unlike the training data are less reliable; consider retraining."
                      + (f" ({len(result.aged)} feature(s) that grow with account age, such as "
                         f"{result.aged[0]}, moved too; they shift by construction and are not counted.)"
                         if result.aged else ""),
                      DriftWarning, stacklevel=3)
    return result


#: the Parquet key under which a scores file records the model's churn definition (JSON), so that a report
#: made from the file alone can say what its probabilities mean
DEFINITION_KEY = b"churnml.definition"


def scores_definition(path: str | os.PathLike[str]) -> ChurnDefinition | None:
    """The churn definition a scores file records (Parquet files written by :func:`write_scores`), or None
    (a CSV file, a folder, or a file from an older churnml)."""
    import json

    import pyarrow.parquet as pq

    from churnml.contract import definition_from_dict

    target = Path(path)
    if not target.is_file() or target.suffix.lower() != ".parquet":
        return None
    raw = (pq.read_schema(target).metadata or {}).get(DEFINITION_KEY)
    return None if raw is None else definition_from_dict(json.loads(raw))


def _write_batches(reader: pa.RecordBatchReader, handle: Any, *, csv: bool,
                   definition: dict[str, Any] | None = None) -> None:
    import json

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from churnml._io import neutralise_formulas_batch

    if not csv:
        schema = reader.schema
        if definition is not None:
            schema = schema.with_metadata({**(schema.metadata or {}),
                                           DEFINITION_KEY: json.dumps(definition, sort_keys=True).encode()})
        with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)  # Parquet keeps the exact values
        return
    # CSV: text cells a spreadsheet would run as formulas get a leading quote (see churnml._io)
    schema = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                        for f in reader.schema])
    with pacsv.CSVWriter(handle, schema) as writer:
        for batch in reader:
            writer.write_batch(neutralise_formulas_batch(batch))


_MEMORY_LIMIT = r"\s*(\d+(\.\d+)?)\s*([KMGT]i?B|B|bytes)\s*"
_MEMORY_UNITS = {"b": 1, "bytes": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20,
                 "gib": 2**30, "tib": 2**40}
_MEMORY_MINIMUM = 64 * 2**20  # below this DuckDB cannot run the feature queries at all


def check_memory_limit(memory_limit: str | None) -> None:
    """Refuse a memory limit DuckDB would not parse, with the forms it takes."""
    if memory_limit is None:
        return
    found = re.fullmatch(_MEMORY_LIMIT, memory_limit, re.IGNORECASE) if isinstance(memory_limit, str) else None
    if found is None:
        raise ConfigError(f"The memory limit (--memory-limit, memory_limit=) must be a size such as '2GB', '500MB' "
                          f"or '1.5GiB', or 'none' for DuckDB's default. Got {memory_limit!r} instead.")
    if float(found.group(1)) * _MEMORY_UNITS[found.group(3).lower()] < _MEMORY_MINIMUM:
        raise ConfigError(f"The memory limit (--memory-limit, memory_limit=) must be at least 64MiB; DuckDB "
                          f"cannot compute features in less. Got {memory_limit!r} instead.")


def _restoring(backend: Any, statement: str) -> Any:
    """An exit callback that runs ``statement``; when the block failed, a failure here (e.g. DuckDB's
    "connection has an open result" after an interrupted read) must not hide the real cause."""
    def exit_(exc_type: Any, exc: Any, tb: Any) -> bool:
        try:
            backend.execute(statement)
        except Exception:
            if exc is None:
                raise
        return False
    return exit_


class _Run:
    """One scoring run: chunks scored into a scratch Parquet file, then ranked by DuckDB."""

    def __init__(self, model: ChurnModel, data: UsageData | pd.DataFrame, *, as_of: str | dt.date | None,
                 id_col: str | None, reasons: Reasons, top_k: int, tiers: dict[str, float] | None,
                 batch_rows: int, drift_threshold: float, memory_limit: str | None, shap_engine: str) -> None:
        if reasons not in ("tiers", "all", "none"):
            raise ConfigError(f"The 'reasons' parameter of score must be 'tiers', 'all' or 'none'. "
                              f"Got {reasons!r} instead.")
        check_memory_limit(memory_limit)
        if not isinstance(batch_rows, int) or batch_rows < 1:
            raise ConfigError(f"The 'batch_rows' parameter of score must be a positive int. Got {batch_rows!r} "
                              "instead.")
        self.model = model
        self.data = data
        self.as_of = as_of
        self.id_col = id_col
        self.reasons = reasons
        self.top_k = top_k
        self.thresholds = tier_thresholds(model, tiers)
        self.batch_rows = batch_rows
        self.drift_threshold = drift_threshold
        self.memory_limit = memory_limit
        self.shap_engine = shap_engine

    def __enter__(self) -> _Run:
        import contextlib

        import duckdb

        from churnml._io import scratch_file
        from churnml.modeling import DriftCounter

        self._stack = contextlib.ExitStack().__enter__()
        try:
            batches, self.day, self.accounts = self._batches()
            reference = self.model.info.get("drift")
            self.counter = DriftCounter(reference) if reference else None
            self.tier_counts = dict.fromkeys(TIERS, 0)
            self.explained = 0
            self.revenue: float | None = None
            self._probabilities: list[np.ndarray] = []  # 8 bytes an account: the expected figures need them all
            handle, self._scratch = self._stack.enter_context(scratch_file(".parquet"))
            self._write_scratch(batches, handle)
            self._db = duckdb.connect()
            self._stack.callback(self._db.close)
            if self.memory_limit is not None:
                from churnml._duckdb import quote_literal

                self._db.execute(f"SET memory_limit = {quote_literal(self.memory_limit)}")
        except BaseException:
            try:
                self._stack.close()
            except Exception:  # noqa: S110 - a failed clean-up (e.g. "connection has an open result") must
                pass  # never hide the error that stopped the run
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # ------------------------------------------------------------- inputs

    def _batches(self) -> tuple[Iterator[_Chunk], dt.date | None, int]:
        """The accounts in chunks (ids, model input matrix, monthly revenue), the as-of date, their number."""
        model = self.model
        if model.spec is None:
            if not isinstance(self.data, pd.DataFrame):
                raise ConfigError("This model was trained on a labelled table: score a DataFrame of its feature "
                                  "columns (with id_col), not an event log.")
            frame = self.data
            if self.id_col is None or self.id_col not in frame:
                raise ConfigError(f"id_col must name the account id column of the table. Got {self.id_col!r}; "
                                  f"columns: {', '.join(map(str, frame.columns[:8]))}...")
            from churnml.modeling import prepare

            prepare(frame.head(0), model.columns)  # names any missing feature column
            check_missing(self.model, {c.name: int(frame[c.name].notna().sum()) for c in model.columns}, len(frame))
            day = parse_day(self.as_of) if self.as_of is not None else None
            features = frame.rename(columns={self.id_col: "user_id"})[["user_id", *model.feature_names]]
            return (self._table_chunk(features.iloc[i:i + self.batch_rows])
                    for i in range(0, len(features), self.batch_rows)), day, len(frame)
        if isinstance(self.data, pd.DataFrame):
            raise ConfigError("This model computes its features from an event log: pass the loaded data "
                              "(churnml.load(EventSource(...), ...)), not a DataFrame.")
        return self._event_batches(self.data)

    def _table_chunk(self, features: pd.DataFrame) -> _Chunk:
        import pyarrow as pa

        from churnml.modeling import input_matrix

        return (pa.array(features["user_id"].to_numpy(), from_pandas=True),
                input_matrix(features, self.model.columns, len(features)), None)

    def _event_batches(self, data: UsageData) -> tuple[Iterator[_Chunk], dt.date, int]:
        from churnml._duckdb import quote_identifier as qi
        from churnml.engines import require_engine
        from churnml.features import warn_unseen_types

        spec, definition = self.model.spec, self.model.churn_definition()
        assert spec is not None and definition is not None
        engine = require_engine(data, "duckdb", "score", fix=", or score Spark data with churnml.spark.score")
        if self.memory_limit is not None:
            from churnml._duckdb import quote_literal

            row = data.backend.fetchone("SELECT current_setting('memory_limit')")
            assert row is not None
            data.backend.execute(f"SET memory_limit = {quote_literal(self.memory_limit)}")
            self._stack.push(_restoring(data.backend, f"SET memory_limit = {quote_literal(str(row[0]))}"))
        warn_unseen_types(spec, data)
        day = (parse_day(self.as_of) if self.as_of is not None
               else (engine.time_span(data)[1] + dt.timedelta(days=1)).date())
        check_inputs(data, spec, day)
        from churnml import _progress

        _progress.step(f"computing the features of every eligible account as of {day}")
        table = self._stack.enter_context(engine.materialised(data, spec, definition, [day], labels=False))
        from churnml.engines import stand_ins

        names, filled_later = self.model.feature_names, stand_ins(spec)
        counted = ", ".join(f"count({filled_later.get(n, qi(n))})" for n in names)
        row = data.backend.fetchone(f"SELECT count(*), {counted} FROM {table}")
        assert row is not None
        if not row[0]:
            from churnml.contract import no_eligible_users

            raise no_eligible_users("as_of", [day], *engine.time_span(data), definition)
        check_missing(self.model, dict(zip(names, row[1:])), int(row[0]))
        reader = data.backend.sql(f"SELECT * FROM {table}").to_arrow_reader(self.batch_rows)
        self._stack.callback(reader.close)  # before the table is dropped: DuckDB refuses while a result is open
        return (self._event_chunk(batch) for batch in reader), day, int(row[0])

    def _event_chunk(self, batch: pa.RecordBatch) -> _Chunk:
        """One Arrow batch of the engine's features straight into the model's input, no DataFrame between."""
        import pyarrow as pa

        from churnml.engines import typed_columns
        from churnml.modeling import input_matrix

        model, spec = self.model, self.model.spec
        assert spec is not None
        columns = typed_columns(batch, spec, [*model.feature_names, *_revenue_inputs(model)])
        ids = batch.column("user_id")
        if pa.types.is_large_string(ids.type) or pa.types.is_string_view(ids.type):
            ids = ids.cast(pa.string())
        return ids, input_matrix(columns, model.columns, batch.num_rows), _monthly_revenue(columns, model)

    # ------------------------------------------------------------- scoring

    def _write_scratch(self, batches: Iterator[_Chunk], handle: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from churnml.explain import ChurnExplainer

        explainer = ChurnExplainer(self.model, top_k=self.top_k, engine=self.shap_engine)
        with_revenue = has_revenue(self.model)
        writer = None
        from churnml import _progress

        done = 0
        for ids, matrix, monthly in batches:
            done += len(matrix)
            _progress.step(f"scoring and explaining: {done:,} accounts")
            columns, explained = _score_columns(self.model, matrix, monthly, thresholds=self.thresholds,
                                                reasons=self.reasons, top_k=self.top_k, explainer=explainer)
            probability = columns["churn_probability"]
            self._probabilities.append(probability)
            if "revenue_at_risk" in columns:
                self.revenue = (self.revenue or 0.0) + float(np.nansum(columns["revenue_at_risk"]))
            self.explained += explained
            high = probability >= self.thresholds["high"]
            medium = ~high & (probability >= self.thresholds["medium"])
            self.tier_counts["high"] += int(high.sum())
            self.tier_counts["medium"] += int(medium.sum())
            self.tier_counts["low"] += len(probability) - int(high.sum()) - int(medium.sum())
            if self.counter is not None:
                self.counter.add_matrix(matrix, self.model.columns)
            schema = _scratch_schema(ids.type, self.top_k, with_revenue=with_revenue)
            table = pa.Table.from_arrays([ids, *(pa.array(columns[f.name], type=f.type, from_pandas=True) for f in list(schema)[1:])],
                                         schema=schema)
            if writer is None:
                writer = pq.ParquetWriter(handle, schema)
            writer.write_table(table)
        if writer is None:  # no eligible account
            writer = pq.ParquetWriter(handle, _scratch_schema(pa.null(), self.top_k, with_revenue=with_revenue))
        writer.close()
        handle.flush()

    def ranked(self) -> Any:
        """The scores ordered by rank: probability descending, then user id (a DuckDB relation); the as-of
        date, the tiers and the ranks are added here, in SQL."""
        from churnml._duckdb import quote_identifier as qi, quote_literal as ql

        source = f"read_parquet({ql(self._scratch)})"
        rest = [c for c in self._db.sql(f"SELECT * FROM {source} LIMIT 0").columns
                if c not in ("user_id", "churn_probability")]
        self._columns = ["user_id", "as_of", "churn_probability", "risk_tier", "rank", *rest]
        as_of = "CAST(NULL AS DATE)" if self.day is None else f"DATE '{self.day.isoformat()}'"
        high, medium = (f"CAST({ql(repr(self.thresholds[t]))} AS DOUBLE)" for t in ("high", "medium"))
        # NaN (never a calibrated probability, but numpy's tiers would call it low) is above all in DuckDB
        tier = (f"CASE WHEN isnan(churn_probability) THEN 'low' WHEN churn_probability >= {high} THEN 'high' "
                f"WHEN churn_probability >= {medium} THEN 'medium' ELSE 'low' END AS risk_tier")
        rank = "CAST(row_number() OVER (ORDER BY churn_probability DESC, user_id) AS BIGINT) AS rank"
        return self._db.sql(f"SELECT user_id, {as_of} AS as_of, churn_probability, {tier}, {rank}"
                            f"{''.join(', ' + qi(c) for c in rest)} FROM {source} ORDER BY rank")

    def result(self, *, frame: pd.DataFrame | None = None, path: Path | None = None) -> ScoringResult:
        from churnml.modeling import DriftCounter

        from churnml.scoring._estimation import expected_performance

        drift = self.counter.table() if isinstance(self.counter, DriftCounter) else pd.DataFrame(
            columns=["feature", "psi", "training_missing_share", "scored_missing_share"])
        expected = (expected_performance(np.concatenate(self._probabilities), self.thresholds)
                    if self.accounts else None)
        return ScoringResult(accounts=self.accounts, as_of=self.day, tier_counts=dict(self.tier_counts),
                             thresholds=dict(self.thresholds), explained=self.explained,
                             revenue_at_risk=self.revenue, drift=drift, drift_threshold=self.drift_threshold,
                             frame=frame, path=path, columns=list(self._columns), expected=expected)


# ----------------------------------------------------------------- helpers


def check_missing(model: ChurnModel, present: dict[str, int], rows: int) -> None:
    """Refuse when an input the model relies on is absent: a feature that training had for most rows
    is missing for every scored account (by chance that has a probability below 1e-6)."""
    reference = (model.info.get("drift") or {}).get("features", {})
    absent = []
    for name, count in present.items():
        if count or name not in reference or rows == 0:
            continue
        missing_share = float(reference[name]["shares"][-1])
        if missing_share < 0.5 and rows * math.log(max(missing_share, 1e-12)) < math.log(_MISSING_BY_CHANCE):
            absent.append((name, missing_share))
    if absent:
        name, share = absent[0]
        raise MissingFeatureError(
            f"{len(absent)} feature(s) are missing for all {rows:,} scored accounts but were present for "
            f"most training accounts, e.g. {name!r} (missing for {share:.0%} at training): "
            f"{', '.join(n for n, _ in absent[:8])}{', ...' if len(absent) > 8 else ''}. Its input is "
            "missing from this data (a table, a column or an event type). Fix: load the same inputs as at "
            "training.", column=name, n_bad=rows, example=None)


def score_chunk(model: ChurnModel, features: pd.DataFrame, *, day: dt.date | None, thresholds: dict[str, float],
                reasons: Reasons, top_k: int, explainer: Any) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Score one chunk of feature rows (with ``user_id``): the output columns but ``rank``, the model's
    input matrix, and how many accounts got reasons (the Spark path's partitions)."""
    from churnml.modeling import input_matrix

    matrix = input_matrix(features, model.columns, len(features))
    columns, explained = _score_columns(model, matrix, _monthly_revenue(features, model), thresholds=thresholds,
                                        reasons=reasons, top_k=top_k, explainer=explainer)
    probability = columns.pop("churn_probability")
    out = pd.DataFrame({"user_id": features["user_id"].to_numpy(),
                        "as_of": pd.Series([day] * len(features), dtype="object"),
                        "churn_probability": probability, "risk_tier": _tier(probability, thresholds), **columns})
    return out, matrix, explained


def _score_columns(model: ChurnModel, matrix: np.ndarray, monthly: np.ndarray | None, *,
                   thresholds: dict[str, float], reasons: Reasons, top_k: int,
                   explainer: Any) -> tuple[dict[str, np.ndarray], int]:
    """The scores of one chunk's input matrix: probability, revenue at risk (with ``monthly``), the reason
    columns (filled for the accounts that get reasons), and how many got them."""
    from churnml.modeling import frame_of

    probability = model._calibrated(model.booster.inplace_predict(matrix, iteration_range=model._iterations()))
    n = len(probability)
    out: dict[str, np.ndarray] = {"churn_probability": probability}
    if monthly is not None:
        out["revenue_at_risk"] = probability * monthly
    reason_columns = scored_columns(top_k, with_revenue=False)
    for name, kind in reason_columns:
        out[name] = np.full(n, np.nan) if kind == "double" else np.full(n, None, dtype=object)
    wanted = (np.ones(n, dtype=bool) if reasons == "all"
              else probability >= thresholds["medium"] if reasons == "tiers" else np.zeros(n, dtype=bool))
    rows = np.flatnonzero(wanted)
    if len(rows):
        chosen = matrix[rows]
        frame = frame_of(chosen, model.columns)
        explained = explainer.reason_columns(frame, explanation=explainer.explain(frame, matrix=chosen))
        for column, _ in reason_columns:
            if column in explained:
                out[column][rows] = explained[column]
    return out, len(rows)


def check_inputs(data: Any, spec: Any, day: dt.date) -> None:
    """Refuse when an input the features were fitted on is absent from every event before ``day``: the
    value column all empty, or a kept event type never seen (a broken tracking pipeline looks like this).
    The same rule on every engine; each engine counts (``input_counts``)."""
    from churnml.engines import engine_for

    events, valued, seen_types = engine_for(data).input_counts(data, day, types=bool(spec.event_types))
    if spec.has_value and events and not valued:
        raise MissingFeatureError(
            f"The model's value features need the event value, but all {events:,} events before {day} have none "
            "(value is missing or empty). Fix: map the value column as at training (--value-col).",
            column="value", n_bad=events, example=None)
    kept = set(spec.event_types)
    if kept and seen_types is not None:
        absent = sorted(kept - seen_types)
        if absent:
            raise MissingFeatureError(
                f"{len(absent)} event type(s) the model was trained on never occur before {day} in this data, e.g. "
                f"{absent[0]!r} ({', '.join(map(repr, absent[:6]))}{', ...' if len(absent) > 6 else ''}); their "
                "features would all read 'never'. Fix: load the full event log, with the same event_type mapping "
                "as at training.", column="event_type", n_bad=events, example=absent[0])


def parse_day(value: str | dt.date) -> dt.date:
    """An ``as_of`` day as the scorers read it (the definitions' date rule)."""
    from churnml.contract import parse_dates

    return parse_dates([value])[0]


def tier_thresholds(model: ChurnModel, tiers: dict[str, float] | None) -> dict[str, float]:
    """The risk tier cut-offs scores are tiered by: ``tiers`` if given, else the model's, checked."""
    chosen = dict(tiers) if tiers is not None else dict(model.info.get("tiers") or {"high": 0.5, "medium": 0.2})
    high, medium = chosen.get("high"), chosen.get("medium")
    if not (isinstance(high, int | float) and isinstance(medium, int | float) and 0 <= medium <= high <= 1):
        raise ConfigError(f"Risk tier cut-offs must be probabilities with 0 <= medium <= high <= 1. Got {chosen!r} "
                          "instead.")
    return {"high": float(high), "medium": float(medium)}


def _tier(probability: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    return np.where(probability >= thresholds["high"], "high",
                    np.where(probability >= thresholds["medium"], "medium", "low")).astype(object)


def has_revenue(model: ChurnModel) -> bool:
    """Whether the model's features carry money (event values or MRR), so scores can put revenue at risk."""
    spec = model.spec
    return spec is not None and (spec.has_value or spec.has_subscriptions)


def _revenue_inputs(model: ChurnModel) -> list[str]:
    """The feature columns :func:`_monthly_revenue` reads."""
    spec = model.spec
    if spec is None or not has_revenue(model):
        return []
    names = [f"value_sum_{_spend_window(spec)}d"] if spec.has_value else []
    return [*names, "mrr"] if spec.has_subscriptions else names


def _spend_window(spec: Any) -> int:
    return max((w for w in spec.windows if w <= 90), default=min(spec.windows))


def _monthly_revenue(features: Any, model: ChurnModel) -> np.ndarray | None:
    """Each account's monthly revenue: the running subscription's MRR, else the average monthly spend over
    the longest feature window of at most 90 days (spend is lumpy: one month alone says little); None when
    the model's data has neither. ``features``: a DataFrame, or columns by name as float64 arrays."""
    spec = model.spec
    if spec is None or not has_revenue(model):
        return None
    n = len(features) if isinstance(features, pd.DataFrame) else len(next(iter(features.values())))
    out = np.full(n, np.nan)
    if spec.has_value:
        window = _spend_window(spec)
        spend = _floats(features[f"value_sum_{window}d"])
        out = np.where(np.isnan(spend), 0.0, spend) * 30.0 / window
    if spec.has_subscriptions and "mrr" in features:
        mrr = _floats(features["mrr"])
        out = np.where(np.isnan(mrr), out, mrr)
    return out


def _floats(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")


def scored_columns(top_k: int, *, with_revenue: bool) -> list[tuple[str, str]]:
    """The columns of a scored account after its tier and rank, each with its type ('double' or 'string'), in
    the order every scorer writes them (:func:`score` and :func:`churnml.spark.score`).

    >>> scored_columns(1, with_revenue=True)[:3]
    [('revenue_at_risk', 'double'), ('reason_1', 'string'), ('reason_1_feature', 'string')]
    """
    columns = [("revenue_at_risk", "double")] if with_revenue else []
    for i in range(1, top_k + 1):
        columns += [(f"reason_{i}", "string"), (f"reason_{i}_feature", "string"),
                    (f"reason_{i}_contribution", "double"), (f"reason_{i}_family", "string")]
    return columns


def _scratch_schema(id_type: pa.DataType, top_k: int, *, with_revenue: bool) -> pa.Schema:
    """The scored chunks' columns and types, whatever a chunk holds (one without reasons has all-null ones)."""
    import pyarrow as pa

    types = {"double": pa.float64(), "string": pa.string()}
    rest = scored_columns(top_k, with_revenue=with_revenue)
    return pa.schema([pa.field("user_id", id_type), pa.field("churn_probability", pa.float64()),
                      *(pa.field(name, types[kind]) for name, kind in rest)])
