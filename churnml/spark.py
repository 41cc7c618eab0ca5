"""churnml on Spark: the same features, training sets, training and scoring when data outgrows one machine.

Needs the ``spark`` extra (``pip install "churnml[spark]"``: pyspark) and Java 17+.
The feature spec is the one the DuckDB engine runs; the Spark engine compiles it to
Spark SQL, and tests hold the two equal (same rows, values within 1e-9, same reasons).

Examples
--------
.. code-block:: python

    from churnml import EventSource, FeatureBuilder, InactivityChurn
    from churnml import spark as cs

    session = cs.session("local[*]")          # or an existing SparkSession
    data = cs.load(session, EventSource("s3a://lake/events/", event_type="event", value="amount"))
    training = cs.build_dataset(data, InactivityChurn(horizon_days=30))   # a Spark DataFrame inside
    model = cs.SparkChurnTrainer(num_workers=8).fit(training).model_     # xgboost.spark
    scores = cs.score(model, data, as_of="2025-01-01")                    # mapInPandas, reasons included
    scores.write.parquet("s3a://lake/churn_scores/2025-01-01/")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churnml._spark_load import SparkTable, SparkUsageData, load_table
from churnml.definitions import ChurnDefinition, InactivityChurn, check_labelled, observation_grid, parse_dates
from churnml.errors import ConfigError
from churnml.features import FeatureBuilder

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from churnml.dataset import TrainingSet
    from churnml.sources import AccountSource, EventSource, SubscriptionSource

__all__ = ["SparkTable", "SparkUsageData", "SparkTrainingSet", "session", "load", "build_dataset", "require_spark"]


def require_spark() -> None:
    """Raise a ConfigError that says how to install pyspark when it is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        raise ConfigError("The Spark engine needs pyspark and Java 17+: pip install \"churnml[spark]\" "
                          "(and a JDK, e.g. apt-get install default-jre-headless).") from error


def session(master: str = "local[*]", *, app_name: str = "churnml", config: dict[str, str] | None = None
            ) -> SparkSession:
    """A SparkSession for churnml (an existing one is reused, with its settings).

    churnml computes in UTC: the session time zone is set to UTC, so naive timestamps
    mean the same instant on the driver, the executors and in DuckDB.
    """
    require_spark()
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "false"))
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def load(spark: SparkSession, events: EventSource, subscriptions: SubscriptionSource | None = None,
         accounts: AccountSource | None = None) -> SparkUsageData:
    """Validate and load a product's tables on Spark (the rules of :func:`churnml.load`).

    Each source's ``data`` is a path Spark reads (a Parquet or CSV file or folder, a
    glob, ``s3a://``, ``abfss://`` or ``gs://`` locations) or a Spark DataFrame.
    Mappings and ``where`` filters are Spark SQL expressions.
    """
    require_spark()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return SparkUsageData(
        spark=spark, events=load_table(spark, events),
        subscriptions=load_table(spark, subscriptions) if subscriptions is not None else None,
        accounts=load_table(spark, accounts) if accounts is not None else None)


@dataclass(frozen=True, eq=False)
class SparkTrainingSet:
    """A labelled point-in-time dataset as a Spark DataFrame (``frame``) and what made it."""

    frame: DataFrame
    observation_dates: list[dt.date]
    definition: ChurnDefinition
    builder: FeatureBuilder

    @property
    def feature_names(self) -> list[str]:
        return list(self.builder.get_feature_names_out())

    def to_pandas(self) -> TrainingSet:
        """The whole set on the driver, as the DuckDB engine's :class:`~churnml.dataset.TrainingSet`
        (the sample-then-train path: ``ChurnTrainer().fit(training.to_pandas())`` when it fits in memory)."""
        from churnml._engine_spark import to_pandas
        from churnml.dataset import TrainingSet

        frame = to_pandas(self.frame, self.builder.spec_)
        return TrainingSet(frame=frame, observation_dates=self.observation_dates, definition=self.definition,
                           builder=self.builder)

    def write(self, path: str, *, mode: str = "error") -> None:
        """Write the set as Parquet (a folder), partitioned by nothing; ``mode`` as Spark's writer."""
        self.frame.write.mode(mode).parquet(path)


def build_dataset(data: SparkUsageData, definition: ChurnDefinition | None = None, *,
                  builder: FeatureBuilder | None = None, step_days: int = 30,
                  observation_dates: Iterable[str | dt.date] | None = None) -> SparkTrainingSet:
    """:func:`churnml.build_dataset` on Spark: the same dates, eligibility, labels and features."""
    from churnml._engine_spark import compute, time_span

    definition = definition or InactivityChurn()
    builder = builder if builder is not None else FeatureBuilder(engine="spark")
    first, last = time_span(data)
    if observation_dates is None:
        builder._validate_params()
        lookback = max(builder._lookback_days(), definition.active_window_days)
        dates = observation_grid(first_event=first, last_event=last, lookback_days=lookback,
                                 definition=definition, step_days=step_days)
    else:
        dates = parse_dates(observation_dates)
        check_labelled(dates, last, definition)
    if not hasattr(builder, "spec_"):
        builder.fit(data, observation_dates=dates)
    frame = compute(data, builder.spec_, definition, dates, labels=True)
    return SparkTrainingSet(frame=frame, observation_dates=dates, definition=definition, builder=builder)


def features(builder: FeatureBuilder, data: SparkUsageData, observation_dates: Iterable[str | dt.date], *,
             definition: ChurnDefinition | None = None) -> DataFrame:
    """``builder.transform`` on Spark data (a Spark DataFrame)."""
    return builder.transform(data, observation_dates, definition=definition)

