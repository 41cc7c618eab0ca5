"""The feature spec compiled to Spark SQL.

The same :class:`~churnml.features.FeatureSpec` as the DuckDB engine, the same
feature definitions, the same point-in-time rule (a feature at ``t`` reads only
events with ``timestamp < t``; a label only events in its label window), and the
same output columns; tests hold the two engines equal within 1e-9.

The plan suits a cluster rather than one process: events are summed once per
user and day (per type as columns); each day is handed to the observation dates
whose reach or label window holds it (an ``explode`` of the few dates that read
it, not a join with every date), and summed per user and date with filtered
aggregates. Last timestamps, the first event and activation read all history:
each user-day goes to a bucket, the first date after it, and the buckets are
folded into every later date. The coverages, subscription features, levels and
label are the shared pieces of :mod:`churnml.engines._sql` in the ``SPARK`` dialect.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING, Any

from churnml.contract import ChurnDefinition, InactivityChurn, SubscriptionChurn
from churnml.engines._base import FitStatistics, check_columns
from churnml.engines._frames import typed
from churnml.engines._sql import Aggregates, Dialect, feature_items, islands_query, label_sql
from churnml.engines.spark._load import SPARK as SPARK_LOAD, SparkUsageData, qi, ql
from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from churnml.features import FeatureSpec

_names = itertools.count(1)
_NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double", "boolean"}
_MICROS_PER_DAY = "86400000000D"
SPARK = Dialect.extending(SPARK_LOAD, forever="TIMESTAMP'9999-12-31 00:00:00'", arg_max="max_by",
                          days_before=lambda day, n: f"CAST(date_sub({day}, {n}) AS TIMESTAMP)",
                          days_after=lambda day, n: f"date_add({day}, {n})",
                          days_between=lambda start, end: f"datediff({end}, {start})",
                          days_since=lambda day, ts: (f"CAST(unix_micros(CAST({day} AS TIMESTAMP)) - unix_micros({ts}) "
                                                      f"AS DOUBLE) / {_MICROS_PER_DAY}"))


def _view(frame: DataFrame, prefix: str) -> str:
    """Register ``frame`` as a temporary view under a fresh name; returns the quoted name."""
    name = f"churnml_{prefix}_{next(_names)}"
    frame.createOrReplaceTempView(name)
    return qi(name)


def _date(value: dt.date) -> str:
    return f"DATE'{value.isoformat()}'"


def _levels(frame: DataFrame, column: str, max_levels: int) -> list[str]:
    rows = (frame.where(f"{qi(column)} IS NOT NULL").selectExpr(f"CAST({qi(column)} AS STRING) AS level")
            .groupBy("level").count().orderBy("count", "level", ascending=[False, True]).limit(max_levels).collect())
    return [str(r[0]) for r in rows] + ["other"]


def fit_statistics(data: SparkUsageData, *, until: dt.date | None, max_levels: int) -> FitStatistics:
    """What ``FeatureBuilder.fit`` reads, as the DuckDB engine's ``fit_statistics`` reads it."""
    events = data.events.frame
    before = f"`timestamp` < {_date(until)}" if until is not None else "TRUE"
    type_counts: dict[str, int] = {}
    if "event_type" in data.events.columns:
        type_counts = {str(r[0]): int(r[1]) for r in events.where(f"event_type IS NOT NULL AND {before}")
                       .groupBy("event_type").count().collect()}
    has_signup = False
    attributes: dict[str, list[str] | None] = {}
    if data.accounts is not None:
        frame, types = data.accounts.frame, data.accounts.types
        has_signup = "signup_date" in types and bool(frame.selectExpr("count(signup_date)").first()[0])
        for column, kind in types.items():
            if column in ("user_id", "signup_date"):
                continue
            if kind.split("(")[0] in _NUMERIC or kind.startswith("decimal"):
                attributes[column] = None
            elif kind == "string":
                attributes[column] = _levels(frame, column, max_levels)
    plan_levels = None
    if data.subscriptions is not None and "plan" in data.subscriptions.columns:
        started = data.subscriptions.frame.where(f"start < {_date(until)}") if until is not None \
            else data.subscriptions.frame
        plan_levels = _levels(started, "plan", max_levels)
    return FitStatistics(type_counts=type_counts, has_value="value" in data.events.columns, has_signup=has_signup,
                         has_subscriptions=data.subscriptions is not None, plan_levels=plan_levels,
                         attributes=attributes)


