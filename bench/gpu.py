"""Training and explaining with ``device='cuda'`` against the CPU: same data, same process, same machine.

Run where an NVIDIA GPU is present (CI has none). The matrix is the trainer benchmark's
point-in-time training set (``bench/trainer.py``: 110k generated users, 10M events, inactivity
churn, an observation date every 9 days; about 1M rows), built on first use. Then, for each
device, in this one process:

- bare ``xgboost.train``: the trainer's parameters, a fixed number of rounds (no early
  stopping), a fresh DMatrix per run: the booster's own speed;
- ``ChurnTrainer(baselines=False, device=...).fit``: split, early stopping, calibration,
  refit with cross-fitted calibration, test metrics: what a user waits for;
- explaining accounts (rows of the matrix) with each model's ``ChurnExplainer`` as ``'auto'``
  picks it: churnml's fast engine on the CPU model, XGBoost's GPU TreeSHAP on the CUDA one;
  XGBoost's CPU ``pred_contribs`` on fewer accounts for scale; and, on the CUDA model, the fast
  engine against the GPU values (largest difference), since 'auto' promises the same values.

The first CUDA call pays the context start; a small warm-up fit runs before anything is timed.

Usage::

    python bench/gpu.py [--accounts 300000] [--accounts-cpu-xgboost 20000] [--rounds 300] [--repeat 3] [--fit-repeat 1]
    python bench/gpu.py --devices cpu   # the CPU half alone, where no GPU is present
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def timed(function, repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls, and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=300_000, help="accounts explained by the fast and GPU engines")
    parser.add_argument("--accounts-cpu-xgboost", type=int, default=20_000,
                        help="accounts explained by XGBoost's CPU pred_contribs (slow)")
    parser.add_argument("--rounds", type=int, default=300, help="rounds of the bare xgboost.train runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (the median is shown)")
    parser.add_argument("--fit-repeat", type=int, default=1, help="runs of ChurnTrainer.fit (minutes on a CPU)")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"])
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import xgboost as xgb
    from trainer import matrix

    from churnml.explain._explainer import ChurnExplainer
    from churnml.modeling._model import prepare
    from churnml.modeling._trainer import ChurnTrainer

    started = time.perf_counter()
    frame = pd.read_parquet(matrix())
    print(f"matrix ready in {time.perf_counter() - started:.1f} s", flush=True)
    X = frame.drop(columns=["user_id", "observation_date", "label"])
    y, dates = frame["label"].to_numpy(), frame["observation_date"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"xgboost {xgb.__version__}, pandas {pd.__version__}, numpy {np.__version__}")
    print(f"matrix: {len(X):,} rows x {X.shape[1]} features, {dates.nunique()} observation dates, "
          f"label rate {y.mean():.1%}", flush=True)

    if "cuda" in args.devices:
        warm_up(X, y, dates)
    fits: dict[str, tuple[float, ChurnTrainer]] = {}
    bare: dict[str, float] = {}
    for device in args.devices:
        fits[device] = timed(lambda: ChurnTrainer(device=device, baselines=False).fit(X, y, observation_dates=dates),
                             args.fit_repeat)
        trainer = fits[device][1]
        masks = trainer.split_.masks
        inputs = prepare(X, trainer.model_.columns)
        params = trainer.xgboost_params(y[masks["train"]])

        def train() -> None:
            data = xgb.DMatrix(inputs[masks["train"]], label=y[masks["train"]], enable_categorical=True)
            xgb.train(params, data, num_boost_round=args.rounds)

        bare[device], _ = timed(train, args.repeat)
        evaluation = trainer.evaluation_.loc["model"]
        print(f"{device}: ChurnTrainer.fit {fits[device][0]:.1f} s ({trainer.best_iteration_ + 1} rounds by early "
              f"stopping, test ROC AUC {evaluation['roc_auc']:.4f}, PR AUC {evaluation['pr_auc']:.4f}); "
              f"bare xgboost.train of {args.rounds} rounds on {int(masks['train'].sum()):,} rows {bare[device]:.1f} s",
              flush=True)
    if len(fits) == 2:
        print(f"cuda / cpu time: ChurnTrainer.fit {fits['cuda'][0] / fits['cpu'][0]:.2f}x, "
              f"bare xgboost.train {bare['cuda'] / bare['cpu']:.2f}x", flush=True)

    accounts = frame.sample(min(args.accounts, len(frame)), random_state=1)
    few = accounts.head(args.accounts_cpu_xgboost)
    speeds: dict[str, float] = {}
    for device in args.devices:
        model = fits[device][1].model_
        explainer = ChurnExplainer(model)
        if explainer.engine == "fast":
            explainer.explain(accounts.head(8))  # compile the engine (cached on disk after the first run)
        seconds, explanation = timed(lambda: explainer.explain(accounts), args.repeat)
        speeds[f"{device} model, {explainer.engine}"] = len(accounts) / seconds
        print(f"{device} model: ChurnExplainer engine {explainer.engine!r}, {len(accounts):,} accounts in "
              f"{seconds:.2f} s ({len(accounts) / seconds:,.0f} accounts/s)", flush=True)
        if device == "cuda":
            gpu_values = explanation.values
            fast = ChurnExplainer(model, engine="fast")
            fast.explain(accounts.head(8))
            seconds, on_cpu = timed(lambda: fast.explain(accounts), 1)
            speeds["cuda model, fast"] = len(accounts) / seconds
            print(f"cuda model: fast engine on the CPU {seconds:.2f} s ({len(accounts) / seconds:,.0f} accounts/s); "
                  f"largest difference from the GPU values {np.abs(on_cpu.values - gpu_values).max():.2e}, "
                  f"base values {on_cpu.base_value:.6f} and {explanation.base_value:.6f}", flush=True)
            booster = model.booster.copy()
            booster.set_param({"device": "cpu"})
            rows = prepare(few, model.columns)
            seconds, _ = timed(lambda: booster.predict(xgb.DMatrix(rows, enable_categorical=True), pred_contribs=True,
                                                       iteration_range=model._iterations()), 1)
            speeds["cuda model, xgboost on the CPU"] = len(few) / seconds
            print(f"cuda model: XGBoost pred_contribs on the CPU, {len(few):,} accounts in {seconds:.2f} s "
                  f"({len(few) / seconds:,.0f} accounts/s)", flush=True)
    gpu = speeds.get("cuda model, xgboost")  # absent with --devices cpu: no ratio then
    for name, speed in speeds.items():
        print(f"  {name:>32}: {speed:12,.0f} accounts/s" + (f"  {speed / gpu:6.2f}x the GPU" if gpu else ""))


def warm_up(X, y, dates) -> None:
    """Start the CUDA context and load XGBoost's GPU kernels, untimed."""
    from churnml.modeling._trainer import ChurnTrainer

    started = time.perf_counter()
    ChurnTrainer(device="cuda", baselines=False, refit=False, n_estimators=5).fit(
        X.head(20_000), y[:20_000], observation_dates=dates.head(20_000))
    print(f"CUDA warm-up fit: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
