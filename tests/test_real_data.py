"""Every real dataset in ../shared/data loads with its mapping; figures from its README."""

from __future__ import annotations

import pytest

from churnml import AccountSource, EventSource
from churnml.contract._labelled import LabelledTableSource


def test_online_retail(shared_data):
    events = EventSource(shared_data / "online_retail/online_retail.parquet",
                         user_id="CustomerID", timestamp="InvoiceDate",
                         value="Quantity * UnitPrice", event_type="CASE WHEN InvoiceNo LIKE 'C%' THEN 'cancellation' ELSE 'purchase' END",
                         where="CustomerID IS NOT NULL").load()
    report = events.report
    assert report.rows_read == 541_909
    assert report.dropped == {"where CustomerID IS NOT NULL": 135_080}
    assert report.rows_loaded == 541_909 - 135_080
    assert report.users == 4_372
    assert report.duplicate_rows == 5_225  # exact copies among identified customers' lines
    assert any("whole numbers stored as DOUBLE" in note for note in report.notes)
    # 8,905 of the 9,288 cancellation lines belong to identified customers; none adds value.
    cancellations = events.backend.fetchone(
        f"SELECT count(*), max(value) FROM {events.view} WHERE event_type = 'cancellation'")
    assert cancellations[0] == 8_905 and cancellations[1] <= 0


def test_online_retail_total_value_over_all_rows(shared_data):
    events = EventSource(shared_data / "online_retail/online_retail.parquet",
                         user_id="coalesce(CAST(CustomerID AS BIGINT), -1)", timestamp="InvoiceDate",
                         value="Quantity * UnitPrice",
                         event_type="CASE WHEN InvoiceNo LIKE 'C%' THEN 'cancellation' ELSE 'purchase' END").load()
    total = events.backend.fetchone(
        f"SELECT sum(value), count(DISTINCT user_id), count(*) FILTER (WHERE event_type = 'cancellation') "
        f"FROM {events.view}")
    assert total[0] == pytest.approx(9_747_747.93, abs=0.01)
    assert total[1] == 4_372 + 1  # the anonymous buyers share the id -1
    assert total[2] == 9_288


def test_online_retail_without_a_rule_for_anonymous_rows_fails_clearly(shared_data):
    from churnml.errors import NullUserIdError

    with pytest.raises(NullUserIdError, match=r"'CustomerID' \(user_id\) of the events source is null in 135,080 of 541,909 rows"):
        EventSource(shared_data / "online_retail/online_retail.parquet",
                    user_id="CustomerID", timestamp="InvoiceDate").load()


def test_complete_journey_text_timestamps_and_demographics(shared_data):
    events = EventSource(shared_data / "complete_journey/transactions_sample.parquet",
                         user_id="household_id", timestamp="transaction_timestamp",
                         value="sales_value").load()
    assert events.report.rows_loaded == 75_000
    assert events.report.dropped == {}
    assert events.report.users == 2_377
    assert events.report.first.year == 2017
    accounts = AccountSource(shared_data / "complete_journey/demographics.csv",
                             user_id="household_id").load()
    assert accounts.report.rows_loaded == accounts.report.users == 801
    assert "income" in accounts.columns


def test_segment_events_with_event_names_as_types(shared_data):
    events = EventSource(shared_data / "segment_events/event_data.parquet",
                         user_id="anonymousId", timestamp="timestamp",
                         event_type="coalesce(event, type)").load()
    report = events.report
    assert report.rows_loaded == 100_000 and report.users == 8_490
    types = dict(events.backend.sql(
        f"SELECT event_type, count(*) FROM {events.view} GROUP BY 1").fetchall())
    assert types == {"identify": 52_148, "page": 35_148, "Feature Run Clicked": 7_829,
                     "Feature Selected": 4_875}


def test_segment_events_raw_event_column_counts_its_empty_types(shared_data):
    events = EventSource(shared_data / "segment_events/event_data.parquet",
                         user_id="anonymousId", timestamp="timestamp", event_type="event").load()
    assert events.report.null_counts == {"event_type": 87_296}
    assert any("event_type ('event') is missing in 87,296 rows (kept)" in n for n in events.report.notes)


def test_telco_labelled_table(shared_data):
    table = LabelledTableSource(shared_data / "telco_ibm/WA_Fn-UseC_-Telco-Customer-Churn.csv",
                                label="Churn", id="customerID").load()
    assert table.report.rows_loaded == len(table.X) == 7_043
    assert int(table.y.sum()) == 1_869
    assert table.X["TotalCharges"].isna().sum() == 11
    assert table.X["TotalCharges"].dtype.kind == "f"
    assert "customerID" not in table.X.columns and "Churn" not in table.X.columns


def test_iranian_telecom_duplicates(shared_data):
    path = shared_data / "iranian_telecom/customer_churn.csv"
    kept = LabelledTableSource(path, label="Churn").load()
    assert kept.report.rows_loaded == 3_150 and kept.report.duplicate_rows == 300
    dropped = LabelledTableSource(path, label="Churn", duplicates="drop").load()
    assert dropped.report.rows_loaded == 2_850
    assert dropped.report.dropped == {"exact duplicate rows (duplicates='drop')": 300}
    assert "Call  Failure" in dropped.X.columns  # the source's double-spaced names survive