def event_types(data: SparkUsageData) -> list[str]:
    if "event_type" not in data.events.columns:
        return []
    return [str(r[0]) for r in data.events.frame.where("event_type IS NOT NULL").select("event_type")
            .distinct().collect()]


def time_span(data: SparkUsageData) -> tuple[dt.datetime, dt.datetime]:
    """First and last event; the last also counts subscription starts and ends."""
    first, last = data.events.frame.selectExpr("min(`timestamp`)", "max(`timestamp`)").first()
    if data.subscriptions is not None:
        stop = "coalesce(`end`, start)" if "end" in data.subscriptions.columns else "start"
        sub = data.subscriptions.frame.selectExpr(f"max(greatest(start, {stop}))").first()[0]
        if sub is not None:
            last = max(last, sub)
    return first, last


def input_counts(data: SparkUsageData, day: dt.date, *, types: bool) -> tuple[int, int, set[str] | None]:
    """As the DuckDB engine's ``input_counts``: events before ``day``, those with a value, their event types."""
    columns = data.events.columns
    before = data.events.frame.where(f"`timestamp` < {_date(day)}")
    row = before.selectExpr("count(*)", "count(value)" if "value" in columns else "0").first()
    seen = None
    if types and "event_type" in columns:
        seen = {str(r[0]) for r in before.where("event_type IS NOT NULL").select("event_type").distinct().collect()}
    return int(row[0]), int(row[1]), seen


