"""What only the Spark engine does, equal to the DuckDB engine's: training sets and features to 1e-9, scores
with reasons, its trainer, its CLI path, and the base install that needs no pyspark.

What every engine must do (loads, features against the pandas reference, refusals of bad input) is in
``test_parity.py``, run on both. Spark runs in local mode (two cores); the ``spark`` fixture
(``conftest.py``) skips, with the reason, where pyspark or Java is absent; CI installs both (see .ci/run),
and with CI=true a missing Java fails.
"""

from __future__ import annotations

import dataclasses
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.contract._definitions import InactivityChurn, SubscriptionChurn
from churnml.errors import ConfigError
from churnml.features._dataset import build_dataset
from churnml.features._spec import FeatureBuilder

AS_OF = "2024-10-01"


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """A generated product small enough for Spark's local mode (1,200 users, 300 days)."""
    from churnml.generator import GeneratorConfig, generate

    return generate(tmp_path_factory.mktemp("spark-product"),
                    GeneratorConfig(users=1_200, days=300, seed=5, chunk_size=600))


def _sources(product):
    return (EventSource(product["events"]), SubscriptionSource(product["subscriptions"]),
            AccountSource(product["accounts"]))


def assert_same_frame(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Same columns in the same order, same rows in the same order, floats within 1e-9, the rest equal."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    expected, got = expected.reset_index(drop=True), got.reset_index(drop=True)
    for column in expected.columns:
        a, b = expected[column], got[column]
        if a.dtype.kind == "f":
            x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
            close = np.isclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True)
            assert close.all(), (column, int((~close).sum()), x[~close][:3], y[~close][:3])
        elif a.dtype.kind == "M" or b.dtype.kind == "M":
            assert (pd.to_datetime(a) == pd.to_datetime(b)).all(), column
        else:
            left = a.astype(object).where(a.notna(), None).tolist()
            right = b.astype(object).where(b.notna(), None).tolist()
            assert left == right, (column, [(u, v) for u, v in zip(left, right) if u != v][:3])


@pytest.fixture(scope="module")
def loaded(spark, product):
    from churnml import spark as cs

    return load(*_sources(product)), cs.load(spark, *_sources(product))


def test_spark_loads_the_same_rows_and_report(loaded):
    duck, sp = loaded
    for a, b in zip(duck.reports, sp.reports):
        assert (b.rows_read, b.rows_loaded, b.users, b.dropped, b.null_counts) == \
               (a.rows_read, a.rows_loaded, a.users, a.dropped, a.null_counts)
        assert (b.first, b.last) == (a.first, a.last)
    assert sp.events.types["user_id"] == "bigint" and sp.events.types["timestamp"] == "timestamp"


@pytest.mark.parametrize("definition", [InactivityChurn(horizon_days=30), SubscriptionChurn(horizon_days=30)],
                         ids=["inactivity", "subscription"])
def test_training_sets_equal_duckdbs_on_generated_data(loaded, definition):
    duck, sp = loaded
    builder = dict(activation_events=["core_action"], activation_days=7)
    expected = build_dataset(duck, definition, builder=FeatureBuilder(**builder))
    got = build_dataset(sp, definition, builder=FeatureBuilder(engine="spark", **builder))
    assert got.observation_dates == expected.observation_dates
    assert got.builder.spec_ == expected.builder.spec_  # fit read the same types, levels and attributes
    # computed once for the three reads below (as `churnml dataset` reads back what it wrote)
    got = dataclasses.replace(got, frame=got.frame.persist())
    try:
        frame = got.to_pandas().frame
        assert len(frame) > 1_000 and frame["label"].nunique() == 2
        assert_same_frame(expected.frame, frame)
        # what `churnml dataset` prints, summed up on Spark: the same rows, users and label rates per date
        pd.testing.assert_frame_equal(got.summary(), expected.summary(), check_dtype=False)
        rows, users, rate = got.totals()
        assert (rows, users) == expected.totals()[:2] and rate == pytest.approx(expected.totals()[2], abs=1e-12)
    finally:
        got.frame.unpersist()


