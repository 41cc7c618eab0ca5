"""Batch scoring: every eligible account's churn probability, risk tier, rank, revenue at risk and reasons.

Features are computed as of one date by the same feature spec (and code) as at
training. Accounts then go through in chunks (features, probability, tier,
reasons, drift counts), so memory stays bounded however many accounts there
are; the chunks are ranked by DuckDB (which spills to disk past its memory
limit) and written atomically: a crash, or a kill, mid-run leaves any previous
output intact and no partial or temporary file.

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

from churnml.errors import ConfigError, MissingFeatureError
from churnml.features import grows_with_age

if TYPE_CHECKING:
    import pyarrow as pa

    from churnml.definitions import ChurnDefinition
    from churnml.model import ChurnModel
    from churnml.sources import UsageData

__all__ = ["DriftWarning", "ScoringResult", "score", "scores_definition", "write_scores"]


class DriftWarning(UserWarning):
    """Features of the scored accounts moved away from the training data (PSI above the threshold)."""


Reasons = Literal["tiers", "all", "none"]
TIERS = ("high", "medium", "low")
_OUTPUT_ROWS = 65_536  # rows per Parquet row group of the output
#: a feature present for most training rows but missing for every scored account is taken as a missing
#: input when that would happen by chance with at most this probability
_MISSING_BY_CHANCE = 1e-6


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
    #: what the run should achieve if calibration holds (:func:`churnml.estimation.expected_performance`);
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
          drift_threshold: float = 0.25, memory_limit: str | None = "2GB",
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
    memory_limit : str or None, default '2GB'
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
                 memory_limit: str | None = "2GB", shap_engine: str = "auto") -> ScoringResult:
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

    from churnml.definitions import definition_from_dict

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
        self.thresholds = _thresholds(model, tiers)
        self.batch_rows = batch_rows
        self.drift_threshold = drift_threshold
        self.memory_limit = memory_limit
        self.shap_engine = shap_engine

    def __enter__(self) -> _Run:
        import contextlib

        import duckdb

        from churnml._io import scratch_file
        from churnml.drift import DriftCounter

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

    def _batches(self) -> tuple[Iterator[pd.DataFrame], dt.date | None, int]:
        """Feature rows in chunks (each with ``user_id``), the as-of date, the number of accounts."""
        model = self.model
        if model.spec is None:
            if not isinstance(self.data, pd.DataFrame):
                raise ConfigError("This model was trained on a labelled table: score a DataFrame of its feature "
                                  "columns (with id_col), not an event log.")
            frame = self.data
            if self.id_col is None or self.id_col not in frame:
                raise ConfigError(f"id_col must name the account id column of the table. Got {self.id_col!r}; "
                                  f"columns: {', '.join(map(str, frame.columns[:8]))}...")
            from churnml.model import prepare

            prepare(frame.head(0), model.columns)  # names any missing feature column
            check_missing(self.model, {c.name: int(frame[c.name].notna().sum()) for c in model.columns}, len(frame))
            day = _parse_day(self.as_of) if self.as_of is not None else None
            features = frame.rename(columns={self.id_col: "user_id"})[["user_id", *model.feature_names]]
            return (features.iloc[i:i + self.batch_rows] for i in range(0, len(features), self.batch_rows)), \
                day, len(frame)
        if isinstance(self.data, pd.DataFrame):
            raise ConfigError("This model computes its features from an event log: pass the loaded data "
                              "(churnml.load(EventSource(...), ...)), not a DataFrame.")
        return self._event_batches(self.data)

    def _event_batches(self, data: UsageData) -> tuple[Iterator[pd.DataFrame], dt.date, int]:
        from churnml._duckdb import quote_identifier as qi
        from churnml._engine_duckdb import materialised, time_span, typed
        from churnml.features import warn_unseen_types

        spec, definition = self.model.spec, self.model.churn_definition()
        assert spec is not None and definition is not None
        if self.memory_limit is not None:
            from churnml._duckdb import quote_literal

            row = data.backend.fetchone("SELECT current_setting('memory_limit')")
            assert row is not None
            data.backend.execute(f"SET memory_limit = {quote_literal(self.memory_limit)}")
            self._stack.push(_restoring(data.backend, f"SET memory_limit = {quote_literal(str(row[0]))}"))
        warn_unseen_types(spec, data)
        day = _parse_day(self.as_of) if self.as_of is not None else (time_span(data)[1] + dt.timedelta(days=1)).date()
        _check_inputs(data, spec, day)
        from churnml import _progress

        _progress.step(f"computing the features of every eligible account as of {day}")
        table = self._stack.enter_context(materialised(data, spec, definition, [day], labels=False))
        from churnml._lifetime import stand_ins

        names, filled_later = self.model.feature_names, stand_ins(spec)
        counted = ", ".join(f"count({filled_later.get(n, qi(n))})" for n in names)
        row = data.backend.fetchone(f"SELECT count(*), {counted} FROM {table}")
        assert row is not None
        if not row[0]:
            from churnml.definitions import no_eligible_users

            raise no_eligible_users("as_of", [day], *time_span(data), definition)
        check_missing(self.model, dict(zip(names, row[1:])), int(row[0]))
        reader = data.backend.sql(f"SELECT * FROM {table}").to_arrow_reader(self.batch_rows)
        self._stack.callback(reader.close)  # before the table is dropped: DuckDB refuses while a result is open
        return (typed(batch.to_pandas(), spec) for batch in reader), day, int(row[0])

    # ------------------------------------------------------------- scoring

    def _write_scratch(self, batches: Iterator[pd.DataFrame], handle: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from churnml.explain import ChurnExplainer

        explainer = ChurnExplainer(self.model, top_k=self.top_k, engine=self.shap_engine)
        schema: pa.Schema | None = None
        writer = None
        from churnml import _progress

        done = 0
        for features in batches:
            done += len(features)
            _progress.step(f"scoring and explaining: {done:,} accounts")
            out, prepared, explained = score_chunk(self.model, features, day=self.day, thresholds=self.thresholds,
                                                   reasons=self.reasons, top_k=self.top_k, explainer=explainer)
            tier = out["risk_tier"].to_numpy()
            self._probabilities.append(out["churn_probability"].to_numpy(dtype="float64"))
            if "revenue_at_risk" in out:
                self.revenue = (self.revenue or 0.0) + float(np.nansum(out["revenue_at_risk"]))
            self.explained += explained
            for name in TIERS:
                self.tier_counts[name] += int((tier == name).sum())
            if self.counter is not None:
                self.counter.add(prepared)
            table = pa.Table.from_pandas(out, preserve_index=False)
            if schema is None:
                schema = _schema(table.schema)
                writer = pq.ParquetWriter(handle, schema)
            assert writer is not None
            writer.write_table(table.cast(schema))
        if writer is None:  # no eligible account
            empty = _empty_frame(self.top_k, with_revenue=_has_revenue(self.model))
            schema = _schema(pa.Table.from_pandas(empty, preserve_index=False).schema)
            writer = pq.ParquetWriter(handle, schema)
        writer.close()
        handle.flush()

    def ranked(self) -> Any:
        """The scores ordered by rank: probability descending, then user id (a DuckDB relation)."""
        from churnml._duckdb import quote_identifier as qi, quote_literal as ql

        source = f"read_parquet({ql(self._scratch)})"
        first = ["user_id", "as_of", "churn_probability", "risk_tier"]
        rest = [c for c in self._db.sql(f"SELECT * FROM {source} LIMIT 0").columns if c not in first]
        self._columns = [*first, "rank", *rest]
        rank = "CAST(row_number() OVER (ORDER BY churn_probability DESC, user_id) AS BIGINT) AS rank"
        return self._db.sql(f"SELECT {', '.join(first)}, {rank}{''.join(', ' + qi(c) for c in rest)} "
                            f"FROM {source} ORDER BY rank")

    def result(self, *, frame: pd.DataFrame | None = None, path: Path | None = None) -> ScoringResult:
        from churnml.drift import DriftCounter

        from churnml.estimation import expected_performance

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
                reasons: Reasons, top_k: int, explainer: Any) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Score one chunk of feature rows (with ``user_id``): the output columns but ``rank``, the model's
    prepared input, and how many accounts got reasons. The DuckDB and Spark paths both call this."""
    from churnml.model import prepare

    prepared = prepare(features, model.columns)
    probability = model._calibrated(model._raw(prepared))
    tier = _tier(probability, thresholds)
    out = pd.DataFrame({"user_id": features["user_id"].to_numpy(),
                        "as_of": pd.Series([day] * len(features), dtype="object"),
                        "churn_probability": probability, "risk_tier": tier})
    monthly = _monthly_revenue(features, model)
    if monthly is not None:
        out["revenue_at_risk"] = probability * monthly
    wanted = (np.ones(len(out), dtype=bool) if reasons == "all"
              else tier != "low" if reasons == "tiers" else np.zeros(len(out), dtype=bool))
    for i in range(1, top_k + 1):
        out[f"reason_{i}"] = pd.Series([None] * len(out), dtype="object")
        out[f"reason_{i}_feature"] = pd.Series([None] * len(out), dtype="object")
        out[f"reason_{i}_contribution"] = np.nan
        out[f"reason_{i}_family"] = pd.Series([None] * len(out), dtype="object")
    if wanted.any():
        rows = np.flatnonzero(wanted)
        explained = explainer.reasons(prepared.iloc[rows])
        for i in range(1, top_k + 1):
            for suffix in ("", "_feature", "_contribution", "_family"):
                column = f"reason_{i}{suffix}"
                if column in explained:
                    out.loc[out.index[rows], column] = explained[column].to_numpy()
    return out, prepared, int(wanted.sum())