def compute(data: SparkUsageData, spec: FeatureSpec, definition: ChurnDefinition, dates: list[dt.date], *,
            labels: bool) -> DataFrame:
    """Features (and labels) of every eligible user at every date, as a Spark DataFrame.

    Columns as the DuckDB engine's ``compute``: ``user_id``, ``observation_date``,
    (``label``, ``churn_type``), then the spec's features (DOUBLE, or STRING for categories).
    """

    check_columns(data, spec)
    if isinstance(definition, SubscriptionChurn) and data.subscriptions is None:
        raise ConfigError("Subscription churn needs a subscriptions table (--subscriptions).")
    spark = data.spark
    dates = sorted(dates)
    L = spec.lookback_days
    reach = max(L, definition.active_window_days)
    span = definition.label_span_days if labels else 0
    obs = spark.createDataFrame([(d, i) for i, d in enumerate(dates, start=1)],
                                "observation_date DATE, position INT")
    O = _view(obs, "obs")
    E = _view(data.events.frame, "events")
    code = {name: i for i, name in enumerate(spec.type_names)}
    type_case = "CAST(NULL AS INT)"
    if "event_type" in data.events.columns and spec.type_names:
        whens = " ".join(f"WHEN event_type = {ql(src)} THEN {code[name]}" for src, name in spec.event_types.items())
        type_case = f"CASE WHEN event_type IS NULL THEN NULL {whens} ELSE {code['other']} END"
    signup_join, signup_day = "", "CAST(NULL AS DATE)"
    accounts = _view(data.accounts.frame, "accounts") if data.accounts is not None else None
    if spec.activation_events and spec.has_signup and accounts is not None:
        signup_join = (f"LEFT JOIN (SELECT user_id AS signup_user, CAST(signup_date AS DATE) AS signup_day "
                       f"FROM {accounts}) s ON s.signup_user = e.user_id")
        signup_day = "s.signup_day"
    value = "e.value" if spec.has_value else "CAST(NULL AS DOUBLE)"
    upper = max(dates) + dt.timedelta(days=span)

    # Per user and day: counts per type as columns, last timestamps, the day's first event, activation.
    daily_items = ["count(*) AS n", "max(ts) AS last_ts", "min(ts) AS first_ts", "sum(value) AS value_sum",
                   "count(value) AS value_n"]
    daily_items += [f"count_if(type = {code[n]}) AS t_{code[n]}" for n in spec.type_names]
    daily_items += [f"max(CASE WHEN type = {code[n]} THEN ts END) AS last_{code[n]}" for n in spec.type_names]
    if spec.activation_events:
        kinds = ", ".join(str(code[spec.event_types.get(a, "other")]) for a in spec.activation_events)
        daily_items.append(f"min(CASE WHEN type IN ({kinds}) AND (signup_day IS NULL OR day >= signup_day) "
                           "THEN day END) AS activation_day")
    daily = spark.sql(f"""
        SELECT user_id, day, {', '.join(daily_items)}
        FROM (SELECT e.user_id, {type_case} AS type, e.`timestamp` AS ts, CAST(e.`timestamp` AS DATE) AS day,
                     {signup_day} AS signup_day, {value} AS value
              FROM {E} e {signup_join} WHERE e.`timestamp` < {_date(upper)}) ev
        GROUP BY user_id, day""")
    D = _view(daily, "daily")

    # Recent days: each handed to the dates whose reach (or label window) holds it; db = days before the date.
    listed = ", ".join(_date(d) for d in dates)
    informs = (f"filter(array({listed}), t -> day >= date_sub(t, {reach}) AND day < date_add(t, {span}))")

    def since(days: int) -> str:
        return f"db BETWEEN 1 AND {days}"

    counted = sorted(set(spec.windows) | set(spec.trend_windows) |
                     ({definition.active_window_days} if isinstance(definition, InactivityChurn) else set()))
    recent = []
    for w in counted:
        recent.append(f"sum(n) FILTER (WHERE {since(w)}) AS n_{w}")
        recent += [f"sum(t_{code[n]}) FILTER (WHERE {since(w)}) AS n_{code[n]}_{w}" for n in spec.type_names]
        recent.append(f"count_if({since(w)}) AS active_{w}")
    for w in spec.trend_windows:
        previous = f"db BETWEEN {w + 1} AND {2 * w}"
        recent.append(f"sum(n) FILTER (WHERE {previous}) AS previous_{w}")
        recent += [f"nullif(sum(t_{code[n]}) FILTER (WHERE {previous}), 0) AS previous_{code[n]}_{w}"
                   for n in spec.type_names]
    if spec.has_value:
        recent += [f"sum(value_sum) FILTER (WHERE {since(w)}) AS value_sum_{w}" for w in spec.windows]
        recent += [f"sum(value_n) FILTER (WHERE {since(w)}) AS value_n_{w}" for w in spec.windows]
    recent.append(f"count_if({since(L)}) AS active_lookback")
    recent.append(f"max(db) FILTER (WHERE {since(L)}) AS oldest_active")
    if labels and isinstance(definition, InactivityChurn):
        recent.append(f"sum(n) FILTER (WHERE db BETWEEN {1 - span} AND {-definition.lead_time_days}) "
                      "AS label_window_events")
    windowed = spark.sql(f"""
        SELECT user_id, observation_date, {', '.join(recent)}
        FROM (SELECT d.*, observation_date, datediff(observation_date, day) AS db
              FROM {D} d LATERAL VIEW explode({informs}) x AS observation_date)
        GROUP BY user_id, observation_date""")
    W = _view(windowed, "windowed")

    # All history before each date: days bucketed by the first date after them, folded into later dates.
    buckets = " ".join(f"WHEN day < {_date(d)} THEN {i}" for i, d in enumerate(dates, start=1))
    carried = [("last_ts", "max"), ("first_ts", "min")] + [(f"last_{code[n]}", "max") for n in spec.type_names]
    if spec.activation_events:
        carried.append(("activation_day", "min"))
    folded = ", ".join(f"{how}({c}) AS {c}" for c, how in carried)
    inner, outer = [folded], [folded]
    if spec.lifetime or spec.bgnbd_horizon_days is not None:
        # Whole history: sums of the user-days, the first and last active day.
        sums = [("n", "life_n"), ("1", "life_active")] + [(f"t_{code[n]}", f"life_{code[n]}") for n in spec.type_names]
        if spec.has_value:
            sums += [("value_sum", "life_value_sum"), ("value_n", "life_value_n")]
        inner += [f"sum({c}) AS {alias}" for c, alias in sums] + ["min(day) AS first_day", "max(day) AS last_day"]
        outer += [f"sum({alias}) AS {alias}" for _, alias in sums] + [
            "min(first_day) AS first_day",
            "CAST(datediff(max(last_day), min(first_day)) AS DOUBLE) AS span_days",  # first to last active day
            "CAST(datediff(o.observation_date, min(first_day)) AS DOUBLE) AS age_days"]  # first active day to t
    history = spark.sql(f"""
        SELECT b.user_id, o.observation_date, {', '.join(outer)}
        FROM (SELECT user_id, bucket, {', '.join(inner)}
              FROM (SELECT *, CASE {buckets} END AS bucket FROM {D}) WHERE bucket IS NOT NULL
              GROUP BY user_id, bucket) b
        JOIN {O} o ON o.position >= b.bucket
        GROUP BY b.user_id, o.observation_date""")
    H = _view(history, "history")
    seconds = params = None
    if spec.lifetime:
        seconds = _view(spark.sql(f"""
            SELECT d.user_id, min(d.day) AS second_day
            FROM {D} d JOIN (SELECT user_id, min(day) AS first_day FROM {D} GROUP BY user_id) f
              ON f.user_id = d.user_id AND d.day > f.first_day
            GROUP BY d.user_id"""), "seconds")
    if spec.bgnbd_horizon_days is not None:
        params = _bgnbd_params(spark, H)

    islands = None
    if isinstance(definition, SubscriptionChurn) or spec.has_subscriptions:
        assert data.subscriptions is not None
        gap = definition.gap_tolerance_days if isinstance(definition, SubscriptionChurn) else 0
        S = _view(data.subscriptions.frame, "subscriptions")
        islands = _view(spark.sql(islands_query(S, gap, data.subscriptions.columns, SPARK)), "islands")
    if isinstance(definition, InactivityChurn):
        signup = ""
        if accounts is not None and "signup_date" in data.accounts.columns:  # type: ignore[union-attr]
            signup = (f" AND NOT EXISTS (SELECT 1 FROM {accounts} a WHERE a.user_id = w.user_id "
                      "AND a.signup_date >= w.observation_date)")
        keys = spark.sql(f"SELECT w.user_id, w.observation_date FROM {W} w WHERE w.n_{definition.active_window_days} "
                         f"> 0{signup}")
    else:
        keys = spark.sql(f"SELECT DISTINCT i.user_id, o.observation_date FROM {islands} i JOIN {O} o "
                         "ON i.cover_start < o.observation_date AND i.cover_stop > o.observation_date")
    K = _view(keys, "keys")
    subscriptions = None
    if spec.has_subscriptions:
        assert data.subscriptions is not None and islands is not None
        subscriptions = (K, _view(data.subscriptions.frame, "subscriptions"), islands,
                         "mrr" in data.subscriptions.columns)
    select, joins = feature_items(spec, _aggregates(spec, W, H, seconds, params), SPARK, accounts=accounts,
                                  subscriptions=subscriptions)
    label_select = ""
    if labels:
        label_select, label_join = label_sql(definition, "w", islands, SPARK)
        if label_join:
            joins.append(label_join)
    out = spark.sql(f"""
        SELECT k.user_id, k.observation_date{label_select}, {', '.join(select)}
        FROM {K} k {' '.join(joins)}""")
    if spec.bgnbd_horizon_days is not None:
        out = _fill_bgnbd(out, spec)
    return out


