"""ChurnExplainer (contributions + reasons) against ``shap.TreeExplainer(...).shap_values`` on the same rows.

The model: 300 rounds of depth-6 trees (no early stopping) trained by ChurnTrainer
on 300k rows of the cached 1M-row training set of bench/trainer.py. Then, for
each size, on the same rows and in this one process:

- churnml: ``ChurnExplainer.explain`` (XGBoost's exact TreeSHAP, all cores) and
  ``reasons`` (top 3 drivers as sentences);
- shap: ``shap.TreeExplainer(booster).shap_values`` on the same prepared rows.

Usage::

    python bench/explain.py --accounts 100000 1000000
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
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import shap
    import xgboost as xgb
    from trainer import matrix

    from churnml.explain._explainer import ChurnExplainer
    from churnml.modeling._model import prepare
    from churnml.modeling._trainer import ChurnTrainer

    frame = pd.read_parquet(matrix())
    features = frame.drop(columns=["user_id", "observation_date", "label"])
    sample = frame.sample(300_000, random_state=0).sort_values("observation_date")
    trainer = ChurnTrainer(n_estimators=300, max_depth=6, early_stopping_rounds=10_000, baselines=False)
    trainer.fit(sample.drop(columns=["user_id", "observation_date", "label"]), sample["label"],
                observation_dates=sample["observation_date"])
    model = trainer.model_
    # All 300 rounds for both: the model's iteration range, and no early-stopping mark on the
    # booster (shap.TreeExplainer would otherwise stop at the booster's best_iteration).
    model.info["best_iteration"] = model.booster.num_boosted_rounds() - 1
    model.booster.set_attr(best_iteration=None, best_score=None)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"xgboost {xgb.__version__}, shap {shap.__version__}")
    print(f"model: {model.booster.num_boosted_rounds()} rounds, depth 6, {len(model.columns)} features")

    explainer = ChurnExplainer(model, top_k=3)
    for n in args.accounts:
        rows = features.iloc[np.arange(n) % len(features)].reset_index(drop=True)
        prepared = prepare(rows, model.columns)
        started = time.perf_counter()  # shap first, so neither side gets a warmer machine
        values = shap.TreeExplainer(model.booster).shap_values(prepared)
        theirs = time.perf_counter() - started

        started = time.perf_counter()
        explanation = explainer.explain(rows)
        contributions = time.perf_counter() - started
        started = time.perf_counter()
        reasons = explainer.reasons(rows, explanation=explanation)
        sentences = time.perf_counter() - started
        ours = contributions + sentences
        difference = float(np.abs(values - explanation.values).max())
        print(f"\n{n:,} accounts:")
        print(f"  churnml   {ours:8.1f} s  {n / ours:12,.0f} accounts/s  (contributions {contributions:.1f} s, "
              f"reasons {sentences:.1f} s = {sentences / contributions:.0%} of the SHAP time)")
        print(f"  shap      {theirs:8.1f} s  {n / theirs:12,.0f} accounts/s  (TreeExplainer.shap_values)")
        print(f"  churnml is {theirs / ours:.2f}x as fast; max |difference| {difference:.2e}; "
              f"example: {reasons['reason_1'].iloc[0]!r}")


if __name__ == "__main__":
    main()