def test_features_as_of_one_date_equal_duckdbs(loaded):
    duck, sp = loaded
    builder = FeatureBuilder(windows=(14, 60), trend_windows=(14,)).fit(duck, observation_dates=[AS_OF])
    expected = builder.transform(duck, [AS_OF])
    from churnml.engines import engine_named

    got = engine_named("spark").to_pandas(builder.transform(sp, [AS_OF]), builder.spec_)
    assert_same_frame(expected, got)


def test_the_quantile_pass_is_a_query_of_its_own():
    """Spark's quantiles: percentile_approx alone in its query, its two figures in order, (None, None) for none."""
    from churnml.engines.spark._load import _SparkRun

    queries: list[list[str]] = []

    class Recording(_SparkRun):
        def __init__(self, found: object) -> None:  # no DataFrame: only the queries are looked at
            self.found = found

        def first(self, expressions: list[str], condition: str) -> tuple[object, ...]:
            queries.append(expressions)
            return (self.found,)

    assert Recording([10, 90]).quantiles("t", "x > 1", (0.01, 0.99)) == (10, 90)
    assert Recording(None).quantiles("t", "TRUE", (0.01, 0.99)) == (None, None)
    assert queries == [["percentile_approx(t, array(0.01, 0.99), 100000)"]] * 2


def test_online_retail_training_set_and_scores_equal_duckdbs(spark, shared_data):
    """Real data: float customer ids read as integers, 135,080 anonymous rows filtered, negative values kept;
    then a model trained on the DuckDB set scores every customer the same on both engines, reasons included."""
    from churnml import spark as cs
    from churnml.modeling._trainer import ChurnTrainer
    from churnml.scoring._scoring import DriftWarning, score

    def source():
        return EventSource(shared_data / "online_retail" / "online_retail.parquet", user_id="CustomerID",
                           timestamp="InvoiceDate", value="Quantity * UnitPrice", where="CustomerID IS NOT NULL")

    # Spark groups by a DISTINCT aggregate's argument, giving every other aggregate of the query a buffer per
    # group: percentile_approx's sketch per customer made this load 65 s instead of 16 s. The load's queries
    # are recorded: no query may hold both (float ids and a span over a year: the quantiles run here).
    from churnml.engines.spark._load import _SparkRun

    queries: list[list[str]] = []
    first = _SparkRun.first

    def recorded(self, expressions, condition):
        queries.append(list(expressions))
        return first(self, expressions, condition)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_SparkRun, "first", recorded)
        sp = cs.load(spark, source())
    duck = load(source())

    def has(query: list[str], text: str) -> bool:
        return any(text in e.lower().replace(" ", "") for e in query)

    assert any(has(q, "percentile_approx(") for q in queries) and any(has(q, "(distinct") for q in queries)
    assert not [q for q in queries if has(q, "percentile_approx(") and has(q, "(distinct")]
    assert sp.events.report.dropped == duck.events.report.dropped == {"where CustomerID IS NOT NULL": 135_080}
    assert sp.events.report.duplicate_rows == duck.events.report.duplicate_rows == 5_225
    definition = InactivityChurn(horizon_days=90)
    expected = build_dataset(duck, definition)
    got = build_dataset(sp, definition).to_pandas()
    # the default grid: 30 days would give Online Retail 7 dates, under the 8 the default wants, so 14 days
    assert len(expected.observation_dates) == 14 and len(expected.frame) == 27_259
    assert_same_frame(expected.frame, got.frame)

    model = ChurnTrainer(n_estimators=100, baselines=False).fit(expected).model_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        want = score(model, duck, reasons="all").frame  # as of the day after the last invoice
    scored = cs.score(model, sp, reasons="all").toPandas()
    assert len(want) > 2_500 and want["revenue_at_risk"].notna().all()
    assert_same_frame(want, scored)


