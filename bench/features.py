"""Feature engine against the pandas reference: time and peak memory, one date and twelve.

For each log size it generates a product (cached under bench/out/), then runs, each in
a fresh subprocess so its peak resident memory is its own:

- ``duckdb-1``: the DuckDB engine, features of every eligible user at one date;
- ``duckdb-12``: the same at twelve monthly dates (one pass over the events);
- ``pandas-1``: the pandas reference in tests/reference.py at the same date
  (reading the Parquet log into pandas is part of its work, as it is for DuckDB).

Usage::

    python bench/features.py                    # about 10M and 50M events
    python bench/features.py --events 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DATE = dt.date(2024, 10, 1)
EVENTS_PER_USER = 90  # what the generator produces over a year, about


def product(millions: int) -> Path:
    from churnml.generator import GeneratorConfig, generate

    users = millions * 1_000_000 // EVENTS_PER_USER
    folder = OUT / f"product_{users}"
    if not (folder / "events.parquet").exists():
        generate(folder, GeneratorConfig(users=users, days=365, seed=0), overwrite=True)
    return folder


def child(kind: str, folder: Path) -> None:
    from churnml import EventSource, load
    from churnml.definitions import InactivityChurn
    from churnml.features import FeatureSpec

    definition = InactivityChurn(horizon_days=90, active_window_days=90)
    spec = FeatureSpec.from_json((folder / "spec.json").read_text())
    started = time.perf_counter()
    if kind.startswith("duckdb"):
        from churnml._engine_duckdb import compute

        dates = [DATE] if kind == "duckdb-1" else [DATE - dt.timedelta(days=30 * k) for k in range(11, -1, -1)]
        frame = compute(load(EventSource(folder / "events.parquet")), spec, definition, dates, labels=False)
    else:
        import pandas as pd

        sys.path.insert(0, str(ROOT / "tests"))
        from reference import reference

        events = pd.read_parquet(folder / "events.parquet")
        frame = reference(events, DATE, spec, definition, labels=False)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "seconds": seconds, "peak_mb": peak, "rows": len(frame)}))


def run(kind: str, folder: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, str(folder)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[10, 50], help="log sizes in millions of events")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (the median is shown)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return

    import duckdb

    from churnml import EventSource, load
    from churnml.features import FeatureBuilder

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"duckdb {duckdb.__version__}")
    for millions in args.events:
        folder = product(millions)
        data = load(EventSource(folder / "events.parquet"))
        (folder / "spec.json").write_text(FeatureBuilder().fit(data, observation_dates=[DATE]).spec_.to_json())
        n_events = data.events.report.rows_loaded
        print(f"\nlog: {n_events:,} events, {data.events.report.users:,} users; date {DATE} "
              f"(median of {args.repeat})")
        results = {}
        for kind in ("duckdb-1", "duckdb-12", "pandas-1"):
            runs = sorted((run(kind, folder) for _ in range(args.repeat)), key=lambda r: r["seconds"])
            results[kind] = runs[len(runs) // 2]
            r = results[kind]
            print(f"  {kind:<10} {r['seconds']:>7.1f} s  peak {r['peak_mb']:>7,.0f} MB  rows {r['rows']:>9,}")
        one, twelve, pandas = results["duckdb-1"], results["duckdb-12"], results["pandas-1"]
        print(f"  one date, DuckDB / pandas:  time {one['seconds'] / pandas['seconds']:.2f}x  "
              f"peak memory {one['peak_mb'] / pandas['peak_mb']:.2f}x")
        print(f"  twelve dates / one date (DuckDB): {twelve['seconds'] / one['seconds']:.2f}x")


if __name__ == "__main__":
    main()
