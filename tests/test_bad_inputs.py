"""Every bad input gets a rule or a clear error (issue 17): CSV typing, timestamps, ids, values, outliers,
dates outside the data, model files, configuration, output safety.

Each class of defect has a test that fails on the code before the rules existed; a property test mixes them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml._io import neutralise_formulas, write_table
from churnml.cli import main
from churnml.config import read_config
from churnml.contract._labelled import LabelledTableSource
from churnml.errors import (ChurnMLError, ConfigError, EmptySourceError, InvalidValueError, LabelError,
                            MixedTimezoneError, ModelFileError, NoEligibleUsersError, NonNumericValueError,
                            NullUserIdError, OutlierTimestampError, SchemaError, SourceFormatError, TimestampParseError)


def csv(tmp_path, text: str, name: str = "events.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def days(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``churnml ARGS`` through the console entry point: exit code, stdout, stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----------------------------------------------------------------- 1. CSV timestamps are typed by churnml


def test_csv_mixing_aware_and_naive_text_is_refused_whatever_the_machine_zone(tmp_path, monkeypatch):
    path = csv(tmp_path, "user_id,timestamp\n1,2024-03-30 23:30:00+01:00\n2,2024-03-31 03:30:00\n")
    for zone in ("UTC", "America/New_York"):
        monkeypatch.setenv("TZ", zone)
        with pytest.raises(MixedTimezoneError, match=r"mixes 1 time-zone-aware timestamps .* with 1 naive"):
            EventSource(path).load()


def test_csv_all_aware_text_is_converted_to_utc(tmp_path):
    path = csv(tmp_path, "user_id,timestamp\n1,2024-03-30 23:30:00+01:00\n2,2024-03-31 03:30:00+02:00\n")
    loaded = EventSource(path).load()
    assert loaded.to_pandas()["timestamp"].tolist() == list(days("2024-03-30 22:30", "2024-03-31 01:30"))
    assert any("UTC offsets: converted to UTC" in note for note in loaded.report.notes)


@pytest.mark.parametrize("text", ["03/04/2024", "03/04/2024 10:00", "03.04.24"])
def test_csv_day_month_order_is_never_guessed(tmp_path, text):
    path = csv(tmp_path, f"user_id,timestamp\n1,{text}\n2,{text}\n")
    with pytest.raises(TimestampParseError, match=r"day and month order is ambiguous, e.g. '03.*time_format="):
        EventSource(path).load()


@pytest.mark.parametrize(("time_format", "expected"), [("%d/%m/%Y", "2024-04-03"), ("%m/%d/%Y", "2024-03-04")])
def test_csv_time_format_is_honoured(tmp_path, time_format, expected):
    path = csv(tmp_path, "user_id,timestamp\n1,03/04/2024\n2,13/04/2024\n" if time_format == "%d/%m/%Y"
               else "user_id,timestamp\n1,03/04/2024\n2,04/13/2024\n")
    frame = EventSource(path, time_format=time_format).load().to_pandas()
    assert frame["timestamp"].iloc[0] == pd.Timestamp(expected)


# ----------------------------------------------------------------- 2 and 8. ids


def test_csv_whole_number_ids_are_one_canonical_rule(tmp_path):
    path = csv(tmp_path, "user_id,timestamp\n1.0,2024-01-01\n1,2024-01-02\n 2 ,2024-01-03\n")
    loaded = EventSource(path).load()
    assert loaded.report.users == 2
    assert loaded.to_pandas()["user_id"].tolist() == [1, 1, 2]
    frame = EventSource(pd.DataFrame({"user_id": [1.0, 1.0, 2.0], "timestamp": days("2024-01-01", "2024-01-02",
                                                                                    "2024-01-03")})).load()
    assert frame.report.users == loaded.report.users


@pytest.mark.parametrize("make", [
    lambda tmp_path: csv(tmp_path, "user_id,timestamp\na,2024-01-01\n   ,2024-01-02\n"),
    lambda tmp_path: pd.DataFrame({"user_id": ["a", "   "], "timestamp": days("2024-01-01", "2024-01-02")}),
    lambda tmp_path: pd.DataFrame({"user_id": ["a", "\t"], "timestamp": days("2024-01-01", "2024-01-02")}),
])
def test_whitespace_only_ids_are_null_ids(tmp_path, make):
    data = make(tmp_path)
    with pytest.raises(NullUserIdError, match=r"is null in 1 of 2 rows"):
        EventSource(data).load()
    loaded = EventSource(data, drop_null_user_ids=True).load()
    assert loaded.report.dropped == {"null user_id (drop_null_user_ids=True)": 1}
    assert loaded.report.rows_loaded == 1


@pytest.mark.parametrize("make", [
    lambda tmp_path: csv(tmp_path, "user_id,timestamp\n99999999999999999999,2024-01-01\n1,2024-01-02\n"),
    lambda tmp_path: pd.DataFrame({"user_id": np.array([2**63 + 5, 1], dtype="uint64"),
                                   "timestamp": days("2024-01-01", "2024-01-02")}),
])
def test_ids_beyond_int64_are_read_as_text(tmp_path, make):
    loaded = EventSource(make(tmp_path)).load()
    ids = sorted(loaded.to_pandas()["user_id"].tolist())
    assert ids[0] == "1" and ids[1] in ("99999999999999999999", str(2**63 + 5))
    assert any("text ids" in note for note in loaded.report.notes)


def test_float_ids_beyond_exact_floats_are_refused():
    data = pd.DataFrame({"user_id": [1e19, 1.0], "timestamp": days("2024-01-01", "2024-01-02")})
    with pytest.raises(InvalidValueError, match=r"ids beyond 2\*\*53 .* lost their last digits"):
        EventSource(data).load()


# ----------------------------------------------------------------- 3. values


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "NaN", "1e308", "-Infinity"])
def test_non_finite_or_huge_values_are_refused_from_csv(tmp_path, bad):
    path = csv(tmp_path, f"user_id,timestamp,value\n1,2024-01-01,2.5\n2,2024-01-02,{bad}\n")
    with pytest.raises(InvalidValueError, match=r"has 1 of 2 rows that are infinite, NaN or beyond 1e\+15"):
        EventSource(path).load()


@pytest.mark.parametrize("bad", [math.inf, -math.inf, 1e308])
def test_non_finite_or_huge_values_are_refused_from_frames(bad):
    data = pd.DataFrame({"user_id": [1, 2], "timestamp": days("2024-01-01", "2024-01-02"), "value": [1.0, bad]})
    with pytest.raises(InvalidValueError, match=r"Column 'value' .* 1 of 2 rows .* e.g. "):
        EventSource(data).load()


@pytest.mark.parametrize(("mrr", "message"), [
    (math.inf, r"Column 'mrr' .* infinite, NaN or beyond"),
    (-10.0, r"Column 'mrr' .* is negative in 1 of 2 rows, e.g. -10.0"),
])
def test_bad_mrr_is_refused(mrr, message):
    subs = pd.DataFrame({"user_id": [1, 2], "start": days("2024-01-01", "2024-01-02"), "mrr": [20.0, mrr]})
    with pytest.raises(InvalidValueError, match=message):
        SubscriptionSource(subs).load()


def test_negative_event_values_stay_allowed():
    data = pd.DataFrame({"user_id": [1, 2], "timestamp": days("2024-01-01", "2024-01-02"), "value": [1.0, -3.0]})
    assert any("negative in 1 rows" in note for note in EventSource(data).load().report.notes)


# ----------------------------------------------------------------- 4. outlier timestamps


def _log(n: int = 400) -> list[str]:
    start = dt.datetime(2024, 1, 1)
    return [(start + dt.timedelta(hours=13 * i)).isoformat(sep=" ") for i in range(n)]


@pytest.mark.parametrize("stray", ["2262-01-01 00:00:00", "0001-01-01 00:00:00", "1900-06-01 00:00:00"])
def test_stray_timestamps_are_refused_dropped_or_kept(tmp_path, stray):
    stamps = [*_log(), stray]
    path = csv(tmp_path, "user_id,timestamp\n" + "".join(f"{i % 7},{t}\n" for i, t in enumerate(stamps)))
    with pytest.raises(OutlierTimestampError,
                       match=rf"1 of 401 rows far outside the bulk of the events .*e.g. '{stray[:4]}.*outliers='drop'"):
        EventSource(path).load()
    dropped = EventSource(path, outliers="drop").load()
    assert dropped.report.dropped == {"timestamp far outside the bulk of the events (outliers='drop')": 1}
    assert dropped.report.rows_loaded == 400 and dropped.report.last.year == 2024 and dropped.report.first.year == 2024
    kept = EventSource(path, outliers="keep").load()
    assert kept.report.rows_loaded == 401 and any("kept (outliers='keep')" in n for n in kept.report.notes)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 250), st.integers(0, 3 * 365), st.integers(0, 2**32 - 1),
       st.lists(st.integers(-1500, 2500), max_size=3))
def test_the_outlier_rule_drops_what_the_quantiles_say(n, spread, seed, far):
    # The rule written plainly over every row: [p01 - width, p99 + width], width = max(p99 - p01, 365 days),
    # the quantiles those of DuckDB's quantile_disc. The load skips the quantiles within a year; the drops match.
    hours = np.random.default_rng(seed).integers(0, spread * 24 + 1, n)
    stamps = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta([*hours, *(np.array(far) * 24)], unit="h"))
    data = pd.DataFrame({"user_id": range(len(stamps)), "timestamp": stamps})
    micros = np.sort(stamps.to_numpy().astype("datetime64[us]").astype(np.int64))
    p01, p99 = (micros[max(math.ceil(q * len(micros)) - 1, 0)] for q in (0.01, 0.99))  # quantile_disc's pick
    width = max(p99 - p01, 365 * 86_400_000_000)
    outside = int(((micros < p01 - width) | (micros > p99 + width)).sum())
    report = EventSource(data, outliers="drop").load().report
    assert sum(report.dropped.values()) == outside
    assert report.rows_loaded == len(stamps) - outside


def test_an_even_spread_of_years_is_not_an_outlier():
    stamps = pd.to_datetime([f"{year}-06-01" for year in range(2000, 2025)])
    EventSource(pd.DataFrame({"user_id": range(25), "timestamp": stamps})).load()


def test_subscriptions_starting_far_outside_their_bulk_are_outliers():
    events = pd.DataFrame({"user_id": [1, 2, 1], "timestamp": days("2024-01-01", "2024-02-01", "2024-03-01")})
    starts = [*pd.date_range("2024-01-01", periods=200, freq="D"), pd.Timestamp("2262-01-01")]
    subs = pd.DataFrame({"user_id": range(201), "start": starts, "end": [pd.NaT] * 201})
    with pytest.raises(OutlierTimestampError, match=r"'start' .* 1 of 201 rows far outside the bulk of the "
                                                    r"subscriptions .*e.g. '2262-01-01"):
        load(EventSource(events), SubscriptionSource(subs))
    data = load(EventSource(events), SubscriptionSource(subs, outliers="drop"))
    assert data.subscriptions.report.dropped == {"start far outside the bulk of the subscriptions (outliers='drop')": 1}
    # a log cut at a date, with the subscriptions that started since: counted, never refused
    assert any(note.startswith("start has 138 of 200 rows starting more than a day after the last event "
                               "(2024-03-01 00:00), e.g. '2024-07-18") for note in data.subscriptions.report.notes)


# ----------------------------------------------------------------- 5. dates outside the data


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    from churnml.generator import GeneratorConfig, generate

    return generate(tmp_path_factory.mktemp("product"), GeneratorConfig(users=300, days=240, seed=3, chunk_size=300))


@pytest.fixture(scope="module")
def event_model(product):
    from churnml.contract._definitions import InactivityChurn
    from churnml.features._dataset import build_dataset
    from churnml.features._spec import FeatureBuilder
    from churnml.modeling._trainer import ChurnTrainer

    data = load(EventSource(product["events"]), SubscriptionSource(product["subscriptions"]),
                AccountSource(product["accounts"]))
    training = build_dataset(data, InactivityChurn(horizon_days=30, active_window_days=30), step_days=7,
                             builder=FeatureBuilder(windows=(7, 30), trend_windows=()))
    return ChurnTrainer(n_estimators=20).fit(training).model_, data


def test_dataset_dates_before_any_event_are_an_error(product, event_model):
    from churnml.features._dataset import build_dataset

    _, data = event_model
    with pytest.raises(NoEligibleUsersError, match=r"No user is eligible at the observation date\(s\) 2020-01-01.*"
                                                   r"the events span 2024-01-01 \.\. .*eligible at a date when"):
        build_dataset(data, observation_dates=["2020-01-01"])


def test_score_long_after_the_last_event_is_an_error(event_model):
    from churnml.scoring._scoring import score

    model, data = event_model
    with pytest.raises(NoEligibleUsersError, match=r"No user is eligible at as_of 2030-01-01.*the events span"):
        score(model, data, as_of="2030-01-01")


def test_features_as_of_before_any_event_is_an_error_on_the_command_line(product, tmp_path, capsys):
    code, _, err = run_cli(capsys, "features", "--events", str(product["events"]), "--as-of", "2020-01-01",
                           "--out", str(tmp_path / "f.parquet"))
    assert code == 1 and err.startswith("error: No user is eligible at --as-of 2020-01-01")
    assert not (tmp_path / "f.parquet").exists()


# ----------------------------------------------------------------- 6. events before signup


def test_events_before_signup_are_counted_with_the_rule():
    events = pd.DataFrame({"user_id": [1, 1, 2], "timestamp": days("2024-01-01", "2024-02-01", "2024-01-05")})
    accounts = pd.DataFrame({"user_id": [1, 2], "signup_date": days("2024-01-15", "2024-01-01")})
    data = load(EventSource(events), accounts=AccountSource(accounts))
    assert any(note.startswith("1 events of 1 users are before the user's signup_date") and "eligible" in note
               for note in data.events.report.notes)


# ----------------------------------------------------------------- 7 and 12. model files


@pytest.fixture(scope="module")
def table_model():
    from churnml.modeling._trainer import ChurnTrainer

    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-X["a"]))).astype(int)
    dates = np.repeat(pd.date_range("2024-01-01", periods=6, freq="MS"), n // 6)
    return ChurnTrainer(n_estimators=20, calibration="platt").fit(X, y, observation_dates=dates).model_


def _rehashed(folder, name, change):
    path = folder / name
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(("name", "change", "message"), [
    ("calibrator.json", lambda d: d.update(slope=float("nan")), r"calibrator.json: the field 'slope' must be a finite"),
    ("calibrator.json", lambda d: d.update(intercept=float("inf")), r"calibrator.json: the field 'intercept' must"),
    ("calibrator.json", lambda d: d.pop("intercept"), r"calibrator.json lacks the field 'intercept'"),
    ("calibrator.json", lambda d: d.update(slope="1"), r"calibrator.json: the field 'slope' must be a finite"),
    ("calibrator.json", lambda d: d.clear() or d.update(method="isotonic", x=[0.1, 0.5], y=[0.2, float("nan")]),
     r"calibrator.json: the field 'y' must be a list of finite numbers"),
    ("features.json", lambda d: d["columns"].reverse(),
     r"features.json field 'columns' does not match booster.ubj's feature names: the same names in another order"),
    ("features.json", lambda d: d["columns"][0].update(name="zz"),
     r"features.json field 'columns' does not match booster.ubj's feature names: other names"),
])
def test_rehashed_model_files_with_bad_fields_are_refused(table_model, tmp_path, name, change, message):
    from churnml.modeling._model import load_model

    folder = table_model.save(tmp_path / "model")
    _rehashed(folder, name, change)
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


def test_a_failed_scoring_run_reports_its_own_cause_not_a_connection_error(event_model, monkeypatch):
    """The memory limit is restored on the way out; a failure there (an open result) must not hide the cause."""
    from churnml.scoring import _scoring as scoring

    model, data = event_model

    def broken(*args, **kwargs):
        raise RuntimeError("the real cause")

    monkeypatch.setattr(scoring, "_score_columns", broken)
    with pytest.raises(RuntimeError, match="the real cause"):
        scoring.score(model, data, batch_rows=50)


# ----------------------------------------------------------------- 9 and 13. file bytes


@pytest.mark.parametrize(("write", "error", "message"), [
    (lambda p: p.write_bytes(b""), EmptySourceError, r"is empty \(0 bytes\)"),
    (lambda p: p.write_bytes("user_id,timestamp,event_type\n1,2024-01-01,caf\xe9\n".encode("latin-1")),
     SourceFormatError, r"is not UTF-8 text at byte \d+ .*iconv -f latin1 -t utf-8"),
    (lambda p: p.write_bytes(gzip.compress(b"user_id,timestamp\n1,2024-01-01\n")), SourceFormatError,
     r"is gzip-compressed but named as plain CSV\. Fix: rename it to 'events.csv.gz'"),
    (lambda p: pd.DataFrame({"user_id": [1]}).to_parquet(p), SourceFormatError, r"is a Parquet file named as CSV"),
    (lambda p: p.write_bytes(b"PK\x03\x04rest of a zip"), SourceFormatError, r"is a zip archive"),
])
def test_files_that_are_not_utf8_csv_say_what_they_are(tmp_path, write, error, message):
    path = tmp_path / "events.csv"
    write(path)
    with pytest.raises(error, match=message):
        EventSource(path).load()


def test_a_latin1_byte_past_the_probe_is_still_named(tmp_path):
    path = tmp_path / "events.csv"
    rows = "".join(f"{i},2024-01-01,login\n" for i in range(70_000))  # over 1 MiB before the bad byte
    path.write_bytes(("user_id,timestamp,event_type\n" + rows).encode() + "1,2024-01-02,caf\xe9\n".encode("latin-1"))
    with pytest.raises(SourceFormatError, match=r"is not UTF-8 text; churnml reads CSV as UTF-8"):
        EventSource(path).load()


def test_a_header_only_csv_has_no_rows(tmp_path):
    with pytest.raises(EmptySourceError, match=r"has no rows"):
        EventSource(csv(tmp_path, "user_id,timestamp\n")).load()


# ----------------------------------------------------------------- 10 and 11. configuration


@pytest.mark.parametrize(("text", "message"), [
    ('[events]\npath = ["a.csv", "b.csv"]\n', r"\[events\] path .* must be a string \(a file path\)\. Got a list"),
    ("[events]\npath = 3\n", r"\[events\] path .* must be a string \(a file path\)\. Got an integer \(3\)"),
    ('[events]\npath = "e.csv"\nuser_id = 7\n', r"\[events\] user_id .* must be a string"),
    ('[events]\npath = "e.csv"\ndrop_null_user_ids = "yes"\n', r"\[events\] drop_null_user_ids .* true or false"),
    ('[churn]\nhorizon_days = "30"\n', r"\[churn\] horizon_days .* must be an integer\. Got a string \('30'\)"),
    ("[features]\nwindows = 30\n", r"\[features\] windows .* must be a list of integers"),
    ('events = "e.csv"\n', r"events in .* must be a table \(\[events\]\)"),
])
def test_config_values_of_the_wrong_type_name_the_key(tmp_path, text, message):
    (tmp_path / "churnml.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(tmp_path / "churnml.toml")


@pytest.mark.parametrize("limit", ["lots", "2 gigabytes", "-1GB", "", "1000", "5PB", "1B"])
def test_a_memory_limit_duckdb_cannot_read_is_a_config_error(event_model, limit):
    from churnml.scoring._scoring import score

    model, data = event_model
    with pytest.raises(ConfigError, match=r"memory limit .* must be (a size such as '2GB'|at least 64MiB)"):
        score(model, data, memory_limit=limit)


def test_memory_limit_on_the_command_line(product, tmp_path, capsys):
    code, _, err = run_cli(capsys, "score", "--model", str(tmp_path / "nowhere"), "--events", str(product["events"]),
                           "--memory-limit", "lots", "--out", str(tmp_path / "s.csv"))
    assert code == 1 and err.startswith("error: The memory limit (--memory-limit, memory_limit=) must be a size")


# ----------------------------------------------------------------- 14. labels


def test_label_values_the_loader_cannot_map_are_listed_without_a_guess():
    data = pd.DataFrame({"x": [1, 2, 3, 4], "churn": ["1", "0", "2", "0"]})
    with pytest.raises(LabelError, match=r"\['0', '1', '2'\] \(3 values: '0' \(2 rows\), '1' \(1 rows\), "
                                         r"'2' \(1 rows\)\)\. Fix: a label has two values") as caught:
        LabelledTableSource(data, label="churn").load()
    assert "positive='0'" not in str(caught.value)


def test_validate_and_train_take_positive(tmp_path, capsys):
    path = csv(tmp_path, "id,x,status\n1,3,gone\n2,4,stayed\n3,5,stayed\n", name="table.csv")
    code, _, err = run_cli(capsys, "validate", "--table", str(path), "--label", "status")
    assert code == 1 and "--positive on the command line" in err
    code, out, _ = run_cli(capsys, "validate", "--table", str(path), "--label", "status", "--positive", "gone")
    assert code == 0 and "1 churned of 3" in out
    code, out, _ = run_cli(capsys, "train", "--help")
    assert "--positive" in out


# ----------------------------------------------------------------- 15 and 16. shapes of sources


@pytest.mark.parametrize("empty", [[None, None], [pd.NaT, pd.NaT], [np.nan, np.nan]])
def test_an_entirely_empty_end_means_every_subscription_is_running(empty):
    subs = pd.DataFrame({"user_id": [1, 2], "start": days("2024-01-01", "2024-01-02"), "end": empty})
    loaded = SubscriptionSource(subs).load()
    assert loaded.report.rows_loaded == 2 and loaded.to_pandas()["end"].isna().all()


def test_a_timestamp_column_of_numbers_is_still_refused():
    subs = pd.DataFrame({"user_id": [1, 2], "start": days("2024-01-01", "2024-01-02"), "end": [1.0, None]})
    with pytest.raises(TimestampParseError, match=r"has type DOUBLE, which is not a timestamp"):
        SubscriptionSource(subs).load()


@pytest.mark.parametrize(("second", "message"), [
    (lambda f: f.rename(columns={"timestamp": "ts"}), r"part '.*b\.parquet' does not match .*lacks 'timestamp'; "
                                                      r"has extra 'ts'"),
    (lambda f: f.assign(timestamp=f["timestamp"].astype(str)), r"'timestamp' is text where it is timestamp"),
])
def test_parquet_parts_with_other_schemas_are_named(tmp_path, second, message):
    folder = tmp_path / "parts"
    folder.mkdir()
    frame = pd.DataFrame({"user_id": [1, 2], "timestamp": days("2024-01-01", "2024-01-02")})
    frame.to_parquet(folder / "a.parquet")
    second(frame).to_parquet(folder / "b.parquet")
    with pytest.raises(SchemaError, match=message):
        EventSource(folder).load()


# ----------------------------------------------------------------- 17. CSV formula neutralisation


def test_csv_outputs_neutralise_formulas_and_parquet_keeps_exact_values(tmp_path):
    frame = pd.DataFrame({"user_id": ["=HYPERLINK(\"x\")", "+1", "-2", "@a", "plain"],
                          "event_type": pd.Categorical(["=cmd", "a", "b", "c", "d"]),
                          "value": [-1.5, 2.0, -3.0, 4.0, 5.0], "count": [-1, 2, 3, 4, 5]})
    write_table(frame, tmp_path / "out.csv")
    back = pd.read_csv(tmp_path / "out.csv")
    assert back["user_id"].tolist() == ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@a", "plain"]
    assert back["event_type"].tolist()[0] == "'=cmd"
    assert back["value"].tolist() == [-1.5, 2.0, -3.0, 4.0, 5.0] and back["count"].tolist() == [-1, 2, 3, 4, 5]
    write_table(frame, tmp_path / "out.parquet")
    assert pd.read_parquet(tmp_path / "out.parquet")["user_id"].tolist() == frame["user_id"].tolist()
    assert neutralise_formulas(frame.head(0)).columns.tolist() == frame.columns.tolist()


def test_scores_csv_neutralises_formula_ids(product, tmp_path):
    from churnml.contract._definitions import InactivityChurn
    from churnml.features._dataset import build_dataset
    from churnml.features._spec import FeatureBuilder
    from churnml.modeling._trainer import ChurnTrainer
    from churnml.scoring._scoring import write_scores

    events = pd.read_parquet(product["events"])
    events["user_id"] = np.where(events["user_id"] % 2 == 0, "=" + events["user_id"].astype(str),
                                 "-" + events["user_id"].astype(str))
    data = load(EventSource(events))
    training = build_dataset(data, InactivityChurn(horizon_days=30, active_window_days=30), step_days=7,
                             builder=FeatureBuilder(windows=(7, 30), trend_windows=()))
    model = ChurnTrainer(n_estimators=10).fit(training).model_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_scores(model, data, tmp_path / "scores.csv", reasons="none")
        write_scores(model, data, tmp_path / "scores.parquet", reasons="none")
    ids = pd.read_csv(tmp_path / "scores.csv")["user_id"]
    assert ids.str.startswith(("'=", "'-")).all()
    exact = pd.read_parquet(tmp_path / "scores.parquet")["user_id"]
    assert exact.str.startswith(("=", "-")).all()
    assert sorted(ids.str[1:]) == sorted(exact)
    assert (pd.read_csv(tmp_path / "scores.csv")["churn_probability"] >= 0).all()


# ----------------------------------------------------------------- errors on the command line


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty (0 bytes)"),
    (gzip.compress(b"user_id,timestamp\n1,2024-01-01\n"), "is gzip-compressed"),
    (b"user_id,timestamp\n1,03/04/2024\n", "day and month order is ambiguous"),
    (b"user_id,timestamp,value\n1,2024-01-01,inf\n2,2024-01-02,1.5\n", "infinite, NaN or beyond"),
], ids=["empty", "gzip", "day-month", "inf"])
def test_bad_inputs_are_one_line_on_stderr_with_exit_code_1(tmp_path, capsys, content, message):
    (tmp_path / "events.csv").write_bytes(content)
    code, _, err = run_cli(capsys, "validate", "--events", str(tmp_path / "events.csv"))
    assert code == 1 and err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "unexpected error" not in err


# ----------------------------------------------------------------- the property: every row accounted for


IDS = st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["1.0", "2.0", "  ", "", "a", "=b", "-3",
                                                              "99999999999999999999", "1e3"]))
STAMPS = st.sampled_from(["2024-01-01 10:00", "2024-02-03", "2024-03-30 23:30:00+01:00", "2024-03-31 03:30:00",
                          "03/04/2024", "", "2262-01-01", "0001-01-01", "yesterday", "2024-02-30"])
VALUES = st.sampled_from(["1.5", "-2", "", "inf", "-inf", "nan", "1e308", "abc", "0", "12"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(IDS, STAMPS, VALUES), min_size=0, max_size=12),
       as_csv=st.booleans(), drop_null=st.booleans(), outliers=st.sampled_from(["error", "drop", "keep"]),
       duplicates=st.sampled_from(["keep", "drop"]), bulk=st.integers(0, 30))
def test_every_mixture_of_defects_is_an_error_or_fully_counted(tmp_path, rows, as_csv, drop_null, outliers,
                                                               duplicates, bulk):
    rows = [(str(i % 4), f"2024-01-{1 + i % 28:02d} 12:00", "1") for i in range(bulk)] + rows
    if as_csv:
        path = tmp_path / "events.csv"
        text = "user_id,timestamp,value\n" + "".join(f'"{u}","{t}","{v}"\n' for u, t, v in rows)
        path.write_text(text)
        data = path
    else:
        data = pd.DataFrame(rows, columns=["user_id", "timestamp", "value"], dtype=object)
    source = EventSource(data, value="value", drop_null_user_ids=drop_null, outliers=outliers,
                         duplicates=duplicates)
    try:
        loaded = source.load()
    except ChurnMLError:
        return
    report = loaded.report
    assert report.rows_read == len(rows)
    assert report.rows_read - sum(report.dropped.values()) == report.rows_loaded
    frame = loaded.to_pandas()
    assert len(frame) == report.rows_loaded
    assert frame["user_id"].notna().all() and frame["timestamp"].notna().all()
    assert int(frame["value"].isna().sum()) == report.null_counts.get("value", 0)
    finite = frame["value"].dropna()
    assert np.isfinite(finite.astype(float)).all() and (finite.abs() <= 1e15).all()
    if outliers == "drop":  # whatever the quantile rule found is counted, never an error
        assert all(reason.endswith("(outliers='drop')") or reason.startswith(("null", "exact"))
                   for reason in report.dropped)


# ----------------------------------------------------------------- further bad inputs of the same kinds


@pytest.mark.parametrize(("name", "content", "source", "error", "message"), [
    ("utf16.csv", "user_id,timestamp\n1,2024-01-01\n".encode("utf-16"), EventSource, SourceFormatError,
     r"is UTF-16 text .*iconv -f utf-16 -t utf-8"),
    ("yymmdd.csv", b"user_id,timestamp\n1,24-01-05\n", EventSource, TimestampParseError,
     r"day and month order is ambiguous, e.g. '24-01-05'"),
    ("epoch.csv", b"user_id,timestamp\n1,1704067200\n", EventSource, TimestampParseError,
     r"1 of them are only digits: if they are epoch seconds, map timestamp='to_timestamp"),
    ("book.csv", b"PK\x03\x04\x14\x00\x06\x00", EventSource, SourceFormatError, r"is a zip archive \(or an Excel"),
    ("comma.csv", b"user_id;timestamp;value\n1;2024-01-01;1,5\n", EventSource, NonNumericValueError,
     r"rows that are not numbers, e.g. '1,5'"),
    ("total.csv", b"user_id,timestamp,value\n1,2024-01-01,3\nTotal,,3\n", EventSource, TimestampParseError,
     r"is empty in 1 of 2 rows"),
    ("mrr.csv", b"user_id,start,mrr\n1,2024-01-01,$49\n", SubscriptionSource, NonNumericValueError,
     r"Column 'mrr' .* not numbers, e.g. '\$49'"),
    ("labels.csv", "id,x,Churn\n1,caf\xe9,Yes\n2,b,No\n".encode("latin-1"), LabelledTableSource, SourceFormatError,
     r"is not UTF-8 text"),
    ("labels0.csv", b"", LabelledTableSource, EmptySourceError, r"is empty \(0 bytes\)"),
    ("named.parquet", b"user_id,timestamp\n1,2024-01-01\n", EventSource, SourceFormatError,
     r"is named as Parquet but is not a Parquet file"),
    ("fake.csv.gz", b"user_id,timestamp\n1,2024-01-01\n", EventSource, SourceFormatError,
     r"is named .gz but is not gzip-compressed"),
], ids=["utf16", "yy-mm-dd", "epoch-text", "xlsx", "decimal-comma", "total-row", "currency", "latin1-labelled",
        "empty-labelled", "csv-as-parquet", "plain-as-gz"])
def test_further_bad_inputs(tmp_path, name, content, source, error, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        if source is LabelledTableSource:
            source(path, label="Churn").load()
        else:
            source(path).load()


def test_further_inputs_with_a_rule(tmp_path):
    # ids with leading zeros are text: '007' and '7' are two users
    lz = EventSource(csv(tmp_path, "user_id,timestamp\n007,2024-01-01\n7,2024-01-02\n")).load()
    assert lz.report.users == 2 and sorted(lz.to_pandas()["user_id"]) == ["007", "7"]
    # a byte-order mark before the header, CRLF line ends and a gzip file named .csv.gz read as usual
    bom = EventSource(csv(tmp_path, "\ufeffuser_id,timestamp\r\n1,2024-01-01\r\n", name="bom.csv")).load()
    assert bom.to_pandas()["user_id"].tolist() == [1]
    (tmp_path / "ok.csv.gz").write_bytes(gzip.compress(b"user_id,timestamp\n1,2024-01-01\n"))
    assert EventSource(tmp_path / "ok.csv.gz").load().report.rows_loaded == 1
    # non-breaking spaces and categorical blanks are null ids
    for ids in (["a", "\u00a0"], pd.Categorical(["a", " "])):
        with pytest.raises(NullUserIdError, match=r"null in 1 of 2 rows"):
            EventSource(pd.DataFrame({"user_id": ids, "timestamp": days("2024-01-01", "2024-01-02")})).load()
    # a misspelt policy is a ConfigError
    with pytest.raises(ConfigError, match=r"'outliers' parameter of EventSource must be one of"):
        EventSource(pd.DataFrame({"user_id": [1], "timestamp": days("2024-01-01")}), outliers="dorp").load()
    # every event at one instant: no outlier
    EventSource(pd.DataFrame({"user_id": range(50), "timestamp": days(*["2024-01-01"] * 50)})).load()


def test_several_problems_are_still_one_line_on_stderr(tmp_path, capsys):
    path = csv(tmp_path, "user_id,timestamp,value\n,2024-01-01,1\n2,yesterday,inf\n")
    code, _, err = run_cli(capsys, "validate", "--events", str(path))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "is null in 1 of 2 rows" in err and "Also found: - " in err and "'yesterday'" in err and "e.g. inf" in err


def test_csv_columns_outside_the_mapping_keep_their_types(tmp_path):
    """Only id, timestamp and text columns mapped by name are read as text; numbers, expressions and
    attributes see DuckDB's types."""
    events = csv(tmp_path, "user,when,qty,price\n1,2024-01-01,2,1.5\n2,2024-01-02,-1,3\n")
    loaded = EventSource(events, user_id="user", timestamp="when", value="qty * price", where="qty > -5").load()
    assert loaded.to_pandas()["value"].tolist() == [3.0, -3.0]
    amounts = EventSource(events, user_id="user", timestamp="when", value="qty", where="qty > 0").load()
    assert amounts.report.dropped == {"where qty > 0": 1}
    accounts = csv(tmp_path, "user_id,signup_date,seats,plan\n1,2024-01-01,5,pro\n2,2024-01-02,12,basic\n",
                   name="accounts.csv")
    frame = AccountSource(accounts).load().to_pandas()
    assert frame["seats"].dtype.kind == "i" and frame["signup_date"].dtype.kind == "M"


