"""Estimated against realised performance of scoring runs, and the cost of the estimate.

- Generated product: 3,000 users over 365 days (seed 11, as ``tests/conftest.py``'s
  ``small_product``), inactivity churn (30-day horizon and active window); the model is
  ``ChurnTrainer(refit=False)`` trained on the events before 2024-10-01 only, then scored at
  2024-10-01 and 2024-11-01 and evaluated on the full log.
- Online Retail (``../shared/data``, the README's mapping): inactivity churn, 90-day horizon;
  the shipped (refitted) ``ChurnTrainer()`` model trained on the events before 2011-08-01,
  scored at 2011-08-01 and 2011-09-01.
- For each run: the expected ROC-AUC from the scored probabilities, the realised one, the
  expected and realised churners with the 99% band, and the estimate with a deliberately
  broken calibrator (Platt slope 0.15 on the booster's log-odds: the same ranking).
- Cost: ``expected_performance`` on ``--accounts`` random probabilities (median of 3).

Usage::

    python bench/monitoring.py [--accounts 10000000]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"


def runs(name, data, model, dates):
    from churnml import evaluate, score
    from churnml.modeling._model import PlattCalibrator

    broken = dataclasses.replace(model, calibrator=PlattCalibrator(slope=0.15, intercept=0.0))
    for day in dates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scored = score(model, data, as_of=day, reasons="none")
            wrong = score(broken, data, as_of=day, reasons="none")
        result = evaluate(scored.frame, data, model)
        row = result.metrics.loc["model"]
        e = result.expected
        print(f"| {name} | {day} | {scored.accounts:,} | {e['churners']:,.1f} ({e['churners_low']:,.0f}..."
              f"{e['churners_high']:,.0f}) | {row['churners']:,.0f} | {e['roc_auc']:.4f} | {row['roc_auc']:.4f} | "
              f"{e['roc_auc'] - row['roc_auc']:+.4f} | {wrong.expected['roc_auc']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000_000)
    args = parser.parse_args()

    from churnml import AccountSource, ChurnTrainer, EventSource, InactivityChurn, SubscriptionSource, load
    from churnml.engines import engine_named

    engine = engine_named("duckdb")
    from churnml.features._dataset import build_dataset
    from churnml.generator import GeneratorConfig, generate
    from churnml.scoring._estimation import expected_performance

    print(f"machine: {platform.machine()}, CPython {platform.python_version()}")
    print("| data | as of | accounts | expected churners (99% band) | churned | expected AUC | realised AUC | "
          "difference | expected AUC, broken calibrator |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        paths = generate(Path(scratch), GeneratorConfig(users=3_000, days=365, seed=11, chunk_size=1_000))
        data = load(EventSource(paths["events"]), SubscriptionSource(paths["subscriptions"]),
                    AccountSource(paths["accounts"]))
        churn = InactivityChurn(horizon_days=30, active_window_days=30)
        cutoff = dt.date(2024, 10, 1)
        model = ChurnTrainer(refit=False).fit(build_dataset(engine.truncated(data, cutoff), churn,
                                                            step_days=14)).model_
        runs("generator 3,000 users", data, model, [cutoff, dt.date(2024, 11, 1)])
    if RETAIL.is_file():
        data = load(EventSource(RETAIL, user_id="CustomerID", timestamp="InvoiceDate", value="Quantity * UnitPrice",
                                where="CustomerID IS NOT NULL"))
        cutoff = dt.date(2011, 8, 1)
        training = build_dataset(engine.truncated(data, cutoff), InactivityChurn(horizon_days=90))
        model = ChurnTrainer().fit(training).model_
        runs("Online Retail", data, model, [cutoff, dt.date(2011, 9, 1)])
    p = np.random.default_rng(0).beta(0.5, 4, args.accounts)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        expected_performance(p, {"high": 0.4, "medium": 0.15})
        times.append(time.perf_counter() - start)
    print(f"expected_performance on {args.accounts:,} probabilities: {statistics.median(times):.2f} s (median of 3)")


if __name__ == "__main__":
    main()
