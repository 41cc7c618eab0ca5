"""Every engine holds the same contract: the same rows loaded and counted, the same features as the pandas
reference, the same refusals of bad input. Each test runs once per engine (the ``engine`` fixture of
``conftest.py``: DuckDB always, Spark where Java is present) against an oracle that is no engine's output:
counts read from the raw files with pandas, :func:`reference.reference`, and the contract's rules.
``test_spark.py`` holds what only the Spark engine does (its trainer and scorer, its CLI path, its
training sets equal DuckDB's to 1e-9).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnml import AccountSource, EventSource, SubscriptionSource
from churnml.contract._definitions import InactivityChurn, SubscriptionChurn
from churnml.errors import (ChurnMLError, ConfigError, InvalidValueError, MixedTimezoneError, NullUserIdError,
                            OutlierTimestampError, TimestampParseError)
from churnml.features._dataset import build_dataset
from churnml.features._spec import FeatureBuilder

from reference import assert_same, reference


def _sources(product):
    return (EventSource(product["events"]), SubscriptionSource(product["subscriptions"]),
            AccountSource(product["accounts"]))


@pytest.fixture(scope="module")
def frames(small_product):
    out = {name: pd.read_parquet(path) for name, path in small_product.items()}
    out["accounts"]["signup_date"] = pd.to_datetime(out["accounts"]["signup_date"])
    return out


def test_the_load_counts_every_row_of_the_files(engine, small_product, frames):
    data = engine.load(*_sources(small_product))
    events = frames["events"]
    report = data.events.report
    assert (report.rows_read, report.rows_loaded, report.dropped) == (len(events), len(events), {})
    assert report.users == events["user_id"].nunique()
    assert (report.first, report.last) == (events["timestamp"].min(), events["timestamp"].max())
    for name, table in (("subscriptions", data.subscriptions), ("accounts", data.accounts)):
        assert table.report.rows_loaded == len(frames[name]), name
    loaded = engine.events(data)[["user_id", "timestamp"]].sort_values(["user_id", "timestamp"])
    raw = events[["user_id", "timestamp"]].sort_values(["user_id", "timestamp"])
    assert loaded.to_numpy().tolist() == raw.to_numpy().tolist()


@pytest.mark.parametrize("day", [dt.date(2024, 4, 15), dt.date(2024, 8, 1), dt.date(2024, 11, 20)])
def test_inactivity_training_rows_equal_the_pandas_reference(engine, small_product, frames, day):
    data = engine.load(*_sources(small_product))
    definition = InactivityChurn(horizon_days=30, active_window_days=30)
    builder = FeatureBuilder(activation_events=("core_action",), activation_days=7, engine=engine.name)
    training = build_dataset(data, definition, builder=builder.fit(data, observation_dates=[day]),
                             observation_dates=[day])
    expected = reference(frames["events"], day, builder.spec_, definition,
                         accounts=frames["accounts"], subscriptions=frames["subscriptions"])
    got = engine.frame(training)
    assert len(got) > 500
    assert_same(got, expected)


def test_subscription_training_rows_equal_the_pandas_reference(engine, small_product, frames):
    data = engine.load(*_sources(small_product))
    day = dt.date(2024, 9, 1)
    definition = SubscriptionChurn(horizon_days=30, gap_tolerance_days=3)
    builder = FeatureBuilder(windows=(7, 30), trend_windows=(30,), engine=engine.name)
    training = build_dataset(data, definition, builder=builder.fit(data, observation_dates=[day]),
                             observation_dates=[day])
    expected = reference(frames["events"], day, builder.spec_, definition,
                         accounts=frames["accounts"], subscriptions=frames["subscriptions"])
    got = engine.frame(training).drop(columns="churn_type")
    assert len(got) > 500
    assert_same(got, expected)


def test_the_engine_named_must_match_the_data(engine, tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": [1, 2], "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"])}).to_parquet(path)
    data = engine.load(EventSource(path))
    other = "duckdb" if engine.name == "spark" else "spark"
    with pytest.raises(ConfigError, match=f"engine='{other}'.*loaded for {engine.name}"):
        FeatureBuilder(engine=other).fit(data)


def test_loader_errors_name_column_count_and_example(engine, tmp_path):
    # (the filter is SQL of the engine: 'when' is a keyword of DuckDB's, so the column is 'seen' here)
    path = tmp_path / "events.parquet"
    pd.DataFrame({"user": [1, None, 2, None], "seen": ["2024-01-02", "2024-01-03", "yesterday", "2024-01-05"],
                  "kind": ["a", "b", "a", "a"]}).to_parquet(path)
    with pytest.raises(NullUserIdError, match=r"'user' \(user_id\).* null in 2 of 4 rows") as caught:
        engine.load(EventSource(path, user_id="user", timestamp="seen"))
    assert caught.value.others and "'yesterday'" in caught.value.others[0]  # both problems reported
    with pytest.raises(TimestampParseError, match=r"1 of 2 rows that do not parse.*'yesterday'"):
        engine.load(EventSource(path, user_id="user", timestamp="seen", where="user IS NOT NULL"))
    dropped = engine.load(EventSource(path, user_id="user", timestamp="seen", where="seen <> 'yesterday'",
                                      drop_null_user_ids=True))
    assert dropped.events.report.rows_loaded == 1
    assert dropped.events.report.dropped == {"where seen <> 'yesterday'": 1,
                                             "null user_id (drop_null_user_ids=True)": 2}


def test_text_timestamps_are_read_with_a_format(engine, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user,when,amount\n1,01/02/2024 10:30,3.5\n1,01/02/2024 10:30,3.5\n2,15/03/2024 08:00, \n")
    data = engine.load(EventSource(path, user_id="user", timestamp="when", value="amount",
                                   time_format="%d/%m/%Y %H:%M", duplicates="drop"))
    assert data.events.report.dropped == {"exact duplicate rows (duplicates='drop')": 1}
    got = engine.events(data)
    assert got["timestamp"].tolist() == [pd.Timestamp("2024-02-01 10:30"), pd.Timestamp("2024-03-15 08:00")]
    assert got["value"].iloc[0] == 3.5 and pd.isna(got["value"].iloc[1])  # blank reads as missing


BAD_CSV = {  # issue 17's load rules, the same on every engine (the judgement is churnml.contract's)
    "mixed zones": ("user_id,timestamp\n1,2024-03-30 23:30:00+01:00\n2,2024-03-31 03:30:00\n",
                    MixedTimezoneError, r"mixes 1 time-zone-aware timestamps"),
    "day/month": ("user_id,timestamp\n1,03/04/2024\n2,05/04/2024\n", TimestampParseError,
                  r"day and month order is ambiguous"),
    "blank id": ("user_id,timestamp\na,2024-01-01\n   ,2024-01-02\n", NullUserIdError, r"is null in 1 of 2 rows"),
    "inf value": ("user_id,timestamp,value\n1,2024-01-01,inf\n2,2024-01-02,1\n", InvalidValueError,
                  r"infinite, NaN or beyond"),
    "NaN value": ("user_id,timestamp,value\n1,2024-01-01,1\n2,2024-01-02,NaN\n3,2024-01-03,-1e16\n",
                  InvalidValueError, r"has 2 of 3 rows that are infinite, NaN or beyond"),
    "outlier": ("user_id,timestamp\n" + "".join(f"{i % 5},2024-{1 + i % 9:02d}-{1 + i % 27:02d}\n"
                                                 for i in range(300)) + "1,2262-01-01\n",
                OutlierTimestampError, r"1 of 301 rows far outside the bulk of the events"),
    "AM/PM": ("user_id,timestamp\n1,2024-01-06 05:41:16 PM\n2,2024-01-07 09:00:00\n", TimestampParseError,
              r"end in a word \(AM/PM"),
    "zone name": ("user_id,timestamp\n1,2024-01-06 05:41:16 EST\n2,2024-01-07 09:00:00\n", TimestampParseError,
                  r"end in a word"),
    "placeholder id": ("user_id,timestamp\na,2024-01-01\nNULL,2024-01-02\n", NullUserIdError,
                       r"is null in 1 of 2 rows"),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_bad_csv_inputs_are_refused_by_the_contracts_rule(engine, tmp_path, case):
    text, error, message = BAD_CSV[case]
    path = tmp_path / "events.csv"
    path.write_text(text)
    with pytest.raises(ChurnMLError, match=message) as caught:
        engine.load(EventSource(path))
    assert type(caught.value) is error


def test_csv_typing_rules_load_the_rows_the_contract_says(engine, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,timestamp,value\n1.0,2024-01-01,2\n1,2024-01-02,\n 2 ,2024-01-03,-1.5\n")
    data = engine.load(EventSource(path))
    report = data.events.report
    assert report.users == 2 and report.null_counts == {"value": 1}
    assert report.notes == ("user_id is text holding whole numbers: read as integer ids",
                            "value is missing in 1 rows (kept)",
                            "value is negative in 1 rows (kept: returns, refunds, cancellations)")
    assert engine.events(data)["user_id"].tolist() == [1, 1, 2]  # '1.0', '1' and ' 2 ' are whole ids
    zeros = tmp_path / "zeros.csv"
    zeros.write_text("user_id,timestamp\n007,2024-01-01\n7,2024-01-02\n")
    assert engine.load(EventSource(zeros)).events.report.users == 2  # a leading zero makes it a text id
    outliers = tmp_path / "outliers.csv"
    outliers.write_text(BAD_CSV["outlier"][0])
    assert engine.load(EventSource(outliers, outliers="drop")).events.report.dropped == \
        {"timestamp far outside the bulk of the events (outliers='drop')": 1}
