"""The README's "Results on real data" table is what bench/results.py prints, and the Online Retail
backtest behind it meets the quality bar (one backtest serves both: it is the suite's costliest run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results(shared_data):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import results
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return results


@pytest.fixture(scope="module")
def online_retail_rows(results):
    (dataset,) = [d for d in results.datasets() if d.name.startswith("Online Retail")]
    return results.evaluate(dataset)


def _readme_rows() -> list[str]:
    return [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| ")]


@pytest.mark.slow
def test_readme_online_retail_rows_are_the_backtests(results, online_retail_rows):
    printed = results.table(online_retail_rows).splitlines()
    header, rows = printed[:2], printed[2:]
    readme = _readme_rows()
    assert header[0] in readme and len(rows) == 2
    for row in rows:
        assert row in readme, f"README's results table is stale; paste the output of bench/results.py:\n{row}"


@pytest.mark.slow
def test_readme_rows_of_the_other_datasets_are_the_benchmark(results):
    others = [row for d in results.datasets() if not d.name.startswith("Online Retail")
              for row in results.evaluate(d)]
    printed = results.table(others).splitlines()[2:]
    assert len(printed) == 5  # three cutoffs of two event logs, two tables
    readme = _readme_rows()
    for row in printed:
        assert row in readme, f"README's results table is stale; paste the output of bench/results.py:\n{row}"


@pytest.mark.slow
def test_online_retail_at_two_cutoffs_meets_the_bar(online_retail_rows):
    """Issue #16's bar, at the cutoff the defaults were tuned on and at the check."""
    by_cutoff = {row["at"]: row for row in online_retail_rows}
    assert set(by_cutoff) == {"cutoff 2011-08-01", "cutoff 2011-09-01"}
    for row in by_cutoff.values():
        assert row["model.roc_auc"] >= row["bgnbd.roc_auc"] + 0.01
        assert abs(row["mean_probability"] - row["churn_rate"]) <= 0.03 and row["ece"] <= 0.05
        assert row["model.roc_auc"] > row["recency.roc_auc"] + 0.1
    # Against the logistic regression: ahead at the cutoff the defaults were tuned on; at 2011-09-01 the
    # regression is ahead (README: results), and this test does not pretend otherwise.
    tuned = by_cutoff["cutoff 2011-08-01"]
    assert tuned["model.roc_auc"] >= tuned["logistic.roc_auc"] + 0.005
