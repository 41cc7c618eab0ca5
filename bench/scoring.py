"""Batch scoring of a large generated product: ``score`` against computing the features alone.

- Data: a generated product (default 1,400,000 users over 180 days, seed 7; cached
  in bench/out/), scored as of the day after its last event (every account with a
  running subscription is eligible).
- Model: ChurnTrainer defaults on a separate 20,000-user, 365-day product of the
  same generator (subscription churn, 30-day horizon), as in `churnml demo`.
- ``features``: what ``churnml features --as-of`` does once the spec is known: the
  model's features of every eligible account as of the date (``compute``, DuckDB at
  its default memory limit, as the ``features`` command leaves it), written to
  Parquet atomically. The floor scoring is measured against. ``features capped``: the
  same under the DuckDB memory limit of the scoring runs (``--memory-limit``, default
  scoring's own; a reference line: what the cap costs the features alone).
- ``score --reasons none``, ``score`` (reasons for the high and medium tiers, the
  default) and ``score --reasons all``: ``write_scores`` with the CLI's defaults
  (chunks of 50,000 accounts, DuckDB memory limit scoring's default unless ``--memory-limit``):
  probability, tier, rank, revenue at risk, reasons as sentences, drift counts,
  Parquet written atomically.

Each run is its own subprocess, which reports its own peak resident memory
(``VmHWM``, loading included; see bench/_memory.py); with ``--repeats N`` the kinds take turns N times
and the medians are printed (peak: the largest). ``--kinds`` runs a subset (``features``,
the floor, always runs); ``--memory-limit`` sets the cap of the scoring runs and of
``features capped`` (default scoring's own, ``churnml._duckdb.SCORING_MEMORY_LIMIT``; ``none``: DuckDB's
default).

Usage::

    python bench/scoring.py [--users 1400000] [--days 180] [--repeats 1]
    python bench/scoring.py --kinds features "score --reasons none" score --memory-limit 2.5GB
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from _memory import peak_mb

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
KINDS = ("features", "features capped", "score --reasons none", "score", "score --reasons all")


def _product(users: int, days: int, seed: int) -> Path:
    from churnml.generator import GeneratorConfig, generate

    folder = OUT / f"product_scoring_{users}_{days}_{seed}"
    if not (folder / "accounts.parquet").exists():
        generate(folder, GeneratorConfig(users=users, days=days, seed=seed, chunk_size=20_000))
    return folder


def _model(folder: Path) -> Path:
    from churnml import AccountSource, EventSource, SubscriptionSource, load
    from churnml.contract._definitions import SubscriptionChurn
    from churnml.features._dataset import build_dataset
    from churnml.features._spec import FeatureBuilder
    from churnml.modeling._trainer import ChurnTrainer

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


def child(kind: str, folder: Path, model_folder: Path, memory_limit: str) -> dict[str, float]:
    from churnml.modeling._model import load_model

    model = load_model(model_folder)
    cap = None if memory_limit == "none" else memory_limit  # what scoring's memory_limit= takes
    started = time.perf_counter()
    data = _data(folder)
    if kind.startswith("features"):
        import datetime as dt

        from churnml._io import write_table
        from churnml.engines import engine_named

        compute, time_span = engine_named("duckdb").compute, engine_named("duckdb").time_span

        if kind == "features capped" and cap is not None:
            data.backend.execute(f"SET memory_limit = '{cap}'")  # scoring's cap: what the cap costs
        day = time_span(data)[1].date() + dt.timedelta(days=1)
        frame = compute(data, model.spec, model.churn_definition(), [day], labels=False)
        write_table(frame, OUT / "features_1m.parquet", overwrite=True)
        out = {"accounts": len(frame), "explained": 0}
    else:
        from churnml.scoring._scoring import write_scores

        reasons = kind.removeprefix("score").removeprefix(" --reasons ") or "tiers"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = write_scores(model, data, OUT / f"scores_1m_{reasons}.parquet", overwrite=True,
                                  reasons=reasons, memory_limit=cap)
        out = {"accounts": result.accounts, "explained": result.explained}
    out["seconds"] = time.perf_counter() - started
    out["peak_mb"] = peak_mb()
    return out


def _warm_up(model_folder: Path) -> None:
    """Compile (and cache on disk) the TreeSHAP kernel once, so no timed run pays numba's compilation."""
    import numpy as np

    from churnml.explain._explainer import ChurnExplainer
    from churnml.modeling._model import load_model

    fast = ChurnExplainer(load_model(model_folder)).fast_engine()
    fast.shap_values(np.zeros((1, fast.n_features)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_400_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what to run")
    from churnml._duckdb import SCORING_MEMORY_LIMIT

    parser.add_argument("--memory-limit", default=SCORING_MEMORY_LIMIT,
                        help="DuckDB's cap in the scoring runs ('none': its default)")
    parser.add_argument("--child", choices=KINDS)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.model, args.memory_limit)))
        return
    import duckdb
    import xgboost as xgb

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    folder = _product(args.users, args.days, args.seed)
    model_folder = _model(folder)
    _warm_up(model_folder)
    events = duckdb.sql(f"SELECT count(*) FROM read_parquet('{(folder / 'events.parquet').as_posix()}')").fetchall()[0][0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"xgboost {xgb.__version__}, duckdb {duckdb.__version__}")
    print(f"product: {args.users:,} users, {args.days} days, {events:,} events (prepared in "
          f"{time.perf_counter() - started:.0f} s, cached)")
    kinds = [kind for kind in KINDS if kind == "features" or kind in args.kinds]
    print(f"memory limit of the scoring runs: {args.memory_limit}")
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            line = subprocess.run([sys.executable, __file__, "--child", kind, "--folder", str(folder), "--model",
                                   str(model_folder), "--memory-limit", args.memory_limit],
                                  capture_output=True, text=True, check=True).stdout
            runs[kind].append(json.loads(line.strip().splitlines()[-1]))
    floor = statistics.median(r["seconds"] for r in runs["features"])
    print(f"{'run':>22} | {'accounts':>9} | {'explained':>9} | {'time':>8} | {'accounts/s':>10} | "
          f"{'peak':>8} | vs features")
    for kind in kinds:
        seconds = statistics.median(r["seconds"] for r in runs[kind])
        peak = max(r["peak_mb"] for r in runs[kind])
        last = runs[kind][-1]
        times = ", ".join(f"{r['seconds']:.1f}" for r in runs[kind])
        spread = f" (runs: {times})" if args.repeats > 1 else ""
        print(f"{kind:>22} | {last['accounts']:>9,} | {last['explained']:>9,} | {seconds:>6.1f} s | "
              f"{last['accounts'] / seconds:>10,.0f} | {peak:>5,.0f} MB | {seconds / floor:.2f}x{spread}")


if __name__ == "__main__":
    main()
