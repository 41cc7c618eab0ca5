"""The retention report of a large scores file: time and size of ``write_report``.

- Scores: a synthetic file in the output schema of ``churnml score`` (default
  1,000,000 accounts, seed 0): probabilities from a beta distribution, tiers at
  0.5 / 0.2, revenue at risk, three reasons (sentence, feature, contribution) for
  the high and medium tiers; cached in bench/out/.
- Report: ``write_report`` with its defaults (1,000 listed accounts carry the
  per-account detail), no model and no event log.

Usage::

    python bench/report.py [--accounts 1000000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
FEATURES = ["days_since_last_event", "activated", "count_events_30d", "trend_count_30d", "value_sum_30d",
            "count_payment_failure_30d", "downgrades_90d", "tenure_days"]


def _scores(accounts: int, seed: int) -> Path:
    import datetime as dt

    import numpy as np
    import pandas as pd

    path = OUT / f"report_scores_{accounts}_{seed}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 6.0, accounts)
    order = np.argsort(-p, kind="stable")
    p = p[order]
    tier = np.where(p >= 0.5, "high", np.where(p >= 0.2, "medium", "low"))
    frame = pd.DataFrame({"user_id": rng.permutation(accounts) + 1, "as_of": dt.date(2024, 12, 1),
                          "churn_probability": p, "risk_tier": tier, "rank": np.arange(1, accounts + 1),
                          "revenue_at_risk": p * rng.choice([29.0, 79.0, 249.0], accounts)})
    explained = tier != "low"
    for i in (1, 2, 3):
        feature = np.array(FEATURES, dtype=object)[rng.integers(0, len(FEATURES), accounts)]
        frame[f"reason_{i}_feature"] = np.where(explained, feature, None)
        frame[f"reason_{i}"] = np.where(explained, "Reason about " + feature.astype(str), None)
        frame[f"reason_{i}_contribution"] = np.where(explained, rng.exponential(0.5, accounts) / i, np.nan)
    OUT.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, row_group_size=65_536)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from churnml.reporting._report import write_report

    scores = _scores(args.accounts, args.seed)
    out = OUT / "report_bench.html"
    start = time.perf_counter()
    write_report(scores, out, overwrite=True)
    seconds = time.perf_counter() - start
    print(f"write_report of {args.accounts:,} scored accounts ({scores.stat().st_size / 1e6:.1f} MB of scores): "
          f"{seconds:.1f} s, report {out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
