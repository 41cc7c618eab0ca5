"""The engine contract: the registry picks the engine of the data, every caller goes through it, and the SQL
both engines run is written once (churnml.engines)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from churnml import EventSource, FeatureBuilder, InactivityChurn, SubscriptionChurn, load
from churnml.engines import Engine, engine_for, engine_named, engine_names, register_engine
from churnml.engines._base import _REGISTRY
from churnml.engines._sql import islands_query, label_sql, levelled
from churnml.errors import ConfigError
from churnml.features._dataset import build_dataset
from churnml.modeling._trainer import ChurnTrainer
from churnml.tracking._training import _trainer_class


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("engines") / "events.parquet"
    pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "timestamp": pd.to_datetime(
        ["2024-01-02", "2024-02-01", "2024-01-15", "2024-03-01", "2024-03-02"])}).to_parquet(path)
    return load(EventSource(path))


def test_loaded_data_and_its_training_sets_are_duckdbs(data):
    engine = engine_for(data)
    assert engine is engine_named("duckdb") and engine.name == "duckdb" and isinstance(engine, Engine)
    training = build_dataset(data, InactivityChurn(horizon_days=14, active_window_days=30),
                             builder=FeatureBuilder(windows=(30,), trend_windows=()),
                             observation_dates=["2024-02-10"])
    assert engine_for(training) is engine and _trainer_class(training) is ChurnTrainer
    assert list(training.frame["user_id"]) == [1, 2]  # user 3 had no event before the date


def test_the_duckdb_engine_leaves_no_table_of_its_steps_behind(data):
    engine, definition = engine_named("duckdb"), InactivityChurn(horizon_days=14, active_window_days=30)
    spec = FeatureBuilder(windows=(30,), trend_windows=()).fit(data).spec_

    def tables():
        return sorted(name for (name,) in data.backend.sql(
            "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall())

    before = tables()
    frame = engine.compute(data, spec, definition, [dt.date(2024, 2, 10)], labels=False)
    assert list(frame["user_id"]) == [1, 2] and tables() == before
    with engine.materialised(data, spec, definition, [dt.date(2024, 2, 10)], labels=False) as table:
        assert tables() == sorted([*before, table.strip('"')])  # only the features, while they are streamed
        assert data.backend.fetchone(f"SELECT count(*) FROM {table}") == (2,)
    assert tables() == before
    with pytest.raises(RuntimeError, match="stopped"):
        with engine.materialised(data, spec, definition, [dt.date(2024, 2, 10)], labels=False):
            raise RuntimeError("stopped")
    assert tables() == before


def test_what_no_engine_holds_is_refused_with_the_loader_to_use():
    with pytest.raises(ConfigError, match=r"got an object of type 'DataFrame'\. Fix: load the tables with churnml\.load"):
        FeatureBuilder().fit(pd.DataFrame({"user_id": [1], "timestamp": [pd.Timestamp("2024-01-01")]}))
    with pytest.raises(ConfigError, match=r"no engine 'polars'; the engines are 'duckdb', 'spark'"):
        engine_named("polars")
    assert engine_names()[:2] == ["duckdb", "spark"]


class _OtherData:
    """Data of an engine registered by this test module (``ENGINE`` below)."""


class _OtherEngine:
    name, loader = "other", "tests.load_other"

    def handles(self, data):
        return isinstance(data, _OtherData)

    def event_types(self, data):
        return ["login"]

    def trainer_class(self):
        return ChurnTrainer


ENGINE = _OtherEngine()


def test_a_registered_engine_is_chosen_by_its_data_and_named_in_errors(monkeypatch, data):
    monkeypatch.setitem(_REGISTRY, "other", (__name__, __name__))
    assert engine_for(_OtherData()) is ENGINE and engine_for(data) is engine_named("duckdb")
    FeatureBuilder(engine="other")._validate_params()  # a registered name is a valid engine= value
    with pytest.raises(ConfigError, match=r"engine='duckdb'\) got data loaded for other\. Fix: load it with "
                                          r"churnml\.load, or pass engine='other'"):
        FeatureBuilder(engine="duckdb").fit(_OtherData())
    with pytest.raises(ConfigError, match=r"engine='other'\) got data loaded for duckdb\. Fix: load it with "
                                          r"tests\.load_other"):
        FeatureBuilder(engine="other").fit(data)
    from churnml.modeling._backtesting import backtest
    from churnml.reporting.analytics import churn_rate

    with pytest.raises(ConfigError, match=r"analytics\.churn_rate runs on data loaded by churnml\.load \(duckdb\); "
                                          r"this data was loaded for other"):
        churn_rate(_OtherData())
    with pytest.raises(ConfigError, match=r"backtest runs on data loaded by churnml\.load .* Spark one cutoff"):
        backtest(_OtherData(), cutoffs=[dt.date(2024, 3, 1)])


def test_register_engine_adds_to_the_registry(monkeypatch):
    monkeypatch.setattr("churnml.engines._base._REGISTRY", dict(_REGISTRY))
    register_engine("other", __name__, __name__)
    assert "other" in engine_names() and engine_named("other") is ENGINE


@pytest.mark.parametrize("levels, expected", [(["other"], ["other", None, "other"]),
                                              (["a", "other"], ["a", None, "other"])])
def test_levels_fixed_at_fit_even_when_none_was_seen(levels, expected):
    """A text attribute null at fit has no level: every later value is 'other' (the Spark copy guarded this,
    the DuckDB one emitted ``IN ()``; the piece is now one)."""
    engine = engine_named("duckdb")
    from churnml.engines.duckdb._compile import DUCKDB

    got = duckdb.sql(f"SELECT {levelled('v', levels, DUCKDB)} AS v FROM (VALUES ('a'), (NULL), ('b')) t(v)")
    assert [r[0] for r in got.fetchall()] == expected and engine.name == DUCKDB.name


def test_the_shared_pieces_differ_by_dialect_only_where_the_dialects_do():
    pytest.importorskip("pyspark")
    from churnml.engines.duckdb._compile import DUCKDB
    from churnml.engines.spark._compile import SPARK

    duck, spark = (islands_query("s", 3, ("end", "end_reason"), d) for d in (DUCKDB, SPARK))
    assert duck.replace('"end"', "`end`").replace("TIMESTAMP 'infinity'", "TIMESTAMP'9999-12-31 00:00:00'") \
        .replace("arg_max", "max_by") == spark
    churn = SubscriptionChurn(horizon_days=30)
    assert label_sql(churn, "g", "li_t", DUCKDB) == label_sql(churn, "w", "li_t", SPARK)