# ----------------------------------------------------------------- found by a later round of bad inputs


@pytest.mark.parametrize("suffix", ["PM", "AM", "EST", "Europe/Berlin", "GMT"])
def test_timestamps_ending_in_a_word_are_refused_not_misread(tmp_path, suffix):
    # DuckDB drops a trailing AM/PM or zone name without a sign: 05:41 PM would load as 05:41.
    path = tmp_path / "events.csv"
    path.write_text("user_id,timestamp\n1,2024-01-06 05:41:16 " + suffix + "\n2,2024-01-07 09:00:00\n")
    with pytest.raises(TimestampParseError, match=r"1 of them end in a word \(AM/PM"):
        EventSource(path).load()


def test_twelve_hour_clock_reads_with_time_format(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,timestamp\n1,2024-01-06 05:41:16 PM\n2,2024-01-06 12:10:00 AM\n")
    events = EventSource(path, time_format="%Y-%m-%d %I:%M:%S %p").load().to_pandas().sort_values("user_id")
    assert list(events["timestamp"]) == [pd.Timestamp("2024-01-06 17:41:16"), pd.Timestamp("2024-01-06 00:10:00")]


@pytest.mark.parametrize("placeholder", ["NULL", "None", "nan", "N/A", "#N/A", "nil", "undefined", " null "])
def test_placeholder_text_ids_are_null_ids(tmp_path, placeholder):
    path = tmp_path / "events.csv"
    path.write_text(f"user_id,timestamp\nu1,2024-01-01 10:00:00\n{placeholder},2024-01-02 10:00:00\n"
                    "u2,2024-01-03 10:00:00\n")
    with pytest.raises(NullUserIdError, match="1 of 3"):
        EventSource(path).load()
    loaded = EventSource(path, drop_null_user_ids=True).load()
    assert loaded.report.rows_loaded == 2 and sum(loaded.report.dropped.values()) == 1
    # a real id that merely contains such a word is kept
    kept = tmp_path / "kept.csv"
    kept.write_text("user_id,timestamp\nnull_island,2024-01-01 10:00:00\nnonexistent,2024-01-02 10:00:00\n")
    assert EventSource(kept).load().report.rows_loaded == 2


@pytest.mark.parametrize("ids", [[[1], [2]], [{"id": 1}, {"id": 2}]], ids=["list", "struct"])
def test_nested_ids_are_refused_not_stringified(ids):
    from churnml.errors import SchemaError

    frame = pd.DataFrame({"user_id": ids, "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    with pytest.raises(SchemaError, match=r"not a number or text.*Fix: map user_id to one element"):
        EventSource(frame).load()


def test_features_json_with_an_unknown_top_level_field_is_refused(tmp_path):
    import hashlib
    import json

    from churnml.errors import ModelFileError
    from churnml.modeling._model import load_model
    from churnml.modeling._trainer import ChurnTrainer

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] + rng.normal(size=200) > 0).astype(int)
    folder = ChurnTrainer(n_estimators=20, baselines=False).fit(X, y).model_.save(tmp_path / "model")
    path = folder / "features.json"
    features = json.loads(path.read_text())
    features["extra"] = True
    path.write_text(json.dumps(features))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["features.json"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=r"features.json has fields this version does not know: \['extra'\]"):
        load_model(folder)