def _check_inputs(data: UsageData, spec: Any, day: dt.date) -> None:
    """Refuse when an input the features were fitted on is absent from every event before ``day``: the
    value column all empty, or a kept event type never seen (a broken tracking pipeline looks like this)."""
    from churnml._duckdb import quote_identifier as qi

    view, columns = qi(data.events.view), data.events.columns
    before = f"\"timestamp\" < DATE '{day.isoformat()}'"
    row = data.backend.fetchone(f"SELECT count(*), {'count(value)' if 'value' in columns else '0'} FROM {view} "
                                f"WHERE {before}")
    assert row is not None
    seen = None
    if spec.event_types and "event_type" in columns:
        seen = {str(t) for (t,) in data.backend.sql(
            f"SELECT DISTINCT event_type FROM {view} WHERE {before} AND event_type IS NOT NULL").fetchall()}
    check_inputs(spec, day, events=int(row[0]), valued=int(row[1]), seen_types=seen)


def check_inputs(spec: Any, day: dt.date, *, events: int, valued: int, seen_types: set[str] | None) -> None:
    """The checks of :func:`_check_inputs` on counts any engine computed (``seen_types``: the event types
    before ``day``, None where the data has no event type column)."""
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


def _parse_day(value: str | dt.date) -> dt.date:
    from churnml.definitions import parse_dates

    return parse_dates([value])[0]


