"""Feature engine against the pandas reference: time and peak memory, one date and twelve.

For each log size it generates a product (cached under bench/out/), then runs, each in
a fresh subprocess so its peak resident memory is its own:

- ``duckdb-1``: the DuckDB engine, features of every eligible user at one date;
- ``duckdb-12``: the same at twelve monthly dates (one pass over the events);
- ``pandas-1``: the pandas reference in tests/reference.py at the same date
  (reading the Parquet log into pandas is part of its work, as it is for DuckDB);
- ``polars-1``: a hand-written lazy polars query of the same features run with the
  streaming engine (bench/polars_features.py); it reads the log unvalidated;
- ``duckdb-1-unchecked``: the DuckDB engine on the Parquet log without churnml's load
  (no validation, duplicate screen, outlier check or report), what polars-1 does.

The one-date outputs of duckdb-1 and polars-1 are written (after the timing) and
checked equal, per column to 1e-9, same users in the same order.

polars is not a churnml dependency: ``pip install polars`` (or ``pip install -e '.[bench]'``).

Usage::

    python bench/features.py                    # about 10M and 50M events
    python bench/features.py --events 10
    python bench/features.py --kinds duckdb-1 polars-1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _memory import peak_mb

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


KINDS = ("duckdb-1", "duckdb-1-unchecked", "duckdb-12", "polars-1", "pandas-1")
CHECKED = ("duckdb-1", "polars-1")  # their outputs are compared


def unchecked(events: Path):
    """The events as churnml's engine reads them, without churnml's load: a bare view of the Parquet
    file and a stand-in report (the engine reads only the count of missing values from it)."""
    from churnml._duckdb import Backend, fresh_name, quote_identifier
    from churnml.contract import LoadReport, LoadedTable, UsageData

    backend, view = Backend(), fresh_name("events")
    backend.execute(f"CREATE TEMP VIEW {quote_identifier(view)} AS SELECT user_id, \"timestamp\", "
                    f"CAST(event_type AS VARCHAR) AS event_type, value FROM read_parquet('{events}')")
    report = LoadReport(table="events", source=str(events), columns={}, rows_read=0, rows_loaded=0, dropped={},
                        duplicate_rows=0, users=0, first=None, last=None, null_counts={"value": 1}, notes=())
    return UsageData(events=LoadedTable(table="events", view=view, backend=backend, report=report,
                                        columns=("user_id", "timestamp", "event_type", "value")))


def child(kind: str, folder: Path) -> None:
    from churnml import EventSource, load
    from churnml.contract._definitions import InactivityChurn
    from churnml.features._spec import FeatureSpec

    definition = InactivityChurn(horizon_days=90, active_window_days=90)
    spec = FeatureSpec.from_json((folder / "spec.json").read_text())
    started = time.perf_counter()
    if kind.startswith("duckdb"):
        from churnml.engines import engine_named

        compute = engine_named("duckdb").compute

        dates = [DATE] if kind != "duckdb-12" else [DATE - dt.timedelta(days=30 * k) for k in range(11, -1, -1)]
        data = unchecked(folder / "events.parquet") if kind == "duckdb-1-unchecked" else \
            load(EventSource(folder / "events.parquet"))
        frame = compute(data, spec, definition, dates, labels=False)
    elif kind == "polars-1":
        sys.path.insert(0, str(ROOT / "bench"))
        from polars_features import features

        frame = features(folder / "events.parquet", DATE, spec, active_window_days=definition.active_window_days)
    else:
        import pandas as pd

        sys.path.insert(0, str(ROOT / "tests"))
        from reference import reference

        events = pd.read_parquet(folder / "events.parquet")
        frame = reference(events, DATE, spec, definition, labels=False)
    seconds = time.perf_counter() - started
    peak = peak_mb()
    if kind == "polars-1":
        frame.write_parquet(folder / f"check_{kind}.parquet")
    elif kind in CHECKED:
        frame.to_parquet(folder / f"check_{kind}.parquet")
    print(json.dumps({"kind": kind, "seconds": seconds, "peak_mb": peak, "rows": len(frame)}))


def run(kind: str, folder: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, str(folder)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_equal(folder: Path, spec) -> str:
    """duckdb-1 and polars-1 agree: the same users in the same order, every feature to 1e-9."""
    import numpy as np
    import pandas as pd

    ours, theirs = (pd.read_parquet(folder / f"check_{kind}.parquet") for kind in CHECKED)
    if len(ours) != len(theirs) or not (ours["user_id"].to_numpy() == theirs["user_id"].to_numpy()).all():
        return f"NOT EQUAL: users differ ({len(ours):,} against {len(theirs):,} rows)"
    names = [info.name for info in spec.features()]
    bad = [name for name in names if not np.allclose(ours[name].to_numpy("float64"), theirs[name].to_numpy("float64"),
                                                     rtol=1e-9, atol=1e-9, equal_nan=True)]
    return f"NOT EQUAL in {bad}" if bad else f"equal: {len(ours):,} users, {len(names)} features to 1e-9"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[10, 50], help="log sizes in millions of events")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (the median is shown)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what to run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return

    import duckdb
    import polars

    from churnml import EventSource, load
    from churnml.features._spec import FeatureBuilder, FeatureSpec

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"duckdb {duckdb.__version__}, polars {polars.__version__}")
    for millions in args.events:
        folder = product(millions)
        data = load(EventSource(folder / "events.parquet"))
        (folder / "spec.json").write_text(FeatureBuilder().fit(data, observation_dates=[DATE]).spec_.to_json())
        n_events = data.events.report.rows_loaded
        print(f"\nlog: {n_events:,} events, {data.events.report.users:,} users; date {DATE} "
              f"(median of {args.repeat})")
        results = {}
        for kind in args.kinds:
            runs = sorted((run(kind, folder) for _ in range(args.repeat)), key=lambda r: r["seconds"])
            results[kind] = runs[len(runs) // 2]
            r = results[kind]
            print(f"  {kind:<19} {r['seconds']:>7.1f} s  peak {r['peak_mb']:>7,.0f} MB  rows {r['rows']:>9,}",
                  flush=True)

        def ratio(top: str, bottom: str, label: str) -> None:
            if top in results and bottom in results:
                a, b = results[top], results[bottom]
                print(f"  {label:<38} time {a['seconds'] / b['seconds']:.2f}x  "
                      f"peak memory {a['peak_mb'] / b['peak_mb']:.2f}x")

        ratio("duckdb-1", "pandas-1", "one date, DuckDB / pandas:")
        ratio("duckdb-1", "polars-1", "one date, DuckDB / polars:")
        ratio("duckdb-1-unchecked", "polars-1", "one date, DuckDB unchecked / polars:")
        if "duckdb-12" in results and "duckdb-1" in results:
            print(f"  twelve dates / one date (DuckDB): "
                  f"{results['duckdb-12']['seconds'] / results['duckdb-1']['seconds']:.2f}x")
        if all(kind in results for kind in CHECKED):
            print(f"  duckdb-1 against polars-1: {check_equal(folder, FeatureSpec.from_json((folder / 'spec.json').read_text()))}")


if __name__ == "__main__":
    main()
