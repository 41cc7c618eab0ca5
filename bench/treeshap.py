"""Exact TreeSHAP engines on the same accounts: churnml's fast engine, XGBoost ``pred_contribs``, shap.

Models: ChurnTrainer on 300k rows of the trainer benchmark's cached matrix (63
features), 300 rounds without early stopping, at depth 4, 6 and 8. For each,
the same accounts (rows of that matrix) go through, in this one process:

- churnml fast engine (Fast TreeSHAP v2 in numba, all cores; compiled before timing);
- XGBoost ``pred_contribs`` (a fresh DMatrix, all cores);
- ``shap.TreeExplainer(booster).shap_values``.

It prints accounts per second, the ratio to ``pred_contribs``, the largest
difference from it, and the engine's extra memory (its subset tables).

Usage::

    python bench/treeshap.py [--accounts 100000] [--depths 4 6 8] [--accounts-other 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts at depth 6")
    parser.add_argument("--accounts-other", type=int, default=20_000, help="accounts at the other depths")
    parser.add_argument("--depths", type=int, nargs="+", default=[6, 4, 8])
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import shap
    import xgboost as xgb
    from trainer import matrix

    from churnml.explain._treeshap import FastTreeShap, matrix_of
    from churnml.modeling._model import prepare
    from churnml.modeling._trainer import ChurnTrainer

    frame = pd.read_parquet(matrix())
    sample = frame.sample(300_000, random_state=0).sort_values("observation_date")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"xgboost {xgb.__version__}, shap {shap.__version__}")
    for depth in args.depths:
        trainer = ChurnTrainer(n_estimators=300, max_depth=depth, early_stopping_rounds=10_000, baselines=False)
        trainer.fit(sample.drop(columns=["user_id", "observation_date", "label"]), sample["label"],
                    observation_dates=sample["observation_date"])
        model = trainer.model_
        booster = model.booster
        booster.set_attr(best_iteration=None, best_score=None)  # all 300 rounds for every engine
        n = args.accounts if depth == 6 else args.accounts_other
        rows = prepare(frame.sample(n, random_state=1), model.columns)
        X = matrix_of(rows)
        started = time.perf_counter()
        engine = FastTreeShap.from_booster(booster)
        engine.shap_values(X[:8])  # compile (cached on disk after the first run)
        build = time.perf_counter() - started
        timings = {}
        started = time.perf_counter()
        fast = engine.shap_values(X)
        timings["churnml fast engine"] = time.perf_counter() - started
        started = time.perf_counter()
        reference = booster.predict(xgb.DMatrix(rows, enable_categorical=True), pred_contribs=True)
        timings["xgboost pred_contribs"] = time.perf_counter() - started
        started = time.perf_counter()
        shap.TreeExplainer(booster).shap_values(rows)
        timings["shap.TreeExplainer"] = time.perf_counter() - started
        margin = booster.predict(xgb.DMatrix(rows, enable_categorical=True), output_margin=True)
        print(f"depth {depth}: {booster.num_boosted_rounds()} rounds, {len(model.columns)} features, {n:,} accounts; "
              f"fast engine tables {engine.table_bytes / 1e6:,.1f} MB, built and compiled in {build:.1f} s")
        base = timings["xgboost pred_contribs"]
        for name, seconds in timings.items():
            print(f"  {name:>22}: {seconds:8.1f} s  {n / seconds:9,.0f} accounts/s  {base / seconds:5.2f}x pred_contribs")
        print(f"  largest difference from pred_contribs {np.abs(fast - reference[:, :-1]).max():.2e}; "
              f"rows add up to the margin within {np.abs(fast.sum(axis=1) + engine.base_value - margin).max():.2e}")


if __name__ == "__main__":
    main()