def _thresholds(model: ChurnModel, tiers: dict[str, float] | None) -> dict[str, float]:
    chosen = dict(tiers) if tiers is not None else dict(model.info.get("tiers") or {"high": 0.5, "medium": 0.2})
    high, medium = chosen.get("high"), chosen.get("medium")
    if not (isinstance(high, int | float) and isinstance(medium, int | float) and 0 <= medium <= high <= 1):
        raise ConfigError(f"Risk tier cut-offs must be probabilities with 0 <= medium <= high <= 1. Got {chosen!r} "
                          "instead.")
    return {"high": float(high), "medium": float(medium)}


def _tier(probability: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    return np.where(probability >= thresholds["high"], "high",
                    np.where(probability >= thresholds["medium"], "medium", "low")).astype(object)


def _has_revenue(model: ChurnModel) -> bool:
    spec = model.spec
    return spec is not None and (spec.has_value or spec.has_subscriptions)


def _monthly_revenue(features: pd.DataFrame, model: ChurnModel) -> np.ndarray | None:
    """Each account's monthly revenue: the running subscription's MRR, else the average monthly spend over
    the longest feature window of at most 90 days (spend is lumpy: one month alone says little); None when
    the model's data has neither."""
    spec = model.spec
    if spec is None or not _has_revenue(model):
        return None
    out = np.full(len(features), np.nan)
    if spec.has_value:
        window = max((w for w in spec.windows if w <= 90), default=min(spec.windows))
        spend = features[f"value_sum_{window}d"].to_numpy(dtype="float64", na_value=np.nan)
        out = np.where(np.isnan(spend), 0.0, spend) * 30.0 / window
    if spec.has_subscriptions and "mrr" in features:
        mrr = features["mrr"].to_numpy(dtype="float64", na_value=np.nan)
        out = np.where(np.isnan(mrr), out, mrr)
    return out


def _schema(schema: pa.Schema) -> pa.Schema:
    """Fixed column types whatever a chunk holds (a chunk without reasons has all-null columns)."""
    import pyarrow as pa

    fields = []
    for f in schema:
        if f.name == "as_of":
            fields.append(pa.field("as_of", pa.date32()))
        elif f.name == "risk_tier" or (f.name.startswith("reason_") and not f.name.endswith("_contribution")):
            fields.append(pa.field(f.name, pa.string()))
        elif f.name == "churn_probability" or f.name.endswith(("_contribution", "revenue_at_risk")):
            fields.append(pa.field(f.name, pa.float64()))
        else:
            fields.append(f)
    return pa.schema(fields)


def _empty_frame(top_k: int, *, with_revenue: bool) -> pd.DataFrame:
    columns: dict[str, Any] = {"user_id": pd.Series([], dtype="object"), "as_of": pd.Series([], dtype="object"),
                               "churn_probability": pd.Series([], dtype="float64"),
                               "risk_tier": pd.Series([], dtype="object")}
    if with_revenue:
        columns["revenue_at_risk"] = pd.Series([], dtype="float64")
    for i in range(1, top_k + 1):
        columns[f"reason_{i}"] = pd.Series([], dtype="object")
        columns[f"reason_{i}_feature"] = pd.Series([], dtype="object")
        columns[f"reason_{i}_contribution"] = pd.Series([], dtype="float64")
        columns[f"reason_{i}_family"] = pd.Series([], dtype="object")
    return pd.DataFrame(columns)
