"""Retention analytics on a large generated log: DuckDB over Parquet against a pandas reference.

Data: the cached 10M-event product of bench/features.py (110,000 users over a
year, seed 0; generated here if missing). Each run is its own subprocess and
reports its own peak resident memory (``VmHWM``, see bench/_memory.py), loading included:

- churnml: every analytics computation (churn rate by subscriptions and by
  inactivity, revenue churn, activation, inactive accounts, segments, cohorts),
  each timed;
- churnml-pair: only the inactivity churn rate and the cohort matrix;
- pandas: the same pair the plain way: the events read into a DataFrame, the
  monthly inactivity churn rate and the cohort matrix computed with groupby.

Usage::

    python bench/analytics.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _memory import peak_mb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _folder() -> Path:
    from features import product  # the features benchmark's cached products

    return product(10)


def _load(folder: Path):  # noqa: ANN202
    from churnml import AccountSource, EventSource, SubscriptionSource, load

    return load(EventSource(folder / "events.parquet"), SubscriptionSource(folder / "subscriptions.parquet"),
                AccountSource(folder / "accounts.parquet"))


def _pandas_pair(folder: Path) -> dict[str, float]:
    """Monthly inactivity churn rate (30-day window) and the cohort matrix, in pandas."""
    import numpy as np
    import pandas as pd

    events = pd.read_parquet(folder / "events.parquet", columns=["user_id", "timestamp"])
    days = events.assign(day=events["timestamp"].dt.normalize())[["user_id", "day"]].drop_duplicates()
    first, end = days["day"].min(), days["day"].max() + pd.Timedelta(days=1)
    starts = pd.date_range(first.to_period("M").to_timestamp() + pd.offsets.MonthBegin(1), end, freq="MS")
    rows = []
    for s, e in zip(starts[:-1], starts[1:]):
        window = days[(days["day"] >= s - pd.Timedelta(days=30)) & (days["day"] < e)]
        before_start = window[window["day"] < s].groupby("user_id")["day"].max()
        before_end = window.groupby("user_id")["day"].max()
        active = before_start.index[before_start >= s - pd.Timedelta(days=30)]
        lost = before_end.loc[active] < e - pd.Timedelta(days=30)
        rows.append((s, len(active), int(lost.sum())))
    months = days.assign(month=days["day"].dt.to_period("M"))
    signup = months.groupby("user_id")["month"].min().rename("cohort")
    active = months[["user_id", "month"]].drop_duplicates().join(signup, on="user_id")
    active["k"] = (active["month"] - active["cohort"]).apply(lambda offset: offset.n)
    matrix = active.groupby(["cohort", "k"]).size().unstack(fill_value=0)
    shares = matrix.div(signup.value_counts().sort_index(), axis=0)
    return {"periods": len(rows), "churned": float(np.sum([r[2] for r in rows])), "cohorts": len(shares)}


def child(kind: str) -> dict[str, object]:
    from churnml.reporting import analytics

    folder = _folder()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    out: dict[str, object] = {}
    if kind == "pandas":
        out.update(_pandas_pair(folder))
    else:
        data = _load(folder)
        tasks = {"churn rate (inactivity)": lambda: analytics.churn_rate(data, basis="inactivity"),
                 "cohorts": lambda: analytics.cohorts(data)}
        if kind == "churnml":
            tasks = {"churn rate (subscriptions)": lambda: analytics.churn_rate(data), **tasks,
                     "revenue churn": lambda: analytics.revenue_churn(data),
                     "activation": lambda: analytics.activation(data, events=["core_action"], days=7),
                     "inactive": lambda: analytics.inactive(data),
                     "segments": lambda: analytics.segments(data)}
        for name, task in tasks.items():
            t = time.perf_counter()
            result = task()
            timings[name] = time.perf_counter() - t
            if name == "churn rate (inactivity)":
                out["churned"] = float(result["churned"].sum())
                out["periods"] = len(result)
    out["timings"] = timings
    out["seconds"] = time.perf_counter() - started
    out["peak_mb"] = peak_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["churnml", "churnml-pair", "pandas"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    import duckdb

    folder = _folder()
    events = duckdb.sql(f"SELECT count(*) FROM read_parquet('{(folder / 'events.parquet').as_posix()}')").fetchall()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"duckdb {duckdb.__version__}; data: {events[0][0]:,} events")
    results = {}
    for kind in ("churnml", "churnml-pair", "pandas"):
        line = subprocess.run([sys.executable, __file__, "--child", kind], capture_output=True, text=True,
                              check=True).stdout
        results[kind] = r = json.loads(line.strip().splitlines()[-1])
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in r["timings"].items())
        print(f"{kind:>12}: {r['seconds']:.1f} s, peak {r['peak_mb']:,.0f} MB{'; ' + timings if timings else ''}")
    pair, reference = results["churnml-pair"], results["pandas"]
    assert pair["churned"] == reference["churned"], (pair["churned"], reference["churned"])
    print(f"same churned counts ({pair['churned']:,.0f} over {pair['periods']} months); churnml / pandas: time "
          f"{pair['seconds'] / reference['seconds']:.2f}x, peak memory {pair['peak_mb'] / reference['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
