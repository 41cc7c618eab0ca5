"""The DuckDB and Spark (local[2]) engines on the same generated log: time, peak memory, equal output.

Each engine runs in a fresh subprocess and does the same work: load and validate the
events, compute the point-in-time training set (features and labels) of every eligible
user at twelve monthly observation dates, and write it as Parquet. Peak memory is the
largest resident set of the subprocess and everything it started (Spark's JVM included),
sampled every 100 ms. Afterwards the two outputs are read back and compared: the same
rows, and the largest difference of any feature value.

Usage::

    python bench/spark.py                 # the ~10M-event log (111,111 users)
    python bench/spark.py --events 1      # a quick run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from features import OUT, product  # the same cached generated logs as the feature benchmark

LAST = dt.date(2024, 10, 1)
DATES = [LAST - dt.timedelta(days=30 * k) for k in range(11, -1, -1)]


def child(engine: str, folder: Path, target: Path) -> None:
    from churnml import EventSource
    from churnml.contract._definitions import InactivityChurn
    from churnml.features._spec import FeatureBuilder

    definition = InactivityChurn(horizon_days=30, active_window_days=90)
    source = EventSource(folder / "events.parquet")
    started = time.perf_counter()
    if engine == "duckdb":
        from churnml import load
        from churnml._io import write_table
        from churnml.engines import engine_named

        compute = engine_named("duckdb").compute

        data = load(source)
        builder = FeatureBuilder().fit(data, observation_dates=DATES)
        frame = compute(data, builder.spec_, definition, DATES, labels=True)
        write_table(frame, target, overwrite=True)
        rows = len(frame)
    else:
        from churnml import spark as cs
        from churnml.engines import engine_named

        compute = engine_named("spark").compute

        session = cs.session("local[2]", config={"spark.driver.memory": "4g"})
        session.sparkContext.setLogLevel("ERROR")
        data = cs.load(session, source)
        builder = FeatureBuilder(engine="spark").fit(data, observation_dates=DATES)
        compute(data, builder.spec_, definition, DATES, labels=True).write.mode("overwrite").parquet(str(target))
        rows = session.read.parquet(str(target)).count()
        session.stop()
    seconds = time.perf_counter() - started
    print(json.dumps({"engine": engine, "seconds": seconds, "rows": rows}))


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total / 2**20


def run(engine: str, folder: Path, target: Path) -> dict:
    process = subprocess.Popen([sys.executable, __file__, "--child", engine, str(folder), str(target)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    watcher.join()
    if process.returncode:
        raise SystemExit(f"{engine} failed:\n{stderr[-3000:]}")
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_mb": peak[0]}


def compare(duck: Path, spark: Path) -> tuple[int, float]:
    """Rows that differ in keys or labels (must be 0), and the largest absolute feature difference."""
    import numpy as np
    import pandas as pd

    a = pd.read_parquet(duck).sort_values(["observation_date", "user_id"]).reset_index(drop=True)
    b = pd.read_parquet(spark).sort_values(["observation_date", "user_id"]).reset_index(drop=True)
    if len(a) != len(b) or list(a.columns) != list(b.columns):
        return max(len(a), len(b)), float("inf")
    keys = ["user_id", "label"]
    dates_equal = (pd.to_datetime(a["observation_date"]) == pd.to_datetime(b["observation_date"])).to_numpy()
    different = int((~((a[keys] == b[keys]).all(axis=1).to_numpy() & dates_equal)).sum())
    worst = 0.0
    for column in a.columns[4:] if "churn_type" in a else a.columns[3:]:
        x, y = a[column].to_numpy(dtype="float64"), b[column].to_numpy(dtype="float64")
        if (np.isnan(x) != np.isnan(y)).any():
            return different, float("inf")
        both = ~np.isnan(x)
        if both.any():
            worst = max(worst, float(np.max(np.abs(x[both] - y[both]))))
    return different, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10, help="log size in millions of events")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    folder = product(args.events)
    import pyarrow.parquet as pq

    events = pq.ParquetFile(folder / "events.parquet").metadata.num_rows
    print(f"log: {events:,} events, {folder.name.split('_')[-1]} users; 12 monthly dates to {LAST}; "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    targets = {"duckdb": OUT / "spark_bench_duckdb.parquet", "spark": OUT / "spark_bench_spark"}
    results = {}
    for engine, target in targets.items():
        if target.is_dir():
            shutil.rmtree(target)
        results[engine] = run(engine, folder, target)
        r = results[engine]
        print(f"{engine:>7}: {r['seconds']:7.1f} s  peak {r['peak_mb']:7,.0f} MB  {r['rows']:,} rows")
    duck, spark = results["duckdb"], results["spark"]
    different, worst = compare(targets["duckdb"], targets["spark"])
    print(f"spark / duckdb: {spark['seconds'] / duck['seconds']:.2f}x time, {spark['peak_mb'] / duck['peak_mb']:.2f}x "
          f"peak memory; rows with different keys or labels: {different}; largest feature difference: {worst:.2e}")


if __name__ == "__main__":
    main()
