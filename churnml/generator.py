"""A synthetic product: users, their daily usage, subscriptions, and why they leave.

The generator writes the four tables churnml reads (``events``, ``subscriptions``,
``accounts``) plus ``ground_truth`` (``user_id``, ``churn_date``, ``churn_type``),
so every part of the package can be checked against a known answer.

The mechanism, which the tests and the model's drivers are checked against:

1. **Sign-up.** Users sign up uniformly over the simulated days. Each gets a
   plan (basic 29, pro 79, business 249 MRR), an acquisition channel, a
   country and a company size. Referral users start more engaged and paid
   (ads) users less; bigger companies start more engaged. Country has no effect.
2. **Engagement.** A latent log-engagement per user and day: a user baseline,
   plus a per-user drift per day of tenure (most users slowly fade, some grow),
   plus an AR(1) shock process (``phi = 0.95``, ``sigma = 0.12``).
3. **Usage.** Each day, counts of ``login``, ``core_action``, ``export`` and
   ``share`` are Poisson with rates proportional to engagement, times a weekday
   factor (weekends about half of weekdays). ``purchase`` events (add-ons) carry
   an amount in ``value``. ``support_ticket`` rates rise when engagement has
   fallen over the last 30 days (frustration).
4. **Voluntary churn.** The daily hazard is
   ``0.0005 * exp(-1.0 * log_engagement - 2.5 * trend_30d)``, times 2.5 for users
   who did no ``core_action`` in their first 7 days (not activated). So low
   engagement, falling engagement and no activation drive churn.
5. **Involuntary churn.** Every 30 days of tenure the user is billed; the charge
   fails with a per-user probability (most cards 1%, some 8%, a few 30%),
   which emits a ``payment_failure`` event. 60% of failures are recovered;
   otherwise the subscription ends 7 days later with ``end_reason =
   'payment_failed'``.
6. **Plan changes.** At each billing date a user whose engagement rose (fell)
   by more than 0.3 over the cycle upgrades (downgrades) with probability
   0.1; the old subscription row ends with ``'upgrade'``/``'downgrade'`` and a
   new one starts the same day.
7. **After churn** a user produces no events at all: every event of a churned
   user is strictly before its ``churn_date`` (midnight of the churn day), and
   the last subscription ends on that date with ``end_reason`` ``'cancelled'``
   (voluntary) or ``'payment_failed'`` (involuntary).

The same ``seed`` and ``chunk_size`` give byte-identical files. Users are
simulated in chunks, so memory stays bounded for any number of users.

Examples
--------
>>> tables = simulate_chunk(first_user_id=1, n_users=200, days=120,
...                         start=dt.date(2024, 1, 1), seed=7)
>>> sorted(tables)
['accounts', 'events', 'ground_truth', 'subscriptions']
>>> int(tables["accounts"].num_rows)
200
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["GeneratorConfig", "generate", "simulate_chunk", "EVENT_TYPES", "TABLES"]

TABLES = ("events", "subscriptions", "accounts", "ground_truth")
EVENT_TYPES = ("login", "core_action", "export", "share", "purchase", "support_ticket",
               "payment_failure")
PLANS = ("basic", "pro", "business")
PLAN_MRR = np.array([29.0, 79.0, 249.0])
PLAN_SHARE = np.array([0.6, 0.3, 0.1])
CHANNELS = ("organic", "paid", "referral")
CHANNEL_SHARE = np.array([0.45, 0.35, 0.20])
CHANNEL_EFFECT = np.array([0.0, -0.25, 0.35])
COUNTRIES = ("US", "UK", "DE", "FR", "IN", "BR")
COUNTRY_SHARE = np.array([0.40, 0.15, 0.12, 0.10, 0.13, 0.10])
SIZES = ("1-10", "11-50", "51-200", "201+")
SIZE_SHARE = np.array([0.50, 0.30, 0.15, 0.05])

# Usage rates per day at engagement 1, on an average weekday.
USAGE_RATES = {"login": 0.28, "core_action": 0.18, "export": 0.04, "share": 0.025, "purchase": 0.006}
SUPPORT_RATE = 0.006
WEEKDAY_FACTOR = np.array([1.15, 1.15, 1.15, 1.15, 1.1, 0.55, 0.45])  # Monday first
HAZARD_BASE, HAZARD_LEVEL, HAZARD_TREND, UNACTIVATED_FACTOR = 0.0005, 1.0, 2.5, 2.5
BILLING_DAYS, GRACE_DAYS, RECOVERY_RATE = 30, 7, 0.6
FAILURE_RATES, FAILURE_SHARE = np.array([0.01, 0.08, 0.30]), np.array([0.70, 0.25, 0.05])
PLAN_CHANGE_THRESHOLD, PLAN_CHANGE_RATE = 0.3, 0.1
SECONDS_PER_DAY, MICROS = 86_400, 1_000_000


@dataclass(frozen=True)
class GeneratorConfig:
    """Size and seed of a synthetic product.

    Parameters
    ----------
    users : int
        Number of users who sign up.
    days : int
        Length of the simulated history in days.
    seed : int
        Seed of every random draw.
    start : datetime.date
        First simulated day.
    chunk_size : int
        Users simulated at once; bounds memory (about 1 GB per 20,000 users
        over a year).
    """

    users: int = 10_000
    days: int = 365
    seed: int = 0
    start: dt.date = dt.date(2024, 1, 1)
    chunk_size: int = 20_000

    def validate(self) -> None:
        for name in ("users", "days", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"The {name!r} parameter of GeneratorConfig must be a positive "
                                  f"int. Got {value!r} instead.")
        if self.days < 2 * BILLING_DAYS:
            raise ConfigError(f"The 'days' parameter of GeneratorConfig must be at least "
                              f"{2 * BILLING_DAYS} so that billing and churn can happen. "
                              f"Got {self.days!r} instead.")


def generate(out: str | os.PathLike[str], config: GeneratorConfig = GeneratorConfig(), *,
             overwrite: bool = False,
             progress: Callable[[int], None] | None = None) -> dict[str, Path]:
    """Simulate a product and write its tables as Parquet files in ``out``.

    Files are written under temporary names and renamed into place only when
    all four are complete, so an interrupted run leaves earlier files intact.

    Parameters
    ----------
    out : path
        Folder for ``events.parquet``, ``subscriptions.parquet``,
        ``accounts.parquet`` and ``ground_truth.parquet``.
    config : GeneratorConfig
    overwrite : bool, default False
        Replace existing files of these names.
    progress : callable, optional
        Called with the number of users simulated after each chunk.

    Returns
    -------
    dict
        Table name -> path written.

    Raises
    ------
    churnml.errors.ConfigError
        Bad parameters, or files exist and ``overwrite`` is False.
    """
    import pyarrow.parquet as pq

    config.validate()
    folder = Path(out)
    targets = {name: folder / f"{name}.parquet" for name in TABLES}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[0]!r} already exists. Fix: pass overwrite=True "
                          "(--overwrite) or choose another folder.")
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".churnml-tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        writers: dict[str, pq.ParquetWriter] = {}
        seeds = np.random.SeedSequence(config.seed)
        n_chunks = -(-config.users // config.chunk_size)
        for index, chunk_seed in enumerate(seeds.spawn(n_chunks)):
            first = index * config.chunk_size
            n = min(config.chunk_size, config.users - first)
            tables = simulate_chunk(first_user_id=first + 1, n_users=n, days=config.days,
                                    start=config.start, seed=chunk_seed)
            for name, table in tables.items():
                if name not in writers:
                    writers[name] = pq.ParquetWriter(staging / f"{name}.parquet", table.schema,
                                                     compression="zstd")
                writers[name].write_table(table)
            if progress is not None:
                progress(first + n)
        for writer in writers.values():
            writer.close()
        for name, target in targets.items():
            os.replace(staging / f"{name}.parquet", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return targets


def simulate_chunk(*, first_user_id: int, n_users: int, days: int, start: dt.date,
                   seed: int | np.random.SeedSequence) -> dict[str, pa.Table]:
    """Simulate ``n_users`` users over ``days`` days; returns the four tables in Arrow."""
    rng = np.random.default_rng(seed)
    n = n_users
    day = np.arange(days)

    signup = rng.integers(0, days, size=n)
    plan = rng.choice(3, size=n, p=PLAN_SHARE)
    channel = rng.choice(3, size=n, p=CHANNEL_SHARE)
    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_SHARE)
    size = rng.choice(4, size=n, p=SIZE_SHARE)

    baseline = CHANNEL_EFFECT[channel] + 0.1 * size + 0.1 * plan + rng.normal(0.0, 0.5, n)
    drift = rng.normal(-0.003, 0.004, n)
    tenure = np.maximum(day[None, :] - signup[:, None], 0)
    started = day[None, :] >= signup[:, None]
    shocks = np.zeros((n, days), dtype=np.float32)
    noise = rng.normal(0.0, 0.12, (n, days)).astype(np.float32)
    for t in range(1, days):
        shocks[:, t] = np.where(started[:, t], 0.95 * shocks[:, t - 1] + noise[:, t], 0.0)
    del noise
    log_eng = (baseline[:, None] + drift[:, None] * tenure).astype(np.float32) + shocks
    del shocks
    engagement = np.exp(log_eng)
    back = np.maximum(day[None, :] - BILLING_DAYS, signup[:, None])
    trend = log_eng - np.take_along_axis(log_eng, back, axis=1)
    weekday = WEEKDAY_FACTOR[(start.weekday() + day) % 7][None, :]

    # Usage is drawn for every day a user could be active and cut at churn below.
    counts = {kind: rng.poisson(rate * engagement * weekday * started)
              for kind, rate in USAGE_RATES.items()}
    frustration = 1.0 + 4.0 * np.maximum(0.0, -trend)
    counts["support_ticket"] = rng.poisson(SUPPORT_RATE * frustration * weekday * started)

    first_week = (day[None, :] < signup[:, None] + 7) & started
    activated = (counts["core_action"] * first_week).sum(axis=1) > 0
    hazard = HAZARD_BASE * np.exp(-HAZARD_LEVEL * log_eng - HAZARD_TREND * trend)
    hazard *= np.where((~activated[:, None]) & (day[None, :] >= signup[:, None] + 7),
                       UNACTIVATED_FACTOR, 1.0)
    leaves = (rng.random((n, days)) < hazard) & (day[None, :] > signup[:, None])
    voluntary = np.where(leaves.any(axis=1), leaves.argmax(axis=1), days + GRACE_DAYS + 1)
    del leaves, hazard, engagement

    involuntary = np.full(n, days + GRACE_DAYS + 1)
    failure_rate = rng.choice(FAILURE_RATES, size=n, p=FAILURE_SHARE)
    failures: list[tuple[np.ndarray, np.ndarray]] = []
    plan_now = plan.copy()
    changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # users, day, new plan
    for cycle in range(1, days // BILLING_DAYS + 1):
        bill = signup + cycle * BILLING_DAYS
        alive = (bill < days) & (bill < np.minimum(voluntary, involuntary))
        failed = alive & (rng.random(n) < failure_rate)
        lost = failed & (rng.random(n) >= RECOVERY_RATE)
        involuntary = np.where(lost & (involuntary > bill + GRACE_DAYS), bill + GRACE_DAYS, involuntary)
        failures.append((np.flatnonzero(failed), bill[failed]))

        rows = np.flatnonzero(alive)
        change = trend[rows, bill[rows]]
        draw = rng.random(rows.size) < PLAN_CHANGE_RATE
        up = draw & (change > PLAN_CHANGE_THRESHOLD) & (plan_now[rows] < 2)
        down = draw & (change < -PLAN_CHANGE_THRESHOLD) & (plan_now[rows] > 0)
        moved = rows[up | down]
        new_plan = plan_now[moved] + np.where(up[up | down], 1, -1)
        plan_now[moved] = new_plan
        changes.append((moved, bill[moved], new_plan))

    churn = np.minimum(voluntary, involuntary)
    churned = churn < days
    churn_type = np.where(involuntary <= voluntary, "involuntary", "voluntary")
    alive_days = started & (day[None, :] < churn[:, None])

    user_ids = np.arange(first_user_id, first_user_id + n, dtype=np.int64)
    origin = np.datetime64(start, "s")
    events = _events_table(rng, counts, alive_days, failures, churn, user_ids, origin, plan)
    return {
        "events": events,
        "subscriptions": _subscriptions_table(user_ids, signup, plan, changes, churn, churned,
                                              churn_type, origin),
        "accounts": _accounts_table(user_ids, signup, plan, channel, country, size, origin),
        "ground_truth": _truth_table(user_ids, churn, churned, churn_type, origin),
    }


def _events_table(rng: np.random.Generator, counts: dict[str, np.ndarray], alive_days: np.ndarray,
                  failures: list[tuple[np.ndarray, np.ndarray]], churn: np.ndarray,
                  user_ids: np.ndarray, origin: np.datetime64, plan: np.ndarray) -> pa.Table:
    import pyarrow as pa

    users, days_, kinds = [], [], []
    for kind, matrix in counts.items():
        matrix = matrix * alive_days
        u, d = np.nonzero(matrix)
        k = matrix[u, d]
        users.append(np.repeat(u, k))
        days_.append(np.repeat(d, k))
        kinds.append(np.full(int(k.sum()), EVENT_TYPES.index(kind), dtype=np.int8))
    for u, d in failures:
        keep = d < churn[u]
        users.append(u[keep])
        days_.append(d[keep])
        kinds.append(np.full(int(keep.sum()), EVENT_TYPES.index("payment_failure"), dtype=np.int8))
    user = np.concatenate(users)
    when = np.concatenate(days_).astype(np.int64)
    kind = np.concatenate(kinds)
    # Mostly in working hours, some at any time of day.
    working = rng.random(user.size) < 0.8
    micros = np.where(working, rng.integers(8 * 3600 * MICROS, 20 * 3600 * MICROS, user.size),
                      rng.integers(0, SECONDS_PER_DAY * MICROS, user.size))
    stamp = when * SECONDS_PER_DAY * MICROS + micros
    order = np.lexsort((kind, stamp, user))
    user, stamp, kind = user[order], stamp[order], kind[order]
    value = np.full(user.size, np.nan)
    bought = kind == EVENT_TYPES.index("purchase")
    value[bought] = np.round(rng.lognormal(3.4, 0.7, int(bought.sum()))
                             * np.array([1.0, 1.5, 3.0])[plan[user[bought]]], 2)
    return pa.table({
        "user_id": pa.array(user_ids[user]),
        "timestamp": pa.array(origin.astype("datetime64[us]") + stamp.astype("timedelta64[us]")),
        "event_type": pa.DictionaryArray.from_arrays(pa.array(kind), pa.array(EVENT_TYPES)),
        "value": pa.array(value, from_pandas=True),
    })


def _subscriptions_table(user_ids: np.ndarray, signup: np.ndarray, plan: np.ndarray,
                         changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                         churn: np.ndarray, churned: np.ndarray, churn_type: np.ndarray,
                         origin: np.datetime64) -> pa.Table:
    import pyarrow as pa

    # Each plan change closes one row and opens the next on the same day.
    change_user = np.concatenate([c[0] for c in changes]) if changes else np.zeros(0, int)
    change_day = np.concatenate([c[1] for c in changes]) if changes else np.zeros(0, int)
    change_plan = np.concatenate([c[2] for c in changes]) if changes else np.zeros(0, int)
    user = np.concatenate([np.arange(user_ids.size), change_user])
    begin = np.concatenate([signup, change_day])
    plans = np.concatenate([plan, change_plan])
    order = np.lexsort((begin, user))
    user, begin, plans = user[order], begin[order], plans[order]
    last = np.r_[user[1:] != user[:-1], True]
    next_begin = np.r_[begin[1:], 0]
    next_plan = np.r_[plans[1:], 0]
    end = np.where(last, churn[user], next_begin)
    reason = np.where(last, np.where(churn_type[user] == "voluntary", "cancelled", "payment_failed"),
                      np.where(next_plan > plans, "upgrade", "downgrade"))
    open_ended = last & ~churned[user]
    day = np.timedelta64(1, "D")
    return pa.table({
        "user_id": pa.array(user_ids[user]),
        "plan": pa.array(np.array(PLANS)[plans]),
        "start": pa.array(origin + begin * day).cast(pa.timestamp("us")),
        "end": pa.array(np.where(open_ended, np.datetime64("NaT"), origin + end * day),
                        from_pandas=True).cast(pa.timestamp("us")),
        "mrr": pa.array(PLAN_MRR[plans]),
        "end_reason": pa.array(np.where(open_ended, None, reason), type=pa.string()),
    })


def _accounts_table(user_ids: np.ndarray, signup: np.ndarray, plan: np.ndarray, channel: np.ndarray,
                    country: np.ndarray, size: np.ndarray, origin: np.datetime64) -> pa.Table:
    import pyarrow as pa

    return pa.table({
        "user_id": pa.array(user_ids),
        "signup_date": pa.array(origin.astype("datetime64[D]") + signup),
        "plan": pa.array(np.array(PLANS)[plan]),
        "channel": pa.array(np.array(CHANNELS)[channel]),
        "country": pa.array(np.array(COUNTRIES)[country]),
        "company_size": pa.array(np.array(SIZES)[size]),
    })


def _truth_table(user_ids: np.ndarray, churn: np.ndarray, churned: np.ndarray,
                 churn_type: np.ndarray, origin: np.datetime64) -> pa.Table:
    import pyarrow as pa

    dates = np.where(churned, origin.astype("datetime64[D]") + churn, np.datetime64("NaT"))
    return pa.table({
        "user_id": pa.array(user_ids),
        "churn_date": pa.array(dates.astype("datetime64[D]"), from_pandas=True),
        "churn_type": pa.array(np.where(churned, churn_type, None), type=pa.string()),
    })
