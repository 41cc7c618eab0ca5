"""The Spark engine's jobs: the session, loading, training sets kept on the cluster, training and scoring.

Reached as :mod:`churnml.spark` (its docstring has the example). Training is
:class:`SparkChurnTrainer`, a :class:`churnml.modeling.ChurnTrainer` whose booster is ``xgboost.spark``;
scoring runs churnml's chunk scorer in ``mapInPandas``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from churnml.contract import ChurnDefinition
from churnml.engines.spark._load import SparkTable, SparkUsageData, load_table
from churnml.errors import ConfigError
from churnml.features import FeatureBuilder
from churnml.modeling import ChurnModel, ChurnTrainer, IdentityCalibrator

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from churnml.contract import AccountSource, EventSource, SubscriptionSource
    from churnml.features import TrainingSet
    from churnml.scoring import Reasons, ScoringResult

__all__ = ["SparkTable", "SparkUsageData", "SparkTrainingSet", "session", "load", "build_dataset", "score", "SparkChurnTrainer",
           "require_spark", "write_parquet", "write_scores"]


def require_spark() -> None:
    """Raise a ConfigError that says how to install pyspark when it is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        raise ConfigError("The Spark engine needs pyspark and Java 17+: pip install \"churnml[spark]\" "
                          "(and a JDK, e.g. apt-get install default-jre-headless).") from error


def session(master: str | None = None, *, app_name: str = "churnml", config: dict[str, str] | None = None
            ) -> SparkSession:
    """A SparkSession for churnml (an existing one is reused, with its settings).

    ``master`` defaults to the one ``spark-submit`` was given when churnml runs under it,
    else ``local[*]``. churnml computes in UTC: the session time zone is set to UTC, so
    naive timestamps mean the same instant on the driver, the executors and in DuckDB.
    In local mode the Python workers run the current interpreter unless
    ``PYSPARK_PYTHON`` says otherwise; on a cluster, churnml must be installed where the
    executors' Python is (the image, a ``--archives`` environment, or ``--py-files``).
    """
    require_spark()
    import os
    import sys

    from pyspark.sql import SparkSession

    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # started by spark-submit: its --master rules
    if master is None and not submitted:
        master = "local[*]"
    if master is not None and master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        # Local workers run this interpreter (its packages), not whatever python3 is first on PATH.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    builder = (builder.config("spark.sql.session.timeZone", "UTC")
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
    loaded_events = load_table(spark, events)
    loaded_accounts = load_table(spark, accounts) if accounts is not None else None
    if loaded_accounts is not None and "signup_date" in loaded_accounts.columns:
        from churnml.contract import with_signup_note

        joined = loaded_events.frame.alias("e").join(loaded_accounts.frame.alias("a"), "user_id").where(
            "e.timestamp < a.signup_date").selectExpr("count(*)", "count(DISTINCT user_id)").first()
        loaded_events = with_signup_note(loaded_events, int(joined[0]), int(joined[1]))
    return SparkUsageData(
        spark=spark, events=loaded_events,
        subscriptions=(load_table(spark, subscriptions, not_after=loaded_events.report.last)
                       if subscriptions is not None else None),
        accounts=loaded_accounts)


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
        """The whole set on the driver, as the DuckDB engine's :class:`~churnml.features.TrainingSet`
        (the sample-then-train path: ``ChurnTrainer().fit(training.to_pandas())`` when it fits in memory)."""
        from churnml.engines import engine_named
        from churnml.features import TrainingSet

        frame = engine_named("spark").to_pandas(self.frame, self.builder.spec_)
        return TrainingSet(frame=frame, observation_dates=self.observation_dates, definition=self.definition,
                           builder=self.builder)

    def write(self, path: str, *, mode: str = "error") -> None:
        """Write the set as a Parquet folder; ``mode`` as Spark's writer ('error', 'overwrite', ...)."""
        self.frame.write.mode(mode).parquet(path)

    def summary(self) -> pd.DataFrame:
        """Rows, users and label rate per observation date, as :meth:`churnml.features.TrainingSet.summary`."""
        from pyspark.sql import functions as F

        out = (self.frame.groupBy("observation_date").agg(F.count("*").alias("rows"), F.avg("label").alias("label_rate"))
               .orderBy("observation_date").toPandas())
        out["observation_date"] = out["observation_date"].astype("datetime64[ns]")
        return out

    def totals(self) -> tuple[int, int, float]:
        """Rows, distinct users and the label rate of the whole set, as
        :meth:`churnml.features.TrainingSet.totals`."""
        row = self.frame.selectExpr("count(*)", "count(DISTINCT user_id)", "avg(label)").first()
        return int(row[0]), int(row[1]), float(row[2] or 0.0)