def _bgnbd_params(spark: Any, H: str) -> str:
    """BG/NBD fitted at each date on the grouped summaries of every user's history before it (collected:
    one row per distinct triple and date); the parameters as a small view."""
    from churnml.engines import _lifetime

    summaries = spark.sql(f"""
        SELECT observation_date, CAST(life_active - 1 AS DOUBLE) AS x, span_days AS t_x, age_days AS T,
               count(*) AS n
        FROM {H} GROUP BY 1, 2, 3, 4""").toPandas()
    fitted = _lifetime.fit_bgnbd_by_date(summaries)
    rows = [(d, *[(p or {}).get(k) for k in _lifetime.PARAMS]) for d, p in fitted.items()]
    schema = "observation_date DATE, " + ", ".join(f"bg_{k} DOUBLE" for k in _lifetime.PARAMS)
    return _view(spark.createDataFrame(rows, schema), "bgnbd")


def _fill_bgnbd(frame: DataFrame, spec: FeatureSpec) -> DataFrame:
    """The BG/NBD features computed on the executors from each row's helper columns (then dropped)."""
    from churnml.engines import _lifetime

    helpers = set(_lifetime.helper_columns())
    schema = type(frame.schema)([f for f in frame.schema.fields if f.name not in helpers])

    def fill(batches: Any) -> Any:
        for batch in batches:
            yield _lifetime.fill_bgnbd(batch, spec)

    return frame.mapInPandas(fill, schema)


