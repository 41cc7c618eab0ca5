"""Generator throughput: users/s, events/s and peak memory, against a bare Parquet write.

Each size runs in a fresh subprocess so that its peak resident memory is its own.
The baseline, run in the same command, writes the generated events table again
with bare ``pyarrow.parquet.write_table``: the I/O floor any generator pays.

Usage::

    python bench/generator.py                       # 100k users x 365 days
    python bench/generator.py --users 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import peak_mb


def child(users: int, days: int, out: str) -> None:
    import pyarrow.parquet as pq

    from churnml.generator import GeneratorConfig, generate

    started = time.perf_counter()
    paths = generate(out, GeneratorConfig(users=users, days=days, seed=0), overwrite=True)
    seconds = time.perf_counter() - started
    peak = peak_mb()
    events = pq.read_table(paths["events"])
    started = time.perf_counter()
    pq.write_table(events, Path(out) / "baseline_events.parquet", compression="zstd")
    write_seconds = time.perf_counter() - started
    print(json.dumps({"users": users, "days": days, "events": events.num_rows, "seconds": seconds,
                      "peak_mb": peak, "write_seconds": write_seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[100_000])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.users[0], args.days, args.out)
        return

    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{__import__('os').cpu_count()} cores")
    print(f"{'users':>10} {'days':>5} {'events':>12} {'seconds':>8} {'users/s':>10} {'events/s':>11} "
          f"{'peak MB':>8} {'write s':>8} {'ratio':>6}")
    for users in args.users:
        with tempfile.TemporaryDirectory() as out:
            result = subprocess.run(
                [sys.executable, __file__, "--child", "--users", str(users), "--days", str(args.days),
                 "--out", out], capture_output=True, text=True, check=True)
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"{row['users']:>10,} {row['days']:>5} {row['events']:>12,} {row['seconds']:>8.1f} "
              f"{row['users'] / row['seconds']:>10,.0f} {row['events'] / row['seconds']:>11,.0f} "
              f"{row['peak_mb']:>8,.0f} {row['write_seconds']:>8.1f} "
              f"{row['seconds'] / row['write_seconds']:>6.1f}")
    print("ratio = generator seconds / seconds of a bare pyarrow write of the same events table")


if __name__ == "__main__":
    main()
