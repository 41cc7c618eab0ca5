"""The data contract on tiny hand-written tables whose right answers are obvious by eye."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.errors import (
    ConfigError,
    DuplicateKeyError,
    DuplicateRowsError,
    EmptySourceError,
    InvalidIntervalError,
    InvalidValueError,
    MappingError,
    MissingColumnError,
    MixedTimezoneError,
    NonNumericValueError,
    NullUserIdError,
    SourceNotFoundError,
    TimestampParseError,
)


def frame(**columns):
    return pd.DataFrame(columns)


EVENTS = frame(
    customer=[1, 1, 2, 3],
    when=["2024-01-01 10:00", "2024-01-03 09:30", "2024-01-02 12:00", "2024-01-05 08:00"],
    kind=["login", "purchase", "login", "login"],
    amount=["0", "12.5", "0", "0"],
)


def test_mapped_events_load_with_logical_columns_and_types():
    events = EventSource(EVENTS, user_id="customer", timestamp="when", event_type="kind",
                         value="amount").load()
    out = events.to_pandas().sort_values(["user_id", "timestamp"]).reset_index(drop=True)
    assert list(out.columns) == ["user_id", "timestamp", "event_type", "value"]
    assert out["user_id"].tolist() == [1, 1, 2, 3]
    assert out["timestamp"].iloc[1] == pd.Timestamp("2024-01-03 09:30")
    assert out["value"].tolist() == [0.0, 12.5, 0.0, 0.0]
    assert events.report.users == 3
    assert events.report.first == dt.datetime(2024, 1, 1, 10, 0)
    assert events.report.last == dt.datetime(2024, 1, 5, 8, 0)


def test_contract_named_data_needs_no_mapping():
    data = frame(user_id=["a", "b"], timestamp=pd.to_datetime(["2024-01-01", "2024-01-02"]),
                 event_type=["x", "y"], value=[1.0, 2.0])
    events = EventSource(data).load()
    assert events.columns == ("user_id", "timestamp", "event_type", "value")
    assert events.report.columns == {"user_id": "user_id", "timestamp": "timestamp",
                                     "event_type": "event_type", "value": "value"}


def test_value_can_be_a_sql_expression():
    data = frame(user_id=[1, 2], timestamp=["2024-01-01", "2024-01-02"], qty=[2, 3], price=[1.5, 2.0])
    events = EventSource(data, value="qty * price").load()
    assert sorted(events.to_pandas()["value"]) == [3.0, 6.0]


def test_missing_column_lists_the_columns_that_exist():
    with pytest.raises(MissingColumnError, match=r"no column 'customer_id'.*'customer', 'when', 'kind', 'amount'"):
        EventSource(EVENTS, user_id="customer_id", timestamp="when").load()


def test_missing_column_suggests_a_close_name():
    with pytest.raises(MissingColumnError, match=r"Did you mean 'customer'\?"):
        EventSource(EVENTS, user_id="Customer", timestamp="when").load()


def test_unmapped_required_column_is_missing():
    with pytest.raises(MissingColumnError, match=r"no column 'timestamp' for 'timestamp'"):
        EventSource(EVENTS, user_id="customer").load()


def test_expression_that_does_not_compile_names_the_mapping():
    with pytest.raises(MappingError, match=r"value = 'amount \* price' does not compile"):
        EventSource(EVENTS, user_id="customer", timestamp="when", value="amount * price").load()


def test_where_that_does_not_compile():
    with pytest.raises(MappingError, match=r"filter where='nope > 1' does not compile"):
        EventSource(EVENTS, user_id="customer", timestamp="when", where="nope > 1").load()


def test_unparseable_timestamps_are_counted_with_an_example():
    data = frame(user_id=[1, 2, 3, 4], timestamp=["2024-01-01", "31/02/2024", "2024-01-03", "yesterday"])
    with pytest.raises(TimestampParseError, match=r"has 2 of 4 rows that do not parse as a timestamp, e.g. '31/02/2024'"):
        EventSource(data).load()


def test_time_format_reads_custom_text():
    data = frame(user_id=[1, 2], timestamp=["01/02/2024 10:00", "15/03/2024 23:59"])
    events = EventSource(data, time_format="%d/%m/%Y %H:%M").load()
    assert events.report.first == dt.datetime(2024, 2, 1, 10, 0)
    assert events.report.last == dt.datetime(2024, 3, 15, 23, 59)


def test_null_timestamps_are_an_error_naming_the_fix():
    data = frame(user_id=[1, 2, 3], timestamp=["2024-01-01", None, ""])
    with pytest.raises(TimestampParseError, match=r"is empty in 2 of 3 rows.*where=\"timestamp IS NOT NULL\""):
        EventSource(data).load()


def test_epoch_numbers_are_not_silently_read_as_timestamps():
    data = frame(user_id=[1], timestamp=[1_700_000_000])
    with pytest.raises(TimestampParseError, match=r"not a timestamp. If it holds epoch seconds, map it as 'to_timestamp"):
        EventSource(data).load()
    events = EventSource(data, timestamp="to_timestamp(timestamp)").load()
    assert events.report.first == dt.datetime(2023, 11, 14, 22, 13, 20)


def test_mixed_aware_and_naive_text_timestamps():
    data = frame(user_id=[1, 2, 3], timestamp=["2024-01-01 10:00:00+02:00", "2024-01-01 10:00:00", "2024-01-02 10:00:00Z"])
    with pytest.raises(MixedTimezoneError, match=r"mixes 2 time-zone-aware timestamps .* with 1 naive ones"):
        EventSource(data).load()


def test_mixed_aware_and_naive_python_datetimes():
    aware = dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone.utc)
    data = pd.DataFrame({"user_id": [1, 2], "timestamp": pd.Series([aware, dt.datetime(2024, 1, 1)], dtype=object)})
    with pytest.raises(MixedTimezoneError, match=r"mixes 1 time-zone-aware timestamps"):
        EventSource(data).load()


def test_aware_text_timestamps_are_converted_to_utc():
    data = frame(user_id=[1, 2], timestamp=["2024-01-01 10:00:00+02:00", "2024-01-01T10:00:00Z"])
    events = EventSource(data).load()
    assert sorted(events.to_pandas()["timestamp"]) == [pd.Timestamp("2024-01-01 08:00"), pd.Timestamp("2024-01-01 10:00")]
    assert any("converted to UTC" in note for note in events.report.notes)
    assert (events.report.first, events.report.last) == (dt.datetime(2024, 1, 1, 8), dt.datetime(2024, 1, 1, 10))


def test_a_clean_table_is_checked_bounded_and_summarised_in_one_pass(monkeypatch, tmp_path):
    from churnml.contract import _sources

    passes: list[str] = []  # the load's queries over the source or the loaded rows (a quantile pass runs `first`)
    depth = [0]
    for name in ("first", "quantiles", "first_loaded"):
        def spy(self, *args, _name=name, _original=getattr(_sources._DuckDBRun, name)):
            passes.extend([_name] if not depth[0] else [])
            depth[0] += 1
            try:
                return _original(self, *args)
            finally:
                depth[0] -= 1
        monkeypatch.setattr(_sources._DuckDBRun, name, spy)
    data = frame(user_id=[1, 2, 2, 3], timestamp=["2024-01-01", "2024-01-02", "2024-01-03", "2024-12-31"],
                 value=[1.0, None, 2.0, -1.0])
    report = EventSource(data).load().report
    assert passes == ["first"]  # within a year nothing can be far outside the bulk: no quantiles
    assert (report.rows_loaded, report.users, report.null_counts) == (4, 3, {"value": 1})
    assert (report.first, report.last) == (dt.datetime(2024, 1, 1), dt.datetime(2024, 12, 31))
    assert any("negative" in note for note in report.notes)

    # Over a year: the quantiles' own pass.
    passes.clear()
    later = EventSource(data.assign(timestamp=[*data["timestamp"][:3], "2025-01-02"])).load().report
    assert passes == ["first", "quantiles"]
    assert later.last == dt.datetime(2025, 1, 2) and later.dropped == {}

    # Float ids: their CAST raises on infinities or past 2**63, so the pass takes them through try_cast, equal
    # wherever the checks let the CAST stand; where they do not, the checks' error comes, not the CAST's.
    passes.clear()
    assert EventSource(data.assign(user_id=[1.0, 2.0, 2.0, 3.0])).load().report.to_dict() | {"notes": None} \
        == report.to_dict() | {"notes": None}
    assert passes == ["first"]
    for bad in (float("inf"), 2.0**64):
        with pytest.raises(InvalidValueError, match=r"ids beyond 2\*\*53"):
            EventSource(data.assign(user_id=[1.0, 2.0, 2.0, bad])).load()
    passes.clear()
    as_text = EventSource(data.assign(user_id=[1.0, 2.5, 2.5, 3.0])).load().report  # read as text ids
    assert passes == ["first", "first"] and (as_text.rows_loaded, as_text.users) == (4, 3)

    # Rows without a user id that leave (drop_null_user_ids): the figures were taken over every row, so they
    # are set aside and the span's pass counts them over the loaded rows (the dropped row holds the last time
    # and a missing value).
    passes.clear()
    dropped = EventSource(frame(user_id=[1.0, 2.0, 2.0, 3.0, None], timestamp=[*data["timestamp"], "2024-12-31 12:00"],
                                value=[1.0, None, 2.0, -1.0, None]), drop_null_user_ids=True).load().report
    assert passes == ["first", "first"]
    assert (dropped.rows_read, dropped.rows_loaded, dropped.users, dropped.null_counts) == (5, 4, 3, {"value": 1})
    assert dropped.last == dt.datetime(2024, 12, 31)

    # Text ids in a CSV that are not all whole numbers: the figures taken ahead as integers are set aside.
    path = tmp_path / "events.csv"
    data.assign(user_id=["1", "2", "2", "x"]).to_csv(path, index=False)
    passes.clear()
    report = EventSource(str(path)).load().report
    assert (report.rows_loaded, report.users) == (4, 3)
    assert passes == ["first", "first"]


def test_aware_datetime_column_is_converted_to_utc():
    stamps = pd.to_datetime(["2024-06-01 12:00"]).tz_localize("Europe/Paris")
    events = EventSource(frame(user_id=[1], timestamp=stamps)).load()
    assert events.to_pandas()["timestamp"].iloc[0] == pd.Timestamp("2024-06-01 10:00")


def test_null_user_ids_raise_unless_the_mapping_says_to_drop_them():
    data = frame(user_id=[1.0, None, 3.0, None], timestamp=["2024-01-01"] * 4)
    with pytest.raises(NullUserIdError, match=r"is null in 2 of 4 rows"):
        EventSource(data).load()
    events = EventSource(data, drop_null_user_ids=True).load()
    assert events.report.rows_loaded == 2
    assert events.report.dropped == {"null user_id (drop_null_user_ids=True)": 2}


def test_where_drops_are_counted():
    data = frame(user_id=[1.0, None, 3.0, None], timestamp=["2024-01-01"] * 4)
    events = EventSource(data, where="user_id IS NOT NULL").load()
    assert events.report.dropped == {"where user_id IS NOT NULL": 2}
    assert events.report.rows_read == 4 and events.report.rows_loaded == 2


def test_whole_float_ids_become_integer_ids_and_others_text():
    whole = EventSource(frame(user_id=[17850.0, 13047.0], timestamp=["2024-01-01"] * 2)).load()
    assert whole.to_pandas()["user_id"].tolist() == [17850, 13047]
    fractional = EventSource(frame(user_id=[1.5, 2.0], timestamp=["2024-01-01"] * 2)).load()
    assert sorted(fractional.to_pandas()["user_id"]) == ["1.5", "2.0"]


def test_non_numeric_value_column():
    data = frame(user_id=[1, 2, 3], timestamp=["2024-01-01"] * 3, value=["1.5", "n/a", "2"])
    with pytest.raises(NonNumericValueError, match=r"has 1 of 3 rows that are not numbers, e.g. 'n/a'"):
        EventSource(data).load()


def test_blank_numbers_read_as_missing_and_noted():
    data = frame(user_id=[1, 2, 3], timestamp=["2024-01-01"] * 3, value=["1.5", " ", "2"])
    events = EventSource(data).load()
    assert events.report.null_counts == {"value": 1}
    assert any("1 blank values read as missing" in note for note in events.report.notes)


def test_empty_source():
    data = frame(user_id=pd.Series([], dtype="int64"), timestamp=pd.Series([], dtype="datetime64[ns]"))
    with pytest.raises(EmptySourceError, match=r"has no rows"):
        EventSource(data).load()


def test_filter_that_removes_everything():
    with pytest.raises(EmptySourceError, match=r"removed all 4 rows"):
        EventSource(EVENTS, user_id="customer", timestamp="when", where="customer > 100").load()


def test_duplicate_rows_are_reported_and_kept_dropped_or_refused():
    data = frame(user_id=[1, 1, 1, 2], timestamp=["2024-01-01 10:00"] * 3 + ["2024-01-02"])
    kept = EventSource(data).load()
    assert kept.report.duplicate_rows == 2 and kept.report.rows_loaded == 4
    assert "2 exact duplicate rows kept (duplicates='keep')" in kept.report.notes
    dropped = EventSource(data, duplicates="drop").load()
    assert dropped.report.rows_loaded == 2
    assert dropped.report.dropped == {"exact duplicate rows (duplicates='drop')": 2}
    with pytest.raises(DuplicateRowsError, match=r"has 2 exact duplicate rows"):
        EventSource(data, duplicates="error").load()


def test_duplicates_compare_whole_source_rows_not_just_mapped_columns():
    # Two invoice lines at the same time for the same customer are not duplicates.
    data = frame(user_id=[1, 1], timestamp=["2024-01-01"] * 2, line=["A", "B"])
    assert EventSource(data).load().report.duplicate_rows == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from(["a", "b"])), min_size=1, max_size=30),
       st.sampled_from([None, "user", "time"]))
def test_the_duplicate_screen_counts_the_same_copies_in_numpy_and_in_duckdb(rows, order):
    from churnml import _duckdb

    # A log in the order of its users and times (or times and users) takes the path that proves no key repeats.
    if order is not None:
        rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]) if order == "user" else (r[1], r[0], r[2]))
    data = frame(user_id=[u for u, _, _ in rows],
                 timestamp=[dt.datetime(2024, 1, 1) + dt.timedelta(days=d) for _, d, _ in rows],
                 event_type=[k for _, _, k in rows])
    expected = len(data) - len(data.drop_duplicates())
    held = EventSource(data).load().report.duplicate_rows
    with pytest.MonkeyPatch.context() as patch:  # no readable memory limit: DuckDB sorts the hashes
        patch.setattr(_duckdb, "memory_limit_bytes", lambda backend: None)
        sorted_by_duckdb = EventSource(data).load().report.duplicate_rows
    assert held == sorted_by_duckdb == expected


def test_a_log_in_strict_order_of_its_keys_is_told_from_one_that_is_not_across_batch_edges():
    from churnml._duckdb import Backend, _in_strict_order

    backend = Backend()

    def ordered(select: str, rows: int = 20) -> bool:  # batches of 3 rows: most neighbours meet across an edge
        return _in_strict_order(backend, f"SELECT {select} FROM range({rows}) r(i)", batch_rows=3)

    assert ordered("i // 4 AS user_id, i % 4 AS t")  # by user, then time
    assert ordered("i % 4 AS user_id, i // 4 AS t")  # by time, then user
    assert ordered("'u' || lpad(CAST(i AS VARCHAR), 3, '0') AS user_id")  # text ids, one key
    assert ordered("i AS user_id", rows=0)
    assert not ordered("CASE WHEN i = 3 THEN 2 ELSE i END AS user_id")  # a repeat where batches meet
    assert not ordered("CASE WHEN i = 4 THEN 3 ELSE i END AS user_id")  # a repeat inside a batch
    assert not ordered("i // 4 AS user_id, CASE WHEN i = 9 THEN 0 ELSE i % 4 END AS t")  # time goes back
    assert not ordered("i // 4 AS user_id, CASE WHEN i = 6 THEN 1 ELSE i % 4 END AS t")  # equal keys
    assert not ordered("CASE WHEN i = 7 THEN NULL ELSE i END AS user_id")  # a null key proves nothing
    assert not ordered("20 - i AS user_id")


def test_a_log_in_order_with_copies_has_them_counted():
    # Ordered by user and time, with copies: the ordered path finds a repeated key and the screen counts.
    data = frame(user_id=["a", "a", "a", "b", "b", "c"],
                 timestamp=["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-01", "2024-01-03", "2024-01-01"],
                 event_type=["x", "y", "y", "x", "x", "x"])
    assert EventSource(data).load().report.duplicate_rows == 1
    in_order = data.drop_duplicates()
    assert EventSource(in_order).load().report.duplicate_rows == 0


def test_the_duplicate_screen_holds_hashes_only_within_its_budget():
    from churnml._duckdb import Backend, _held_hashes, memory_limit_bytes

    backend = Backend()
    backend.execute("SET memory_limit = '400MB'")
    assert memory_limit_bytes(backend) == pytest.approx(400e6, rel=0.01)
    query = "SELECT hash(i) AS h FROM range(1000) t(i)"
    expected = backend.sql(query).fetchnumpy()["h"]
    held = _held_hashes(backend, query, rows=1000, budget=8_000)  # 8 bytes a hash, held once
    assert held is not None and (held == expected).all()
    assert _held_hashes(backend, query, rows=1000, budget=7_999) is None
    # ``rows`` bounds the rows from above (a filter may keep fewer): only the rows read are returned.
    held = _held_hashes(backend, query + " WHERE i % 3 = 0", rows=1000, budget=8_000)
    assert held is not None and (held == expected[::3]).all()
    with pytest.raises(AssertionError, match="at most 999 rows"):
        _held_hashes(backend, query, rows=999, budget=8_000)


def test_equal_neighbours_are_counted_across_the_slices_they_are_compared_in():
    from churnml._duckdb import _equal_neighbours

    step = 1 << 21  # the slices' length
    values = np.arange(2 * step + 5, dtype=np.uint64)
    for i in (step, 2 * step, 2 * step + 4, 7):  # each equal to the one before it: across both slice edges, last
        values[i] = values[i - 1]
    assert _equal_neighbours(values) == 4
    assert _equal_neighbours(values[:1]) == _equal_neighbours(values[:0]) == 0


def test_an_all_null_value_column_loads_as_missing_values():
    # DuckDB types a pandas column of only None as "NULL" (quoted in its type name).
    report = EventSource(frame(user_id=[1, 2], timestamp=["2024-01-01", "2024-01-02"], value=[None, None])).load().report
    assert report.rows_loaded == 2 and report.null_counts == {"value": 2}


def test_bad_duplicate_policy():
    with pytest.raises(ConfigError, match=r"'duplicates' parameter of EventSource must be one of"):
        EventSource(EVENTS, user_id="customer", timestamp="when", duplicates="ignore").load()


def test_several_problems_are_reported_together():
    data = frame(user_id=[1, None], timestamp=["2024-01-01", "soon"], value=["x", "1"])
    with pytest.raises(NullUserIdError) as caught:
        EventSource(data).load()
    message = str(caught.value)
    assert "do not parse as a timestamp" in message and "not numbers" in message


def test_csv_parquet_folder_and_glob_sources(tmp_path):
    data = frame(user_id=[1, 2, 3], timestamp=pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]))
    data.to_csv(tmp_path / "events.csv", index=False)
    parts = tmp_path / "parts"
    parts.mkdir()
    data.iloc[:2].to_parquet(parts / "a.parquet")
    data.iloc[2:].to_parquet(parts / "b.parquet")
    assert EventSource(tmp_path / "events.csv").load().report.rows_loaded == 3
    assert EventSource(parts).load().report.rows_loaded == 3
    assert EventSource(str(parts / "*.parquet")).load().report.rows_loaded == 3
    with pytest.raises(SourceNotFoundError, match=r"No file matches"):
        EventSource(str(tmp_path / "*.nothing")).load()
    with pytest.raises(SourceNotFoundError, match=r"No such file or folder"):
        EventSource(tmp_path / "absent.parquet").load()


def test_duckdb_relation_source():
    con = duckdb.connect()
    rel = con.sql("SELECT range AS uid, TIMESTAMP '2024-01-01' + to_days(range::INT) AS ts FROM range(5)")
    events = EventSource(rel, user_id="uid", timestamp="ts").load()
    assert events.report.rows_loaded == 5
    assert events.relation().aggregate("max(timestamp)").fetchall()[0][0] == dt.datetime(2024, 1, 5)


def test_subscriptions_with_end_before_start():
    data = frame(user_id=[1, 2], start=pd.to_datetime(["2024-01-01", "2024-03-01"]),
                 end=pd.to_datetime(["2024-02-01", "2024-02-01"]))
    with pytest.raises(InvalidIntervalError, match=r"1 rows whose end .* is before their start"):
        SubscriptionSource(data).load()


def test_accounts_keep_attributes_and_need_one_row_per_user():
    data = frame(id=[1, 2], joined=["2024-01-01", "2024-02-01"], plan=["pro", "basic"])
    accounts = AccountSource(data, user_id="id", signup_date="joined").load()
    assert accounts.columns == ("user_id", "signup_date", "plan")
    with pytest.raises(DuplicateKeyError, match=r"1 extra rows for users that appear more than once .* e.g. 1"):
        AccountSource(frame(user_id=[1, 1, 2], plan=["a", "b", "c"])).load()


def test_load_puts_all_tables_in_one_session_so_they_join():
    events = frame(user_id=[1, 2], timestamp=["2024-01-05", "2024-01-06"])
    accounts = frame(user_id=[1, 2], signup_date=["2024-01-01", "2024-01-02"], plan=["pro", "basic"])
    data = load(EventSource(events), accounts=AccountSource(accounts))
    joined = data.backend.sql(
        f"SELECT count(*) FROM {data.events.view} e JOIN {data.accounts.view} a USING (user_id)").fetchall()
    assert joined == [(2,)]
    assert [r.table for r in data.reports] == ["events", "accounts"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 5)), st.integers(0, 10)), min_size=1, max_size=40),
       st.sampled_from(["keep", "drop"]))
def test_every_row_read_is_loaded_or_counted_as_dropped(rows, duplicates):
    data = frame(user_id=[u for u, _ in rows],
                 timestamp=[dt.datetime(2024, 1, 1) + dt.timedelta(days=d) for _, d in rows])
    data["user_id"] = data["user_id"].astype("Int64")
    if data["user_id"].notna().sum() == 0:
        return
    events = EventSource(data, drop_null_user_ids=True, duplicates=duplicates, where="timestamp < '2024-01-09'")
    try:
        report = events.load().report
    except EmptySourceError:
        return
    assert report.rows_read == len(rows)
    assert report.rows_read - sum(report.dropped.values()) == report.rows_loaded
    expected = data[data["user_id"].notna() & (data["timestamp"] < "2024-01-09")]
    if duplicates == "drop":
        expected = expected.drop_duplicates()
    assert report.rows_loaded == len(expected)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 5)), st.integers(0, 10),
                          st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 2.5]))), min_size=1, max_size=40),
       st.sampled_from(["keep", "drop"]), st.booleans())
def test_the_report_counts_the_loaded_rows(rows, duplicates, filtered):
    # The report's figures come from the pass of the checks or of the quantiles where nothing is dropped
    # after it, else from the loaded rows: either way they are those of the rows loaded.
    data = frame(user_id=[u for u, _, _ in rows],
                 timestamp=[dt.datetime(2024, 1, 1) + dt.timedelta(days=d) for _, d, _ in rows],
                 value=[v for _, _, v in rows])
    data["user_id"] = data["user_id"].astype("Int64")
    where = "timestamp >= '2024-01-03'" if filtered else None
    loaded = data[data["user_id"].notna() & ((data["timestamp"] >= "2024-01-03") if filtered else True)]
    if loaded.empty:
        return
    report = EventSource(data, drop_null_user_ids=True, duplicates=duplicates, where=where).load().report
    if duplicates == "drop":
        loaded = loaded.drop_duplicates()
    assert (report.rows_loaded, report.users) == (len(loaded), loaded["user_id"].nunique())
    assert (report.first, report.last) == (loaded["timestamp"].min(), loaded["timestamp"].max())
    assert report.null_counts == {"value": int(loaded["value"].isna().sum())}
    assert any("negative" in note for note in report.notes) == bool((loaded["value"] < 0).any())


@settings(max_examples=25, deadline=None)
@given(st.permutations(list(range(8))))
def test_row_order_does_not_change_the_report(order):
    data = frame(user_id=[1, 1, 2, 2, 3, None, 3, 3],
                 timestamp=["2024-01-01", "2024-01-01", "2024-01-03", "2024-01-02", "2024-01-04",
                            "2024-01-05", "2024-01-06", "2024-01-06"])
    baseline = EventSource(data, drop_null_user_ids=True).load().report
    shuffled = EventSource(data.iloc[list(order)], drop_null_user_ids=True).load().report
    assert shuffled.to_dict() | {"source": None} == baseline.to_dict() | {"source": None}
