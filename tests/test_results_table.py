"""The README's "Results on real data" table is what bench/results.py prints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_table_matches_the_benchmark(shared_data):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import results
    finally:
        sys.path.remove(str(ROOT / "bench"))
    printed = results.table(results.all_rows())
    readme = (ROOT / "README.md").read_text()
    assert printed in readme, f"README's results table is stale; paste the output of bench/results.py:\n{printed}"
    assert printed.count("\n") == 8  # header, rule, five cutoffs of three event logs, two tables
