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
from collections.abc import Iterable, Iterator
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
    from churnml.model import ChurnModel
    from churnml.scoring import Reasons
    from churnml.sources import AccountSource, EventSource, SubscriptionSource

__all__ = ["SparkTable", "SparkUsageData", "SparkTrainingSet", "session", "load", "build_dataset", "score", "require_spark"]


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
    mean the same instant on the driver, the executors and in DuckDB. In local mode the
    Python workers run the current interpreter unless ``PYSPARK_PYTHON`` says otherwise;
    on a cluster, churnml must be installed where the executors' Python is.
    """
    require_spark()
    import os
    import sys

    from pyspark.sql import SparkSession

    if master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        # Local workers run this interpreter (its packages), not whatever python3 is first on PATH.
        os.environ["PYSPARK_PYTHON"] = sys.executable
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



# ----------------------------------------------------------------- scoring


def score(model: ChurnModel, data: SparkUsageData, *, as_of: str | dt.date | None = None,
          reasons: Reasons = "tiers", top_k: int = 3, tiers: dict[str, float] | None = None,
          shap_engine: str = "auto") -> DataFrame:
    """:func:`churnml.score` on Spark: a ranked Spark DataFrame with the same columns, reasons included.

    The features are computed by the Spark engine; the model travels to the executors
    as its files' bytes (UBJSON and JSON, no pickle) and each partition is scored by
    ``mapInPandas`` with the same code as the single-machine path; the rank is a
    window over the whole result (probability descending, then user id).
    Drift (PSI) is not measured on this path.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from churnml._engine_spark import compute, time_span
    from churnml.model import model_from_files
    from churnml.scoring import TIERS, _has_revenue, _parse_day, _thresholds, score_chunk

    if reasons not in ("tiers", "all", "none"):
        raise ConfigError(f"The 'reasons' parameter of score must be 'tiers', 'all' or 'none'. Got {reasons!r} "
                          "instead.")
    spec, definition = model.spec, model.churn_definition()
    if spec is None or definition is None:
        raise ConfigError("This model was trained on a labelled table; the Spark path scores models that compute "
                          "their features from an event log.")
    day = _parse_day(as_of) if as_of is not None else (time_span(data)[1] + dt.timedelta(days=1)).date()
    from churnml.features import warn_unseen_types

    warn_unseen_types(spec, data)
    _check_inputs(data, spec, day)
    thresholds = _thresholds(model, tiers)
    features = compute(data, spec, definition, [day], labels=False)
    _check_missing(model, features)
    files = model.files()
    fields = [f"user_id {features.schema['user_id'].dataType.simpleString()}", "as_of DATE",
              "churn_probability DOUBLE", "risk_tier STRING"]
    if _has_revenue(model):
        fields.append("revenue_at_risk DOUBLE")
    for i in range(1, top_k + 1):
        fields += [f"reason_{i} STRING", f"reason_{i}_feature STRING", f"reason_{i}_contribution DOUBLE"]
    names = [f.split(" ")[0] for f in fields]

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from churnml._engine_duckdb import typed
        from churnml.explain import ChurnExplainer

        local = model_from_files(files)
        explainer = ChurnExplainer(local, top_k=top_k, engine=shap_engine)
        for batch in batches:
            if len(batch) == 0:
                continue
            out, _, _ = score_chunk(local, typed(batch, spec), day=day, thresholds=thresholds, reasons=reasons,
                                    top_k=top_k, explainer=explainer)
            yield out[names]

    scored = features.mapInPandas(score_partition, ", ".join(fields))
    order = Window.orderBy(F.col("churn_probability").desc(), F.col("user_id").asc())
    ranked = scored.withColumn("rank", F.row_number().over(order).cast("bigint"))
    assert set(TIERS) == {"high", "medium", "low"}
    return ranked.select(*names[:4], "rank", *names[4:])


def _check_inputs(data: SparkUsageData, spec: Any, day: dt.date) -> None:
    """As :func:`churnml.scoring._check_inputs`: the value column all empty, or a kept event type never seen."""
    from churnml.errors import MissingFeatureError

    columns = data.events.columns
    before = data.events.frame.where(f"`timestamp` < DATE'{day.isoformat()}'")
    row = before.selectExpr("count(*)", "count(value)" if "value" in columns else "0").first()
    events, valued = int(row[0]), int(row[1])
    if spec.has_value and events and not valued:
        raise MissingFeatureError(
            f"The model's value features need the event value, but all {events:,} events before {day} have none "
            "(value is missing or empty). Fix: map the value column as at training (--value-col).",
            column="value", n_bad=events, example=None)
    kept = set(spec.event_types)
    if kept and "event_type" in columns:
        seen = {str(r[0]) for r in before.where("event_type IS NOT NULL").select("event_type").distinct().collect()}
        absent = sorted(kept - seen)
        if absent:
            raise MissingFeatureError(
                f"{len(absent)} event type(s) the model was trained on never occur before {day} in this data, e.g. "
                f"{absent[0]!r}; their features would all read 'never'. Fix: load the full event log, with the "
                "same event_type mapping as at training.", column="event_type", n_bad=events, example=absent[0])


def _check_missing(model: ChurnModel, features: DataFrame) -> None:
    """As the single-machine path: a feature present for most training rows but missing for every scored one."""
    from churnml._spark_load import qi
    from churnml.scoring import check_missing

    names = model.feature_names
    row = features.selectExpr("count(*)", *[f"count({qi(n)})" for n in names]).first()
    check_missing(model, dict(zip(names, [int(v) for v in list(row)[1:]])), int(row[0]))
