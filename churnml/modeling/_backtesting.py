"""Backtests at cutoffs: judge a model the way it is used.

For each cutoff ``c`` (a midnight): the data is cut at ``c`` (events before it; subscriptions
as known then), a training set is built and a model trained on it exactly as ``churnml
train`` would (the same grid of observation dates, the same split, the same refit); the
accounts eligible at ``c`` are scored with features from the cut data; and they are labelled
from what happened after ``c`` in the full data. The shipped model, the evaluated model
(before the refit) and every baseline are scored on the same accounts.

Examples
--------
>>> import datetime as dt
>>> from churnml import EventSource, InactivityChurn, load
>>> from churnml.generator import GeneratorConfig, generate
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> _ = generate(out, GeneratorConfig(users=600, days=300, seed=3))
>>> data = load(EventSource(out / "events.parquet"))
>>> result = backtest(data, InactivityChurn(horizon_days=30, active_window_days=30), cutoffs=["2024-09-01"],
...                   step_days=14)
>>> sorted(result.metrics["model"].unique())
['bgnbd', 'evaluated', 'logistic', 'model', 'recency']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.contract import ChurnDefinition, InactivityChurn, parse_dates
from churnml.errors import ConfigError

if TYPE_CHECKING:
    from churnml.contract import UsageData
    from churnml.features import FeatureBuilder
    from churnml.modeling._trainer import ChurnTrainer

__all__ = ["backtest", "BacktestResult", "METRICS"]

# What a backtest reports per cutoff and model (metrics.evaluate's names).
METRICS = ("roc_auc", "pr_auc", "lift_at_10", "ece", "mean_probability", "churn_rate")


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Per cutoff and model: rows scored, the realised churn rate, the mean probability and the metrics."""

    metrics: pd.DataFrame
    predictions: pd.DataFrame = field(repr=False)
    trainers: dict[dt.date, Any] = field(repr=False)
    definition: ChurnDefinition = field(repr=False)

    def table(self) -> pd.DataFrame:
        """The headline figures, one row per cutoff and model."""
        return self.metrics[["cutoff", "model", "rows", *METRICS]]


def backtest(data: UsageData, definition: ChurnDefinition | None = None, *, cutoffs: Iterable[str | dt.date],
             builder: FeatureBuilder | None = None, trainer: ChurnTrainer | None = None,
             step_days: int | None = None) -> BacktestResult:
    """Train before each cutoff, score at it, label from what followed, for the model and every baseline.

    Parameters
    ----------
    data : UsageData
        The whole history; each cutoff's label window must lie inside it.
    definition : InactivityChurn or SubscriptionChurn, default InactivityChurn()
    cutoffs : dates
    builder : FeatureBuilder, optional
        Unfitted; cloned and fitted on each cut (default ``FeatureBuilder()``).
    trainer : ChurnTrainer, optional
        Unfitted; cloned for each cutoff (default ``ChurnTrainer()``).
    step_days : int, optional
        Spacing of the training grid (default: :func:`churnml.features.build_dataset`'s).

    Returns
    -------
    BacktestResult

    Raises
    ------
    churnml.errors.ConfigError
        A cutoff whose label window is not fully observed, or with no eligible account.
    """
    from sklearn.base import clone

    from churnml.engines import require_engine
    from churnml.features import FeatureBuilder, build_dataset
    from churnml.modeling import metrics
    from churnml.modeling._model import prepare
    from churnml.modeling._trainer import ChurnTrainer

    engine = require_engine(data, "duckdb", "backtest", fix=", or train and score on Spark one cutoff at a time")
    definition = definition or InactivityChurn()
    cutoffs = list(cutoffs)
    if not cutoffs:
        raise ConfigError("backtest needs at least one cutoff (--cutoff DATE).")
    days = parse_dates(cutoffs)
    first, last = engine.time_span(data)
    observed = last.date()  # the last fully observed midnight is the last event's day
    for cutoff in days:
        if cutoff + dt.timedelta(days=definition.label_span_days) > observed:
            latest = observed - dt.timedelta(days=definition.label_span_days)
            raise ConfigError(f"The cutoff {cutoff} needs its {definition.label_span_days}-day label window "
                              f"observed, but the data ends on {observed}. Fix: a cutoff on or before {latest}.")
        if cutoff <= first.date():
            raise ConfigError(f"The cutoff {cutoff} is not after the first event ({first.date()}): there is "
                              "nothing to train on.")
    rows, predictions, trainers = [], [], {}
    for cutoff in days:
        past = engine.truncated(data, cutoff)
        training = build_dataset(past, definition, builder=clone(builder or FeatureBuilder()),
                                 step_days=step_days)
        fitted = clone(trainer or ChurnTrainer()).fit(training)
        trainers[cutoff] = fitted
        spec = training.builder.spec_
        features = engine.compute(past, spec, definition, [cutoff], labels=False)
        if features.empty:
            raise ConfigError(f"No account is eligible at the cutoff {cutoff} ({_eligibility(definition)}).")
        labelled = engine.compute(data, spec, definition, [cutoff], labels=True)[["user_id", "label"]]
        scored = features.merge(labelled, on="user_id", how="inner", validate="one_to_one")
        X = prepare(scored, fitted.model_.columns)
        out = scored[["user_id"]].assign(cutoff=cutoff, label=scored["label"].to_numpy())
        out["model"] = fitted.model_.predict_proba(X)
        out["evaluated"] = fitted.evaluated_model_.predict_proba(X)
        for name, baseline in fitted.baselines_.items():
            out[name] = baseline.predict_proba(X)
        for name in ["model", "evaluated", *fitted.baselines_]:
            figures = metrics.evaluate(out["label"], out[name])
            rows.append({"cutoff": cutoff, "model": name, "mean_probability": float(out[name].mean()),
                         "training_rows": len(training.frame), "training_dates": len(training.observation_dates),
                         "best_iteration": fitted.best_iteration_, **figures})
        predictions.append(out)
    table = pd.DataFrame(rows)
    table["rows"] = table["rows"].astype("int64")
    return BacktestResult(metrics=table, predictions=pd.concat(predictions, ignore_index=True),
                          trainers=trainers, definition=definition)


def _eligibility(definition: ChurnDefinition) -> str:
    if isinstance(definition, InactivityChurn):
        return f"eligible = an event in the {definition.active_window_days} days before it"
    return "eligible = a subscription running at it"


def summary_lines(result: BacktestResult) -> list[str]:
    """The table as aligned text lines, for the terminal."""
    table = result.table()
    lines = [f"{'cutoff':<10}  {'model':<9}  {'rows':>6}  {'ROC-AUC':>7}  {'PR-AUC':>6}  {'lift@10':>7}  "
             f"{'ECE':>5}  {'mean p':>6}  {'churned':>7}"]
    for row in table.itertuples(index=False):
        lines.append(f"{row.cutoff!s:<10}  {row.model:<9}  {row.rows:>6,}  {row.roc_auc:>7.3f}  {row.pr_auc:>6.3f}  "
                     f"{row.lift_at_10:>7.2f}  {row.ece:>5.3f}  {row.mean_probability:>6.3f}  {row.churn_rate:>7.3f}")
    return lines
