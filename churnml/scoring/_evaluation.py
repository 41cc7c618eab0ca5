"""Realised performance of a past scoring run: label the scored accounts from what happened next.

Once a run's label window (its as-of date plus the model's horizon, and lead time or gap
tolerance) lies inside the data, each scored account is labelled by the model's own
churn definition, with the same code that labels a training set or a backtest cutoff,
and the run is judged: ranking (ROC-AUC, PR-AUC, lift and capture in the top 10% and
20%), calibration (ECE; expected against realised churners overall and per risk tier,
precision and recall at each tier's cut-off), for the model and for every baseline it
carries, scored on the same accounts from features at the same date.

Examples
--------
>>> from churnml import InactivityChurn
>>> label_window_closes(dt.date(2024, 9, 1), InactivityChurn(horizon_days=30))   # evaluate from then on
datetime.date(2024, 10, 1)

``evaluate(scores, data, model)`` then takes the scores file, the event log as it is now and the model
(see ``tests/test_evaluation.py`` for a whole run).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnml.errors import ConfigError, DataValidationError, LabelWindowOpenError

if TYPE_CHECKING:
    from churnml.contract import ChurnDefinition, UsageData
    from churnml.modeling import ChurnModel

__all__ = ["EvaluationResult", "REALISED", "evaluate", "label_window_closes"]

#: the realised figures of each model, in the order they are shown (metrics.evaluate's names)
REALISED = ("roc_auc", "pr_auc", "lift_at_10", "capture_at_10", "lift_at_20", "capture_at_20", "ece")


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """How a scoring run turned out.

    ``metrics``: one row per model (``model``, then each baseline): ``accounts``, ``expected_churners`` (sum
    of its probabilities), ``churners`` (realised), ``expected_churn_rate``, ``churn_rate`` and
    :data:`REALISED`. ``tiers``: one row per model and risk tier (the run's probability cut-offs applied to
    each model's probabilities): ``accounts``, ``expected_churners``, ``churners``, and precision / recall at
    the tier's cut-off, expected and realised. ``expected``: the model's estimated figures from its scored
    probabilities (:func:`churnml.scoring.expected_performance`). ``predictions``: ``user_id``, ``label``,
    ``churn_probability`` and ``<baseline>_probability`` per account.
    """

    as_of: dt.date
    label_window_closes: dt.date
    thresholds: dict[str, float]
    metrics: pd.DataFrame
    tiers: pd.DataFrame
    expected: dict[str, float]
    predictions: pd.DataFrame = field(repr=False)
    eligible_not_scored: int = 0  # eligible at the date in this data but absent from the scores

    @property
    def churners_in_band(self) -> bool:
        """Whether the realised churners lie in the model's expected band (calibration held)."""
        churners = float(self.metrics.loc["model", "churners"])
        return self.expected["churners_low"] <= churners <= self.expected["churners_high"]

    def figures(self) -> dict[str, float]:
        """Every realised figure as a flat dict (``roc_auc``, ``baseline.logistic.roc_auc``, ``tier.high.churners``,
        ...), the names MLflow gets under ``realised.``; NaN figures left out."""
        out: dict[str, float] = {}
        for name, row in self.metrics.iterrows():
            prefix = "" if name == "model" else f"baseline.{name}."
            for key in ("accounts", "churners", "churn_rate", *REALISED):
                out[f"{prefix}{key}"] = float(row[key])
        for row in self.tiers[self.tiers["model"] == "model"].itertuples(index=False):
            out[f"tier.{row.tier}.churners"] = float(row.churners)
            if row.tier != "low":
                out[f"precision_at.{row.tier}"] = float(row.precision)
                out[f"recall_at.{row.tier}"] = float(row.recall)
        return {k: v for k, v in out.items() if math.isfinite(v)}


def label_window_closes(as_of: dt.date, definition: ChurnDefinition) -> dt.date:
    """The first day the data must reach for scores as of ``as_of`` to be labelled.

    The last event's day counts as partly observed (as for training sets and backtests), so the
    label window ``[as_of, as_of + span)`` is complete once the data holds events on ``as_of + span``.
    """
    return as_of + dt.timedelta(days=definition.label_span_days)


def evaluate(scores: str | os.PathLike[str] | pd.DataFrame, data: UsageData, model: ChurnModel, *,
             tiers: dict[str, float] | None = None, level: float = 0.99) -> EvaluationResult:
    """Label the accounts of a scores file from the events after its as-of date and judge the run.

    Parameters
    ----------
    scores : path or DataFrame
        The output of ``churnml score`` (``.parquet`` or ``.csv``): at least ``user_id``, ``as_of`` and
        ``churn_probability``, one as-of date. Columns ``<baseline>_probability`` are used as that
        baseline's scores; baselines without one are scored from the model files, on features computed
        from ``data`` at the as-of date.
    data : UsageData
        The event log (and subscriptions) now: it must cover the run's label window.
    model : ChurnModel
        The model that made the scores: its churn definition and horizon label the accounts.
    tiers : dict, optional
        The run's probability cut-offs; default those stored with the model.
    level : float, default 0.99
        The expected churners' band (see :func:`churnml.scoring.churner_band`).

    Raises
    ------
    LabelWindowOpenError
        The label window is not fully observed in ``data``; the message names the date it can run.
    ConfigError
        A model trained on a labelled table, or scores that are not one run of this model's.
    DataValidationError
        Bad scores (a missing column, several as-of dates, duplicate accounts, probabilities outside
        [0, 1]) or scored accounts that are not eligible at the date in ``data``.
    """
    from churnml.engines import require_engine
    from churnml.modeling import metrics as m, model_baselines, prepare
    from churnml.scoring._estimation import expected_performance, tier_figures
    from churnml.scoring._scoring import tier_thresholds

    definition = model.churn_definition()
    if model.spec is None or definition is None:
        raise ConfigError("evaluate labels scored accounts from an event log; this model was trained on a "
                          "labelled table, whose labels churnml cannot derive. Fix: score a later table with "
                          "its labels and use churnml.modeling.metrics.evaluate.")
    engine = require_engine(data, "duckdb", "evaluate")
    thresholds = tier_thresholds(model, tiers)
    frame, as_of, source = _read_scores(scores)
    closes = label_window_closes(as_of, definition)
    _, last = engine.time_span(data)
    if closes > last.date():
        raise LabelWindowOpenError(
            f"The scores {source} as of {as_of} cannot be evaluated yet: their {definition.label_span_days}-day "
            f"label window ({definition.kind} churn) runs from {as_of} to {closes - dt.timedelta(days=1)}, and the "
            f"data ends on {last.date()}. It can run on or after {closes}, with the events up to that day.",
            ready_on=closes)
    labelled = engine.compute(data, model.spec, definition, [as_of], labels=True)
    joined = _join(frame, labelled, source, as_of)
    y = joined["label"].to_numpy(dtype="float64")
    probabilities = {"model": joined["churn_probability"].to_numpy(dtype="float64")}
    baselines = model_baselines(model)
    if baselines:
        X = prepare(joined, model.columns)
        for name, baseline in baselines.items():
            column = f"{name}_probability"
            probabilities[name] = (joined[column].to_numpy(dtype="float64") if column in joined
                                   else np.asarray(baseline.predict_proba(X), dtype="float64"))
    rows, tier_rows = {}, []
    for name, p in probabilities.items():
        figures = m.evaluate(y, p)
        rows[name] = {"accounts": len(y), "expected_churners": float(p.sum()), "churners": float(y.sum()),
                      "expected_churn_rate": float(p.mean()), "churn_rate": float(y.mean()),
                      **{key: figures[key] for key in REALISED}}
        realised, expected = tier_figures(p, y, thresholds), tier_figures(p, p, thresholds)
        for tier in ("high", "medium", "low"):
            cut = tier if tier != "low" else None
            tier_rows.append({
                "model": name, "tier": tier, "accounts": int(realised[f"tier.{tier}.accounts"]),
                "expected_churners": expected[f"tier.{tier}.churners"], "churners": realised[f"tier.{tier}.churners"],
                "expected_precision": expected[f"precision_at.{cut}"] if cut else math.nan,
                "precision": realised[f"precision_at.{cut}"] if cut else math.nan,
                "expected_recall": expected[f"recall_at.{cut}"] if cut else math.nan,
                "recall": realised[f"recall_at.{cut}"] if cut else math.nan})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    table["accounts"] = table["accounts"].astype("int64")
    predictions = joined[["user_id", "label"]].assign(**{
        ("churn_probability" if name == "model" else f"{name}_probability"): p for name, p in probabilities.items()})
    return EvaluationResult(as_of=as_of, label_window_closes=closes, thresholds=thresholds, metrics=table,
                            tiers=pd.DataFrame(tier_rows),
                            expected=expected_performance(probabilities["model"], thresholds, level=level),
                            predictions=predictions, eligible_not_scored=len(labelled) - len(joined))


_NEEDED = ("user_id", "as_of", "churn_probability")


def _read_scores(scores: str | os.PathLike[str] | pd.DataFrame) -> tuple[pd.DataFrame, dt.date, str]:
    """The scored accounts (user id, probability, any baseline probabilities), their one as-of date, and
    how to name them in messages."""
    if isinstance(scores, pd.DataFrame):
        frame, source = scores, "(a DataFrame)"
    else:
        import duckdb

        from churnml._duckdb import read_path_sql

        path = Path(scores)
        source = repr(str(path))
        if not path.exists():
            from churnml.errors import SourceNotFoundError

            raise SourceNotFoundError(f"The scores file {source} does not exist. Fix: pass the output of "
                                      "`churnml score` (--scores), or --run with a logged scoring run.")
        db = duckdb.connect()
        try:
            frame = db.sql(f"SELECT * FROM {read_path_sql(path, text_columns=['user_id'])}").df()
        finally:
            db.close()
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise DataValidationError(f"The scores {source} lack the column(s) {', '.join(map(repr, missing))}; a "
                                  "scores file of `churnml score` has them. Fix: pass that file.",
                                  column=missing[0], n_bad=len(frame))
    if frame.empty:
        raise DataValidationError(f"The scores {source} hold no account: there is nothing to evaluate.",
                                  column="user_id", n_bad=0)
    days = pd.to_datetime(frame["as_of"]).dt.date
    distinct = sorted(days.dropna().unique())
    if len(distinct) != 1 or days.isna().any():
        raise DataValidationError(f"The scores {source} must be one run, as of one date; they hold "
                                  f"{len(distinct)} dates ({', '.join(map(str, distinct[:4]))}) and "
                                  f"{int(days.isna().sum()):,} rows without one. Fix: evaluate each run's "
                                  "file on its own.", column="as_of", n_bad=len(frame),
                                  example=distinct[1] if len(distinct) > 1 else None)
    repeated = frame["user_id"][frame["user_id"].duplicated()].astype("object")
    if len(repeated):
        raise DataValidationError(f"The scores {source} list {len(repeated):,} account(s) more than once, e.g. "
                                  f"{repeated.iloc[0]!r}. Fix: pass one run's scores.", column="user_id",
                                  n_bad=len(repeated), example=repeated.iloc[0])
    p = pd.to_numeric(frame["churn_probability"], errors="coerce").to_numpy(dtype="float64")
    bad = np.isnan(p) | (p < 0) | (p > 1)
    if bad.any():
        example = frame["churn_probability"].to_numpy()[bad][:1].tolist()[0]
        raise DataValidationError(f"Column 'churn_probability' of the scores {source} must hold probabilities in "
                                  f"[0, 1]; {int(bad.sum()):,} rows do not, e.g. {example!r}.",
                                  column="churn_probability", n_bad=int(bad.sum()), example=example)
    kept = ["user_id", "churn_probability", *(c for c in frame.columns
                                               if c.endswith("_probability") and c != "churn_probability")]
    return frame[kept].assign(churn_probability=p), distinct[0], source


def _join(scores: pd.DataFrame, labelled: pd.DataFrame, source: str, as_of: dt.date) -> pd.DataFrame:
    """The scored accounts with their labels and features, in the scores' order; every scored account must
    be eligible at the date in the data (else the data is not the one that was scored)."""
    left, right = scores["user_id"], labelled["user_id"]
    if left.dtype != right.dtype:  # a CSV reads ids as text
        left, right = left.astype(str), right.astype(str)
    position = pd.Index(right).get_indexer(left)
    absent = position < 0
    if absent.any():
        example = scores["user_id"].to_numpy()[absent][:1].tolist()[0]  # a plain value, for the message
        raise DataValidationError(
            f"{int(absent.sum()):,} of the {len(scores):,} scored accounts of {source} are not eligible on {as_of} "
            f"in this data, e.g. {example!r}, so their outcome cannot be labelled by the model's churn "
            "definition. Fix: load the same sources (and mappings) the run scored, with the events since.",
            column="user_id", n_bad=int(absent.sum()), example=example)
    features = labelled.iloc[position].reset_index(drop=True).drop(columns=["user_id"])
    extra = [c for c in scores.columns if c != "user_id" and c in features.columns]
    return pd.concat([scores.reset_index(drop=True), features.drop(columns=extra)], axis=1)