def write_parquet(frame: DataFrame, path: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write a Spark DataFrame as a Parquet folder (Spark's job commit: all files or none), refusing an existing
    local ``path`` unless ``overwrite``; the path written."""
    target = str(path)
    if "://" not in target and os.path.exists(target) and not overwrite:
        raise ConfigError(f"{target!r} already exists. Fix: pass --overwrite or choose another path.")
    frame.write.mode("overwrite" if overwrite else "errorifexists").parquet(target)
    return target


def build_dataset(data: SparkUsageData, definition: ChurnDefinition | None = None, *,
                  builder: FeatureBuilder | None = None, step_days: int | None = None,
                  observation_dates: Iterable[str | dt.date] | None = None) -> SparkTrainingSet:
    """:func:`churnml.build_dataset` on Spark: the same dates, eligibility, labels and features."""
    from churnml.features import build_dataset as build

    return build(data, definition, builder=builder, step_days=step_days,  # type: ignore[return-value]
                 observation_dates=observation_dates)


# ----------------------------------------------------------------- scoring


def score(model: ChurnModel, data: SparkUsageData, *, as_of: str | dt.date | None = None,
          reasons: Reasons = "tiers", top_k: int = 3, tiers: dict[str, float] | None = None,
          shap_engine: str = "auto") -> DataFrame:
    """:func:`churnml.score` on Spark: a ranked Spark DataFrame with the same columns, reasons included.

    The features are computed by the Spark engine; the model travels to the executors
    as its files' bytes (UBJSON and JSON, no pickle) and each partition is scored by
    ``mapInPandas`` with the same code as the single-machine path; the rank is a
    window over the whole result (probability descending, then user id).
    Drift (PSI) is not measured on this path. The features are persisted (memory and disk)
    for the input check and the scoring, so they are computed once.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from churnml.engines import require_engine
    from churnml.features import warn_unseen_types
    from churnml.modeling import model_from_files
    from churnml.scoring import check_inputs, has_revenue, parse_day, score_chunk, scored_columns, tier_thresholds

    if reasons not in ("tiers", "all", "none"):
        raise ConfigError(f"The 'reasons' parameter of score must be 'tiers', 'all' or 'none'. Got {reasons!r} "
                          "instead.")
    spec, definition = model.spec, model.churn_definition()
    if spec is None or definition is None:
        raise ConfigError("This model was trained on a labelled table; the Spark path scores models that compute "
                          "their features from an event log.")
    engine = require_engine(data, "spark", "churnml.spark.score", fix=", or score it with churnml.score")
    day = parse_day(as_of) if as_of is not None else (engine.time_span(data)[1] + dt.timedelta(days=1)).date()
    warn_unseen_types(spec, data)
    check_inputs(data, spec, day)
    thresholds = tier_thresholds(model, tiers)
    # Kept (memory, else local disk) between the missing-input check and the scoring, which would otherwise
    # each compute the features; ``scores.unpersist()`` does not free it, the session's end (or eviction) does.
    features = engine.compute(data, spec, definition, [day], labels=False).persist()
    _check_missing(model, features)
    files = model.files()
    fields = [f"user_id {features.schema['user_id'].dataType.simpleString()}", "as_of DATE",
              "churn_probability DOUBLE", "risk_tier STRING",
              *(f"{name} {kind.upper()}" for name, kind in scored_columns(top_k, with_revenue=has_revenue(model)))]
    names = [f.split(" ")[0] for f in fields]

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from churnml.engines import typed
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
    return ranked.select(*names[:4], "rank", *names[4:])


def write_scores(model: ChurnModel, data: SparkUsageData, path: str | os.PathLike[str], *, overwrite: bool = False,
                 as_of: str | dt.date | None = None, reasons: Reasons = "tiers", top_k: int = 3,
                 tiers: dict[str, float] | None = None, shap_engine: str = "auto",
                 drift_threshold: float = 0.25) -> ScoringResult:
    """:func:`churnml.write_scores` on Spark: :func:`score`'s ranked scores written as a Parquet folder
    (:func:`write_parquet`), summed up as a :class:`~churnml.scoring.ScoringResult` read back from the folder.

    Drift (PSI) and the expected performance are not measured on this path: ``drift`` is empty.
    """
    import pandas as pd

    from churnml.scoring import TIERS, ScoringResult, tier_thresholds

    frame = score(model, data, as_of=as_of, reasons=reasons, top_k=top_k, tiers=tiers, shap_engine=shap_engine)
    target = write_parquet(frame, path, overwrite=overwrite)
    written = frame.sparkSession.read.parquet(target)
    revenue = "sum(revenue_at_risk)" if "revenue_at_risk" in written.columns else "CAST(NULL AS DOUBLE)"
    row = written.selectExpr("count(*)", *[f"count_if(risk_tier = '{t}')" for t in TIERS],
                             "count(reason_1)", revenue, "max(as_of)").first()
    n = len(TIERS)
    return ScoringResult(accounts=int(row[0]), as_of=row[n + 3], tier_counts=dict(zip(TIERS, map(int, row[1:n + 1]))),
                         thresholds=tier_thresholds(model, tiers), explained=int(row[n + 1]),
                         revenue_at_risk=None if row[n + 2] is None else float(row[n + 2]),
                         drift=pd.DataFrame(columns=["feature", "psi", "training_missing_share", "scored_missing_share"]),
                         drift_threshold=drift_threshold, path=Path(target), columns=list(written.columns))


def _check_missing(model: ChurnModel, features: DataFrame) -> None:
    """As the single-machine path: a feature present for most training rows but missing for every scored one."""
    from churnml.engines.spark._load import qi
    from churnml.scoring import check_missing

    names = model.feature_names
    row = features.selectExpr("count(*)", *[f"count({qi(n)})" for n in names]).first()
    check_missing(model, dict(zip(names, [int(v) for v in list(row)[1:]])), int(row[0]))


# ----------------------------------------------------------------- training


class SparkChurnTrainer(ChurnTrainer):
    """:class:`~churnml.modeling.ChurnTrainer` for a training set that does not fit one machine.

    The booster is trained by ``xgboost.spark.SparkXGBClassifier`` on the executors
    (train slice, early stopping on the validation slice, categorical features as
    their level codes marked ``'c'``); raw scores of the calibration and test slices
    are computed on the executors too. Only small things reach the driver: the
    calibration slice's (score, label) pairs, a seeded sample of training rows
    (``baseline_max_rows``) for the baselines, the retained-account reference values
    and the drift reference, and the test slice's rows (at most ``max_test_rows``, a
    seeded sample beyond that) for the evaluation, the SHAP plots and MLflow. The
    model is the same :class:`~churnml.modeling.ChurnModel` (UBJSON booster, JSON
    calibrator and spec) as the single-machine trainer's: it is logged, registered,
    scored and explained by the same code.

    When the set fits in memory, ``ChurnTrainer().fit(training.to_pandas())`` trains
    on the driver instead (the sample-then-train path).

    Parameters
    ----------
    num_workers : int, default 1
        XGBoost workers (Spark tasks) for training.
    max_test_rows : int, default 1,000,000
        The most test-slice rows brought to the driver for evaluation.
    Other parameters are those of :class:`~churnml.modeling.ChurnTrainer`.
    """

    def __init__(self, *, num_workers: int = 1, max_test_rows: int = 1_000_000, n_estimators: int = 2000,
                 learning_rate: float = 0.05, max_depth: int = 4, min_child_weight: float = 5.0,
                 subsample: float = 0.8, colsample_bytree: float = 0.8, reg_lambda: float = 1.0,
                 early_stopping_rounds: int = 50,
                 calibration: Literal["auto", "isotonic", "platt", "none"] = "auto",
                 class_weight: Literal["balanced"] | None = None, validation_size: float = 0.15,
                 calibration_size: float = 0.15, test_size: float = 0.2, held_out_share: float = 0.3,
                 device: str = "cpu", baselines: bool = True, baseline_max_rows: int = 100_000,
                 n_jobs: int | None = None, random_state: int = 0) -> None:
        super().__init__(n_estimators=n_estimators, learning_rate=learning_rate, max_depth=max_depth,
                         min_child_weight=min_child_weight, subsample=subsample, colsample_bytree=colsample_bytree,
                         reg_lambda=reg_lambda, early_stopping_rounds=early_stopping_rounds, calibration=calibration,
                         class_weight=class_weight, validation_size=validation_size,
                         calibration_size=calibration_size, test_size=test_size, held_out_share=held_out_share,
                         device=device, baselines=baselines,
                         baseline_max_rows=baseline_max_rows, n_jobs=n_jobs, random_state=random_state)
        self.num_workers = num_workers
        self.max_test_rows = max_test_rows

    def fit(self, data: Any, y: Any = None, *, observation_dates: Any = None) -> SparkChurnTrainer:
        """Split by date, train on Spark with early stopping, calibrate, fit the baselines, evaluate.

        Parameters
        ----------
        data : SparkTrainingSet
        """
        import pandas as pd

        from churnml.engines.spark._load import ql
        from churnml.modeling import FeatureColumn, split_by_date

        if not isinstance(data, SparkTrainingSet):
            raise ConfigError(f"SparkChurnTrainer.fit takes a SparkTrainingSet (churnml.spark.build_dataset). Got "
                              f"{type(data).__name__} instead; on one machine use ChurnTrainer.")
        self._validate_params()
        spec = data.builder.spec_
        names = data.feature_names
        levels = spec.categorical_levels()
        columns = [FeatureColumn(n, tuple(levels[n]) if n in levels else None) for n in names]
        sizes = {"validation_size": self.validation_size, "calibration_size": self.calibration_size,
                 "test_size": self.test_size}
        by_date = split_by_date(pd.Series(pd.to_datetime(sorted(data.observation_dates))), **sizes).dates
        assert by_date is not None
        # As ChurnTrainer's split: held-out users (the same hash of the id, computed on the executors) never
        # train and are the only ones in the later slices.
        part = " ".join(f"WHEN observation_date IN ({', '.join(repr(d.isoformat()) for d in days)}) "
                        f"AND {'NOT ' if name == 'train' else ''}churnml_held THEN {ql(name)}"
                        for name, days in by_date.items())
        from churnml.modeling import held_out_users

        share = self.held_out_share

        def mark(batches: Any) -> Any:
            for batch in batches:
                yield batch.assign(churnml_held=held_out_users(batch["user_id"], share))

        # Read six times below (slice counts, fingerprint, booster, calibration, samples): computed once, kept
        # in memory (else local disk) until the fit ends.
        from pyspark.sql.types import BooleanType, StructField, StructType

        schema = StructType([*data.frame.schema.fields, StructField("churnml_held", BooleanType())])
        marked = data.frame.mapInPandas(mark, schema)
        frame = marked.selectExpr("*", f"CASE {part} END AS churnml_slice").drop("churnml_held").persist()
        try:
            self._fit_slices(data, frame, spec, names, columns, by_date)
        finally:
            frame.unpersist()
        # Not yet on Spark: the held-out users of the split and the production refit (ChurnTrainer's);
        # the shipped model is the evaluated one.
        self.model_.info["exported"] = "evaluated"
        self.evaluated_model_ = self.model_
        return self

    def _fit_slices(self, data: SparkTrainingSet, frame: DataFrame, spec: Any, names: list[str],
                    columns: list[Any], by_date: dict[str, list[dt.date]]) -> None:
        """The fit proper, on ``frame``: the training set with each row's slice in ``churnml_slice``."""
        import numpy as np
        import pandas as pd
        from pyspark.sql import functions as F
        from xgboost.spark import SparkXGBClassifier

        from churnml.engines.spark._load import qi, ql
        from churnml.errors import LabelError
        from churnml.modeling import (FeatureColumn, SLICES, Split, TrainingInputs, definition_dict, drift_reference,
                                      model_from_files, prepare, reference_values)

        def encoded(column: FeatureColumn) -> str:
            if column.levels is None:
                return f"CAST({qi(column.name)} AS DOUBLE) AS {qi(column.name)}"
            whens = " ".join(f"WHEN {ql(level)} THEN {i}" for i, level in enumerate(column.levels))
            return f"CAST(CASE {qi(column.name)} {whens} END AS DOUBLE) AS {qi(column.name)}"

        counts = {r[0]: (int(r[1]), int(r[2])) for r in frame.groupBy("churnml_slice").agg(
            F.count("*"), F.sum("label")).collect()}
        for name in SLICES:
            rows, positives = counts.get(name, (0, 0))
            if name != "test" and (positives == 0 or positives == rows):
                raise LabelError(f"The {name} slice has only one label in its {rows:,} rows; a model needs churners "
                                 "and non-churners. Fix: a longer history, a different horizon, or other slice sizes.",
                                 column="label", n_bad=rows)
        self.slice_rows_ = {name: counts.get(name, (0, 0))[0] for name in SLICES}
        self.data_fingerprint_ = _fingerprint(frame, names)

        # The booster, trained on the executors.
        fitting = frame.where("churnml_slice IN ('train', 'validation')").selectExpr(
            *[encoded(c) for c in columns], "CAST(label AS DOUBLE) AS label",
            "churnml_slice = 'validation' AS churnml_validation")
        train_rows, train_positives = counts["train"]
        params = self.xgboost_params()
        if self.class_weight == "balanced" and train_positives:
            params["scale_pos_weight"] = (train_rows - train_positives) / train_positives
        xgb_params = {k: v for k, v in params.items() if k not in ("objective", "nthread", "seed", "device")}
        estimator = SparkXGBClassifier(
            features_col=names, label_col="label", validation_indicator_col="churnml_validation",
            num_workers=self.num_workers, device=self.device, n_estimators=self.n_estimators,
            early_stopping_rounds=self.early_stopping_rounds, random_state=self.random_state,
            feature_names=names, feature_types=["c" if c.levels is not None else "q" for c in columns], verbose=False,
            **xgb_params)
        import logging

        estimator.logger.setLevel(logging.WARNING)  # it logs every parameter at INFO
        booster = estimator.fit(fitting).get_booster()
        self.best_iteration_ = int(booster.best_iteration)
        self.validation_log_loss_ = float(booster.best_score)
        params["num_workers"] = self.num_workers
        calibrator = IdentityCalibrator()
        info: dict[str, Any] = {"best_iteration": self.best_iteration_, "calibration": calibrator.method,
                                "params": params, "trainer": self.get_params(), "data": self.data_fingerprint_,
                                "split": {"kind": "by_date", "rows": self.slice_rows_, "engine": "spark",
                                          "dates": {n: [d.isoformat() for d in days] for n, days in by_date.items()}}}
        from churnml._version import __version__

        info["churnml_version"] = __version__
        model = ChurnModel(booster=booster, calibrator=calibrator, columns=columns, spec=spec,
                           definition=definition_dict(data.definition), info=info)

        # Raw scores of the calibration slice on the executors; only (score, label) come back.
        raw_calibration, y_calibration = _raw_scores(model, frame.where("churnml_slice = 'calibration'"), spec)
        calibrator, self.calibration_log_loss_ = self._calibrate(raw_calibration, y_calibration)
        self.calibration_method_ = calibrator.method
        model.calibrator = calibrator
        info["calibration"] = calibrator.method

        # The driver's rows: a seeded sample of the train slice, and the test slice (capped).
        keep = ["user_id", "observation_date", "label", *names]
        train_fraction = min(1.0, 1.1 * self.baseline_max_rows / max(train_rows, 1))
        train_sample = frame.where("churnml_slice = 'train'").sample(fraction=train_fraction, seed=self.random_state)
        test = frame.where("churnml_slice = 'test'")
        test_rows = self.slice_rows_["test"]
        if test_rows > self.max_test_rows:
            test = test.sample(fraction=self.max_test_rows / test_rows, seed=self.random_state)
        from churnml.engines import engine_named

        local = [engine_named("spark").to_pandas(part.select(*keep), spec) for part in (train_sample, test)]
        local[0] = local[0].head(self.baseline_max_rows)
        both = pd.concat(local, ignore_index=True)
        X = prepare(both, columns).reset_index(drop=True)
        y = both["label"].to_numpy(dtype="int8")
        is_train = np.r_[np.ones(len(local[0]), dtype=bool), np.zeros(len(local[1]), dtype=bool)]
        empty = np.zeros(len(both), dtype=bool)
        self.split_ = Split(masks={"train": is_train, "validation": empty, "calibration": empty, "test": ~is_train},
                            dates=by_date)
        info["reference"] = reference_values(X[is_train & (y == 0)], columns)
        info["drift"] = drift_reference(X[is_train], [c.name for c in columns])
        gain = booster.get_score(importance_type="total_gain")
        self.feature_importance_ = pd.Series({c.name: gain.get(c.name, 0.0) for c in columns},
                                             name="total_gain").sort_values(ascending=False)
        self.model_ = model
        keys = both[["user_id", "observation_date"]].reset_index(drop=True)
        inputs = TrainingInputs(X=X, y=y, keys=keys, dates=keys["observation_date"], columns=columns, spec=spec,
                         definition=model.definition)
        self._evaluate(inputs, booster, (0, self.best_iteration_ + 1))
        model.booster = model_from_files(model.files()).booster  # the booster as the model file holds it

    def _split_summary(self) -> dict[str, Any]:
        return dict(self.model_.info["split"])


def _fingerprint(frame: DataFrame, names: list[str]) -> dict[str, Any]:
    """Rows, users, date range, label rate and an order-free hash of the rows, computed on Spark.

    The hash is the SHA-256 of the sum of each row's 64-bit hash: the same rows give the same
    value on any cluster layout (it is not the DuckDB path's hash, which reads the rows in order).
    """
    import hashlib

    from pyspark.sql import functions as F

    from churnml.engines.spark._load import qi

    row = frame.agg(F.count("*"), F.countDistinct("user_id"), F.min("observation_date"), F.max("observation_date"),
                    F.avg("label"), F.sum(F.xxhash64(*[F.col(qi(c)) for c in ["user_id", "observation_date", "label",
                                                                               *names]]).cast("decimal(38,0)"))).first()
    rows, users, first, last, rate, total = row
    return {"sha256": hashlib.sha256(f"{rows}:{total}".encode()).hexdigest(), "rows": int(rows),
            "features": len(names), "label_rate": float(rate), "users": int(users), "first_date": str(first),
            "last_date": str(last), "hash": "spark xxhash64 sum"}


def _raw_scores(model: ChurnModel, frame: DataFrame, spec: Any) -> tuple[Any, Any]:
    """The booster's raw probabilities and the labels of ``frame``'s rows, computed on the executors."""
    from churnml.modeling import model_from_files

    files = model.files()
    names = model.feature_names

    def raw(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        from churnml.engines import typed
        from churnml.modeling import prepare

        local = model_from_files(files)
        for batch in batches:
            if len(batch):
                batch = typed(batch, spec)
                yield pd.DataFrame({"raw": local._raw(prepare(batch, local.columns)),
                                    "label": batch["label"].to_numpy(dtype="int8")})

    from churnml.engines.spark._load import qi

    out = frame.select("observation_date", "label", *[qi(n) for n in names]).mapInPandas(
        raw, "raw DOUBLE, label TINYINT").toPandas()
    return out["raw"].to_numpy(dtype="float64"), out["label"].to_numpy(dtype="int8")
