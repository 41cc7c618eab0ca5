"""Point-in-time training sets: one row per eligible user and observation date, with a label.

Examples
--------
>>> import pandas as pd
>>> from churnml import EventSource, load
>>> days = pd.to_datetime(["2024-01-01", "2024-01-15", "2024-02-01", "2024-03-01", "2024-04-10"])
>>> data = load(EventSource(pd.DataFrame({"user_id": [1, 1, 1, 2, 1], "timestamp": days})))
>>> training = build_dataset(data, InactivityChurn(horizon_days=30, active_window_days=30),
...                          observation_dates=["2024-02-15"], builder=FeatureBuilder(windows=(30,), trend_windows=()))
>>> training.frame[["user_id", "observation_date", "label", "count_events_30d"]]
   user_id observation_date  label  count_events_30d
0        1       2024-02-15      1               1.0
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from churnml.contract import (ChurnDefinition, InactivityChurn, SubscriptionChurn, check_after_first_event,
                              check_labelled, observation_grid, parse_dates)
from churnml.features._spec import FeatureBuilder

if TYPE_CHECKING:
    import pandas as pd

    from churnml.contract import UsageData

__all__ = ["TrainingSet", "build_dataset", "InactivityChurn", "SubscriptionChurn"]


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """A labelled point-in-time dataset and what made it."""

    frame: pd.DataFrame
    observation_dates: list[dt.date]
    definition: ChurnDefinition
    builder: FeatureBuilder

    @property
    def feature_names(self) -> list[str]:
        return list(self.builder.get_feature_names_out())

    def summary(self) -> pd.DataFrame:
        """Rows, users and label rate per observation date."""
        grouped = self.frame.groupby("observation_date", observed=True)
        return grouped.agg(rows=("user_id", "size"), label_rate=("label", "mean")).reset_index()

    def totals(self) -> tuple[int, int, float]:
        """Rows, distinct users and the label rate of the whole set."""
        frame = self.frame
        return len(frame), int(frame["user_id"].nunique()), float(frame["label"].mean()) if len(frame) else 0.0


# Fewer observation dates than this with the default step: the default steps down (30, 14, then 7 days).
MIN_DATES = 8
STEPS = (30, 14, 7)


def _grid(first: dt.datetime, last: dt.datetime, lookback: int, definition: ChurnDefinition,
          step_days: int | None) -> list[dt.date]:
    if step_days is not None:
        return observation_grid(first_event=first, last_event=last, lookback_days=lookback, definition=definition,
                                step_days=step_days)
    for step in STEPS:
        dates = observation_grid(first_event=first, last_event=last, lookback_days=lookback, definition=definition,
                                 step_days=step)
        if len(dates) >= MIN_DATES:
            break
    return dates


def build_dataset(data: UsageData, definition: ChurnDefinition | None = None, *,
                  builder: FeatureBuilder | None = None, step_days: int | None = None,
                  observation_dates: Iterable[str | dt.date] | None = None) -> TrainingSet:
    """Features as of each observation date and the churn label after it.

    Parameters
    ----------
    data : UsageData
    definition : InactivityChurn or SubscriptionChurn, default InactivityChurn()
    builder : FeatureBuilder, optional
        Unfitted (fitted here on events before the last date) or already fitted.
    step_days : int, optional
        Spacing of the grid of observation dates when none are given. Default: 30 days, or the
        largest of 14 and 7 that gives at least :data:`MIN_DATES` dates when 30 gives fewer (a
        short history still gets enough dates for an out-of-time split), else 7.
    observation_dates : dates, optional
        Explicit dates; right-censored ones are refused.

    Returns
    -------
    TrainingSet
        ``frame`` has ``user_id``, ``observation_date``, ``label`` (1 = churned),
        ``churn_type`` for subscription churn, then the features. For data loaded by
        :func:`churnml.spark.load`, a :class:`~churnml.spark.SparkTrainingSet` whose ``frame``
        is a Spark DataFrame with the same columns.
    """
    from churnml.engines import engine_for

    engine = engine_for(data)  # DuckDB, or Spark for churnml.spark.load's data
    definition = definition or InactivityChurn()
    builder = builder if builder is not None else FeatureBuilder()
    first, last = engine.time_span(data)
    if observation_dates is None:
        builder._validate_params()
        lookback = max(builder._lookback_days(), definition.active_window_days)
        dates = _grid(first, last, lookback, definition, step_days)
    else:
        dates = parse_dates(observation_dates)
        check_after_first_event("the observation date(s)", dates, first, last, definition)
        check_labelled(dates, last, definition)
    if not hasattr(builder, "spec_"):
        builder.fit(data, observation_dates=dates, definition=definition)
    from churnml import _progress

    _progress.step(f"computing point-in-time features and labels at {len(dates)} observation dates "
                   f"({dates[0]} .. {dates[-1]})")
    frame = engine.compute(data, builder.spec_, definition, dates, labels=True)
    training: TrainingSet = engine.training_set(frame, observation_dates=dates, definition=definition,
                                                builder=builder)  # on Spark the set stays on the cluster
    return training
