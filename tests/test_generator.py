"""The synthetic product: deterministic, and its churners behave as documented."""

from __future__ import annotations

import duckdb
import pytest

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.errors import ConfigError
from churnml.generator import TABLES, GeneratorConfig, generate


def test_same_seed_gives_byte_identical_files(tmp_path):
    config = GeneratorConfig(users=1_500, days=120, seed=3, chunk_size=500)
    first = generate(tmp_path / "a", config)
    second = generate(tmp_path / "b", config)
    for name in TABLES:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_another_seed_gives_another_product(tmp_path):
    a = generate(tmp_path / "a", GeneratorConfig(users=300, days=90, seed=1))
    b = generate(tmp_path / "b", GeneratorConfig(users=300, days=90, seed=2))
    assert a["events"].read_bytes() != b["events"].read_bytes()


@pytest.fixture(scope="module")
def con(small_product):
    connection = duckdb.connect()
    for name, path in small_product.items():
        connection.sql(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path.as_posix()}')")
    return connection


def one(con, sql):
    return con.sql(sql).fetchall()[0]


def test_churners_produce_no_events_on_or_after_their_churn_date(con):
    late, churners = one(con, """
        SELECT count(*) FILTER (WHERE e.timestamp >= g.churn_date), count(DISTINCT g.user_id)
        FROM ground_truth g JOIN events e USING (user_id) WHERE g.churn_date IS NOT NULL""")
    assert churners > 500  # enough churners for the check to mean something
    assert late == 0


def test_every_user_has_a_ground_truth_row_and_types_are_known(con):
    users, truth, kinds = one(con, """
        SELECT (SELECT count(*) FROM accounts), count(*),
               list_sort(list(DISTINCT churn_type) FILTER (WHERE churn_type IS NOT NULL))
        FROM ground_truth""")
    assert users == truth == 3_000
    assert kinds == ["involuntary", "voluntary"]


def test_last_subscription_ends_on_the_churn_date_with_its_reason(con):
    mismatched, open_churners, closed_stayers = one(con, """
        WITH last AS (SELECT * FROM subscriptions QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY start DESC) = 1)
        SELECT
          count(*) FILTER (WHERE g.churn_date IS NOT NULL AND (CAST(l."end" AS DATE) <> g.churn_date OR
                 l.end_reason <> CASE g.churn_type WHEN 'voluntary' THEN 'cancelled' ELSE 'payment_failed' END)),
          count(*) FILTER (WHERE g.churn_date IS NOT NULL AND l."end" IS NULL),
          count(*) FILTER (WHERE g.churn_date IS NULL AND l."end" IS NOT NULL)
        FROM last l JOIN ground_truth g USING (user_id)""")
    assert (mismatched, open_churners, closed_stayers) == (0, 0, 0)


def test_subscription_rows_of_a_user_are_contiguous(con):
    gaps = one(con, """
        SELECT count(*) FROM (
          SELECT "end", lead(start) OVER (PARTITION BY user_id ORDER BY start) AS next_start FROM subscriptions)
        WHERE next_start IS NOT NULL AND next_start <> "end" """)[0]
    assert gaps == 0


def test_involuntary_churn_follows_a_payment_failure_by_the_grace_period(con):
    without_failure, involuntary = one(con, """
        SELECT count(*) FILTER (WHERE NOT EXISTS (
                 SELECT 1 FROM events e WHERE e.user_id = g.user_id AND e.event_type = 'payment_failure'
                   AND CAST(e.timestamp AS DATE) = g.churn_date - 7)),
               count(*)
        FROM ground_truth g WHERE churn_type = 'involuntary'""")
    assert involuntary > 20 and without_failure == 0


def test_voluntary_churners_fade_before_they_leave(con):
    # Hazard rises as engagement falls, so in the 14 days before leaving voluntary churners
    # use the product less than 30-44 days before; users who stay show no such drop over
    # the same offsets from the end of the history. Payment failures ignore engagement,
    # so involuntary churners fade less than voluntary ones.
    ratios = dict(con.sql("""
        WITH ends AS (
          SELECT g.user_id, coalesce(g.churn_type, 'stayed') AS kind,
                 coalesce(g.churn_date, DATE '2024-12-31') AS last_day
          FROM ground_truth g JOIN accounts a USING (user_id)
          WHERE coalesce(g.churn_date, DATE '2024-12-31') >= a.signup_date + 60)
        SELECT kind,
               sum(e.timestamp >= last_day - INTERVAL 14 DAY AND e.timestamp < last_day)::DOUBLE
               / sum(e.timestamp >= last_day - INTERVAL 44 DAY AND e.timestamp < last_day - INTERVAL 30 DAY)
        FROM ends JOIN events e USING (user_id)
        WHERE e.event_type IN ('login', 'core_action') GROUP BY kind""").fetchall())
    assert ratios["voluntary"] < ratios["stayed"] - 0.2
    assert ratios["involuntary"] > ratios["voluntary"]


def test_unactivated_users_churn_more(con):
    activated_rate, unactivated_rate = one(con, """
        WITH activation AS (
          SELECT a.user_id, bool_or(e.event_type = 'core_action' AND e.timestamp < a.signup_date + 7) AS activated
          FROM accounts a LEFT JOIN events e USING (user_id) GROUP BY a.user_id)
        SELECT avg((g.churn_date IS NOT NULL)::INT) FILTER (WHERE activated),
               avg((g.churn_date IS NOT NULL)::INT) FILTER (WHERE NOT activated OR activated IS NULL)
        FROM activation JOIN ground_truth g USING (user_id)""")
    assert unactivated_rate > activated_rate + 0.1


def test_generated_tables_meet_the_contract_without_mappings(small_product):
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    assert data.events.report.dropped == {}
    assert data.events.report.duplicate_rows == 0
    assert data.accounts.report.users == 3_000
    assert data.subscriptions.columns == ("user_id", "start", "end", "mrr", "end_reason", "plan")


def test_refuses_to_overwrite_and_leaves_no_staging_folder(tmp_path):
    config = GeneratorConfig(users=50, days=90)
    generate(tmp_path, config)
    before = (tmp_path / "events.parquet").read_bytes()
    with pytest.raises(ConfigError, match=r"already exists.*overwrite=True"):
        generate(tmp_path, GeneratorConfig(users=60, days=90))
    assert (tmp_path / "events.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)


@pytest.mark.parametrize("kwargs, message", [
    ({"users": 0}, r"'users' parameter of GeneratorConfig must be a positive int. Got 0"),
    ({"days": 30}, r"'days' parameter of GeneratorConfig must be at least 60"),
    ({"chunk_size": -1}, r"'chunk_size' parameter"),
])
def test_bad_parameters(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate(tmp_path, GeneratorConfig(**kwargs))
