"""ChurnTrainer against bare ``xgboost.train`` on the same prepared matrix and rounds.

The matrix is a point-in-time training set of a generated product (about 1M rows:
110k users, 10M events, inactivity churn, an observation date every 9 days),
built once and cached under bench/out/. Then, in this one process:

- ``ChurnTrainer(baselines=False).fit``: split by date, booster with early stopping,
  calibration, test-slice evaluation (no plots, no MLflow): the wrapper;
- ``ChurnTrainer().fit``: the same plus the two baseline models;
- bare: ``xgboost.DMatrix`` of the same train and validation rows and
  ``xgboost.train`` with the same parameters, evaluation set and number of rounds
  the trainer ran (early stopping included);
- ``log_training`` of the fitted trainer without plots, into a temporary SQLite store.

Usage::

    python bench/trainer.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))


def matrix() -> Path:
    """The cached training set (Parquet), built on first use."""
    from features import product

    path = OUT / "training_1m.parquet"
    if not path.exists():
        from churnml import EventSource, build_dataset, load
        from churnml._io import write_table
        from churnml.contract._definitions import InactivityChurn

        folder = product(10)
        data = load(EventSource(folder / "events.parquet"))
        training = build_dataset(data, InactivityChurn(horizon_days=90, active_window_days=90), step_days=9)
        write_table(training.frame, path, overwrite=True)
        del dt
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (the median is shown)")
    args = parser.parse_args()

    import pandas as pd
    import xgboost as xgb

    from churnml.modeling._trainer import ChurnTrainer
    from churnml.tracking._runs import log_training

    frame = pd.read_parquet(matrix())
    X = frame.drop(columns=["user_id", "observation_date", "label"])
    y, dates = frame["label"].to_numpy(), frame["observation_date"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"xgboost {xgb.__version__}")
    print(f"matrix: {len(X):,} rows x {X.shape[1]} features, {dates.nunique()} observation dates, "
          f"label rate {y.mean():.1%}")

    full, wrapped, bare, logged = [], [], [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        trainer = ChurnTrainer().fit(X, y, observation_dates=dates)
        full.append(time.perf_counter() - started)
        rounds = trainer.model_.booster.num_boosted_rounds()

        started = time.perf_counter()
        alone = ChurnTrainer(baselines=False).fit(X, y, observation_dates=dates)
        wrapped.append(time.perf_counter() - started)
        assert alone.model_.booster.num_boosted_rounds() == rounds

        from churnml.modeling._model import prepare

        masks = trainer.split_.masks
        started = time.perf_counter()
        inputs = prepare(X, trainer.model_.columns)  # numbers as float64, categories on fixed levels
        train = xgb.DMatrix(inputs[masks["train"]], label=y[masks["train"]], enable_categorical=True)
        validation = xgb.DMatrix(inputs[masks["validation"]], label=y[masks["validation"]], enable_categorical=True)
        xgb.train(trainer.xgboost_params(y[masks["train"]]), train, num_boost_round=rounds,
                  evals=[(validation, "validation")], verbose_eval=False)
        bare.append(time.perf_counter() - started)

        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mlflow

            uri = f"sqlite:///{Path(scratch, 'mlflow.db').as_posix()}"
            mlflow.set_tracking_uri(uri)
            mlflow.create_experiment("bench", artifact_location=Path(scratch, "artifacts").as_uri())
            started = time.perf_counter()
            log_training(trainer, tracking_uri_=uri, experiment="bench", register=None, plots=False)
            logged.append(time.perf_counter() - started)
        print(f"  run: bare xgboost.train {bare[-1]:.1f} s ({rounds} rounds), ChurnTrainer.fit without "
              f"baselines {wrapped[-1]:.1f} s, with baselines {full[-1]:.1f} s, MLflow logging {logged[-1]:.1f} s",
              flush=True)

    b, w, f, m = (statistics.median(v) for v in (bare, wrapped, full, logged))
    print(f"median of {args.repeat}: bare xgboost.train {b:.1f} s; ChurnTrainer.fit {w:.1f} s ({w / b:.2f}x); "
          f"with both baselines {f:.1f} s ({f / b:.2f}x); plus MLflow logging without plots {m:.1f} s "
          f"({(f + m) / b:.2f}x)")
    print("test slice:", trainer.evaluation_[["roc_auc", "pr_auc", "ece"]].round(4).to_dict("index"))


if __name__ == "__main__":
    main()