@pytest.fixture(scope="module")
def model(loaded):
    from churnml.modeling._trainer import ChurnTrainer

    duck, _ = loaded
    training = build_dataset(duck, SubscriptionChurn(horizon_days=30),
                             builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    return ChurnTrainer(n_estimators=200, baselines=False).fit(training).model_


def test_spark_scores_equal_duckdbs_with_the_same_reasons(loaded, model):
    from churnml import spark as cs
    from churnml.scoring._scoring import DriftWarning, score

    duck, sp = loaded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        expected = score(model, duck, as_of=AS_OF, reasons="all").frame
    got = cs.score(model, sp, as_of=AS_OF, reasons="all").toPandas()
    # every account gets reasons but one with no risk-raising fact (then low risk), on both engines alike
    assert len(expected) > 300 and expected["reason_1"].notna().sum() > 300
    assert expected.loc[expected["reason_1"].isna(), "risk_tier"].eq("low").all()
    assert_same_frame(expected, got)
    tiers = cs.score(model, sp, as_of=AS_OF).toPandas()  # default: reasons for the high and medium tiers only
    assert (tiers["reason_1"].notna() == (tiers["risk_tier"] != "low")).all()


def test_each_engine_is_chosen_by_its_data_and_refuses_the_others(loaded, model):
    """The registry gives Spark data, and its training sets, the Spark engine and trainer; work only DuckDB does
    (local scoring, analytics) refuses Spark data with the loader to use, and the Spark scorer DuckDB data."""
    from churnml import spark as cs
    from churnml.engines import engine_for
    from churnml.reporting.analytics import churn_rate
    from churnml.scoring._scoring import score
    from churnml.tracking._training import _trainer_class

    duck, sp = loaded
    assert engine_for(sp).name == "spark" and engine_for(duck).name == "duckdb"
    training = cs.build_dataset(sp, InactivityChurn(horizon_days=30), step_days=90)
    assert isinstance(training, cs.SparkTrainingSet) and engine_for(training).name == "spark"
    assert _trainer_class(training) is cs.SparkChurnTrainer
    with pytest.raises(ConfigError, match=r"analytics\.churn_rate runs on data loaded by churnml\.load \(duckdb\); "
                                          r"this data was loaded for spark"):
        churn_rate(sp)
    with pytest.raises(ConfigError, match=r"score runs on data loaded by churnml\.load .* churnml\.spark\.score"):
        score(model, sp, as_of=AS_OF)
    with pytest.raises(ConfigError, match=r"churnml\.spark\.score runs on data loaded by churnml\.spark\.load"):
        cs.score(model, duck, as_of=AS_OF)


def test_spark_trainer_gives_a_model_of_the_same_format_and_quality(loaded, tmp_path):
    """xgboost.spark trains the booster; the model saves, loads, registers in MLflow and scores like any other."""
    import mlflow

    from churnml import spark as cs
    from churnml.modeling._model import load_model
    from churnml.modeling._trainer import ChurnTrainer
    from churnml.tracking._runs import load_registered, log_training

    _, sp = loaded
    training = cs.build_dataset(sp, InactivityChurn(horizon_days=30), step_days=30)
    training = dataclasses.replace(training, frame=training.frame.persist())  # one computation, read twice
    trainer = cs.SparkChurnTrainer(num_workers=2, n_estimators=300).fit(training)
    local = ChurnTrainer(n_estimators=300).fit(training.to_pandas())
    training.frame.unpersist()
    assert trainer.slice_rows_ == local.split_.rows()
    assert trainer.model_.info["split"]["dates"] == local.model_.info["split"]["dates"]
    auc, local_auc = trainer.evaluation_.loc["model", "roc_auc"], local.evaluation_.loc["model", "roc_auc"]
    assert abs(auc - local_auc) < 0.02, (auc, local_auc)  # same data, same parameters, other workers' histograms
    # a real model, not noise: on this small held-out test slice (inactivity within 30 days, where the
    # recency rule alone reaches 0.98 ROC-AUC) it ranks churners above the baselines by PR-AUC
    evaluation = trainer.evaluation_
    assert evaluation.loc["model", "roc_auc"] > evaluation.loc["bgnbd", "roc_auc"]
    assert evaluation.loc["model", "pr_auc"] > max(evaluation.loc["recency", "pr_auc"], evaluation.loc["bgnbd", "pr_auc"])
    folder = trainer.model_.save(tmp_path / "model")
    rows = trainer.test_features_.head(50)
    np.testing.assert_allclose(load_model(folder).predict_proba(rows), trainer.model_.predict_proba(rows), rtol=1e-12)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    run = log_training(trainer, tracking_uri_=uri, experiment="spark", register="churn_spark", promote=True,
                       plots=False)
    registered = load_registered("models:/churn_spark@champion", tracking_uri_=uri)
    np.testing.assert_allclose(registered.predict_proba(rows), trainer.model_.predict_proba(rows), rtol=1e-12)
    assert run.alias_uri == "models:/churn_spark@champion"


def test_cli_dataset_and_score_on_spark_equal_duckdb(spark, product, model, tmp_path):
    from churnml.cli import main

    sources = ["--events", str(product["events"]), "--subscriptions", str(product["subscriptions"]),
               "--accounts", str(product["accounts"])]
    common = ["--churn", "subscription", "--horizon-days", "30", "--step-days", "60"]

    def run(*argv: str) -> None:
        with pytest.raises(SystemExit) as done:
            main(list(argv))
        assert done.value.code == 0

    run("dataset", *sources, *common, "--out", str(tmp_path / "duck.parquet"))
    run("dataset", *sources, *common, "--engine", "spark", "--spark-master", "local[2]",
        "--out", str(tmp_path / "spark"))
    expected = pd.read_parquet(tmp_path / "duck.parquet")
    got = pd.read_parquet(tmp_path / "spark").sort_values(["observation_date", "user_id"], kind="stable")
    assert_same_frame(expected, got)
    with pytest.raises(SystemExit) as refused:  # an existing output is kept unless --overwrite
        main(["dataset", *sources, *common, "--engine", "spark", "--out", str(tmp_path / "spark")])
    assert refused.value.code == 1

    folder = model.save(tmp_path / "model")
    run("score", "--model", str(folder), *sources, "--as-of", AS_OF, "--out", str(tmp_path / "scores.parquet"))
    run("score", "--model", str(folder), *sources, "--as-of", AS_OF, "--engine", "spark",
        "--out", str(tmp_path / "scores"))
    expected = pd.read_parquet(tmp_path / "scores.parquet")
    got = pd.read_parquet(tmp_path / "scores").sort_values("rank").reset_index(drop=True)
    assert_same_frame(expected, got)

    # churnml.spark.write_scores sums up what it wrote as churnml.write_scores does (drift aside)
    from churnml import spark as cs, write_scores

    duck, on_spark = load(*_sources(product)), cs.load(spark, *_sources(product))
    local = write_scores(model, duck, tmp_path / "lib.parquet", as_of=AS_OF)
    result = cs.write_scores(model, on_spark, tmp_path / "lib_spark", as_of=AS_OF)
    assert result.accounts == local.accounts > 0 and result.tier_counts == local.tier_counts
    assert result.explained == local.explained and result.as_of == local.as_of
    assert result.thresholds == local.thresholds and result.columns == local.columns
    assert (result.revenue_at_risk is None) == (local.revenue_at_risk is None)
    if local.revenue_at_risk is not None:
        assert result.revenue_at_risk == pytest.approx(local.revenue_at_risk, rel=1e-9)
    with pytest.raises(ConfigError, match="already exists"):
        cs.write_scores(model, on_spark, tmp_path / "lib_spark", as_of=AS_OF)


def test_the_base_install_needs_no_pyspark(tmp_path):
    """With pyspark unimportable, churnml loads and builds training sets on DuckDB, and the Spark entry
    points say how to install the extra."""
    import sys
    import textwrap

    frame = pd.DataFrame({"user_id": [1, 1, 2], "timestamp": pd.to_datetime(["2024-01-01", "2024-02-01",
                                                                             "2024-01-15"])})
    frame.to_parquet(tmp_path / "events.parquet")
    script = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pyspark":
                    raise ImportError("pyspark blocked")
        sys.meta_path.insert(0, Block())
        from churnml import EventSource, FeatureBuilder, load, spark
        data = load(EventSource({str(tmp_path / 'events.parquet')!r}))
        print(len(FeatureBuilder(windows=(30,), trend_windows=()).fit(data).transform(data, ["2024-02-10"])))
        try:
            spark.session()
        except Exception as error:
            print(type(error).__name__, error)
        print("pyspark" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["2", "ConfigError The Spark engine needs pyspark and Java 17+: pip install "
                                "\"churnml[spark]\" (and a JDK, e.g. apt-get install default-jre-headless).", "False"]
