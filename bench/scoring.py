"""Batch scoring of a large generated product: time and peak memory of ``write_scores`` against a baseline.

- Data: a generated product (default 1,400,000 users over 180 days, seed 7; cached
  in bench/out/), scored as of the day after its last event (every account with a
  running subscription is eligible).
- Model: ChurnTrainer defaults on a separate 20,000-user, 365-day product of the
  same generator (subscription churn, 30-day horizon), as in `churnml demo`.
- churnml: ``write_scores`` (features as of the date by DuckDB, chunks of 50,000
  accounts: probability, tier, revenue at risk, reasons for the high and medium
  tiers; ranked; Parquet written atomically).
- baseline: the same work done the plain way in memory: ``compute`` (all features
  in one DataFrame), ``booster.inplace_predict`` and XGBoost ``pred_contribs`` for
  the same high/medium accounts; no sentences, ranking or file. DuckDB gets the
  same 2 GB memory limit as ``write_scores`` uses by default (left at DuckDB's
  own 80% of RAM, both runs peaked at 19.7 GB: DuckDB keeps what it may).

Each runs in its own subprocess, which reports its own peak resident memory.

Usage::

    python bench/scoring.py [--users 1400000] [--days 180]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def _product(users: int, days: int, seed: int) -> Path:
    from churnml.generator import GeneratorConfig, generate

    folder = OUT / f"product_scoring_{users}_{days}_{seed}"
    if not (folder / "accounts.parquet").exists():
        generate(folder, GeneratorConfig(users=users, days=days, seed=seed, chunk_size=20_000))
    return folder


def _model(folder: Path) -> Path:
    from churnml import AccountSource, EventSource, SubscriptionSource, load
    from churnml.dataset import build_dataset
    from churnml.definitions import SubscriptionChurn
    from churnml.features import FeatureBuilder
    from churnml.trainer import ChurnTrainer

    target = OUT / "scoring_model"
    if (target / "manifest.json").exists():
        return target
    product = _product(20_000, 365, 3)
    data = load(EventSource(product / "events.parquet"), SubscriptionSource(product / "subscriptions.parquet"),
                AccountSource(product / "accounts.parquet"))
    training = build_dataset(data, SubscriptionChurn(horizon_days=30),
                             builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    return ChurnTrainer(random_state=0).fit(training).model_.save(target, overwrite=True)


def _data(folder: Path):  # noqa: ANN202
    from churnml import AccountSource, EventSource, SubscriptionSource, load

    return load(EventSource(folder / "events.parquet"), SubscriptionSource(folder / "subscriptions.parquet"),
                AccountSource(folder / "accounts.parquet"))


def child(kind: str, folder: Path, model_folder: Path) -> dict[str, float]:
    from churnml.model import load_model

    model = load_model(model_folder)
    started = time.perf_counter()
    data = _data(folder)
    if kind == "churnml":
        from churnml.scoring import write_scores

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = write_scores(model, data, OUT / "scores_1m.parquet", overwrite=True)
        out = {"accounts": result.accounts, "explained": result.explained}
    else:
        import xgboost as xgb

        from churnml._engine_duckdb import compute, time_span
        from churnml.model import prepare

        data.backend.execute("SET memory_limit = '2GB'")  # as write_scores does by default
        day = (time_span(data)[1]).date() + __import__("datetime").timedelta(days=1)
        features = compute(data, model.spec, model.churn_definition(), [day], labels=False)
        prepared = prepare(features, model.columns)
        p = model._calibrated(model.booster.inplace_predict(prepared, iteration_range=model._iterations()))
        at_risk = prepared[p >= model.info["tiers"]["medium"]]
        model.booster.predict(xgb.DMatrix(at_risk, enable_categorical=True), pred_contribs=True,
                              iteration_range=model._iterations())
        out = {"accounts": len(prepared), "explained": len(at_risk)}
    out["seconds"] = time.perf_counter() - started
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_400_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=["churnml", "baseline"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.model)))
        return
    import duckdb
    import xgboost as xgb

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    folder = _product(args.users, args.days, args.seed)
    model_folder = _model(folder)
    events = duckdb.sql(f"SELECT count(*) FROM read_parquet('{(folder / 'events.parquet').as_posix()}')").fetchall()[0][0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"xgboost {xgb.__version__}, duckdb {duckdb.__version__}")
    print(f"product: {args.users:,} users, {args.days} days, {events:,} events (prepared in "
          f"{time.perf_counter() - started:.0f} s, cached)")
    results = {}
    for kind in ("churnml", "baseline"):
        line = subprocess.run([sys.executable, __file__, "--child", kind, "--folder", str(folder), "--model",
                               str(model_folder)], capture_output=True, text=True, check=True).stdout
        results[kind] = json.loads(line.strip().splitlines()[-1])
        r = results[kind]
        print(f"{kind:>9}: {r['accounts']:,} accounts, {r['explained']:,} explained, {r['seconds']:.1f} s, "
              f"peak {r['peak_mb']:,.0f} MB")
    c, b = results["churnml"], results["baseline"]
    print(f"ratio churnml / baseline: time {c['seconds'] / b['seconds']:.2f}x, peak memory "
          f"{c['peak_mb'] / b['peak_mb']:.2f}x; accounts per second {c['accounts'] / c['seconds']:,.0f}")


if __name__ == "__main__":
    main()