def _aggregates(spec: FeatureSpec, W: str, H: str, seconds: str | None, bgnbd: str | None) -> Aggregates:
    """Where this engine keeps what the shared features read: the windowed sums ``w`` over the exploded
    user-days, the history folded over date buckets ``h``, and each user's second active day ``sd``."""
    code = {name: i for i, name in enumerate(spec.type_names)}
    joins = [f"LEFT JOIN {W} w ON w.user_id = k.user_id AND w.observation_date = k.observation_date",
             f"LEFT JOIN {H} h ON h.user_id = k.user_id AND h.observation_date = k.observation_date"]
    if spec.lifetime:
        assert seconds is not None
        joins.append(f"LEFT JOIN {seconds} sd ON sd.user_id = k.user_id")
    life = {"active": "h.life_active", "value_sum": "h.life_value_sum", "value_n": "h.life_value_n",
            "age_days": "h.age_days", "span_days": "h.span_days", "first_day": "h.first_day",
            "second_day": "sd.second_day"}
    return Aggregates(
        joins=joins,
        last=lambda kind: "h.last_ts" if kind is None else f"h.last_{code[kind]}",
        first_ts="h.first_ts",
        count=lambda kind, w: f"w.n_{w}" if kind is None else f"w.n_{code[kind]}_{w}",
        previous=lambda kind, w: f"w.previous_{w}" if kind is None else f"w.previous_{code[kind]}_{w}",
        active=lambda w: "w.active_lookback" if w == spec.lookback_days else f"w.active_{w}",
        value_sum=lambda w: f"w.value_sum_{w}",
        value_n=lambda w: f"w.value_n_{w}",
        oldest_active="w.oldest_active",
        activation_day="h.activation_day",
        life_events=lambda kind: "h.life_n" if kind is None else f"h.life_{code[kind]}",
        life=life.__getitem__,
        bgnbd=bgnbd)


def to_pandas(frame: DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """A computed Spark frame in pandas, ordered and typed as the DuckDB engine returns it."""
    out = frame.orderBy("observation_date", "user_id").toPandas()
    return typed(out, spec)


class SparkEngine:
    """The cluster engine: data loaded by :func:`churnml.spark.load`, features as a Spark DataFrame."""

    name = "spark"
    loader = "churnml.spark.load"
    fit_statistics = staticmethod(fit_statistics)
    event_types = staticmethod(event_types)
    time_span = staticmethod(time_span)
    input_counts = staticmethod(input_counts)
    compute = staticmethod(compute)
    to_pandas = staticmethod(to_pandas)

    def handles(self, data: Any) -> bool:
        from churnml.engines.spark._api import SparkTrainingSet

        return isinstance(data, (SparkUsageData, SparkTrainingSet))

    def training_set(self, frame: DataFrame, *, observation_dates: list[dt.date], definition: ChurnDefinition,
                     builder: Any) -> Any:
        """The set stays on the cluster: a :class:`~churnml.spark.SparkTrainingSet`."""
        from churnml.engines.spark._api import SparkTrainingSet

        return SparkTrainingSet(frame=frame, observation_dates=observation_dates, definition=definition,
                                builder=builder)

    def trainer_class(self) -> type:
        from churnml.engines.spark._api import SparkChurnTrainer

        return SparkChurnTrainer


ENGINE = SparkEngine()
