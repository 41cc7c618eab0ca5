"""The README's "Results on real data" tables, produced the way a model is used.

Event logs: ``churnml.backtest`` at cutoffs (train on the events before the cutoff exactly
as ``churnml train`` does, score the accounts eligible at it, label them from the events
after it), the shipped model against the logistic regression, BG/NBD and the recency
rule. Labelled tables (no history, so no cutoff): ChurnTrainer defaults on a stratified
random split, the test slice scored. Defaults everywhere, seed 0; deterministic.

Usage::

    python bench/results.py            # prints both Markdown tables
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Dataset:
    name: str
    churn: str  # the definition, in words
    load: Any  # () -> UsageData or LabelledTable
    definition: Any = None  # for event logs
    cutoffs: tuple[str, ...] = ()
    builder: dict[str, Any] = field(default_factory=dict)


def datasets() -> list[Dataset]:
    from churnml import EventSource, LabelledTableSource, load
    from churnml.contract._definitions import InactivityChurn

    return [
        # Defaults tuned at 2011-08-01 only; 2011-09-01 is the check.
        Dataset("Online Retail (UCI)", "inactivity, 90-day horizon",
                lambda: load(EventSource(SHARED / "online_retail/online_retail.parquet", user_id="CustomerID",
                                         timestamp="InvoiceDate", value="Quantity * UnitPrice",
                                         where="CustomerID IS NOT NULL")),
                InactivityChurn(horizon_days=90, active_window_days=90), ("2011-08-01", "2011-09-01")),
        # The latest cutoffs whose label windows the logs still cover.
        Dataset("Complete Journey (sample)", "inactivity, 30-day horizon",
                lambda: load(EventSource(SHARED / "complete_journey/transactions_sample.parquet",
                                         user_id="household_id", timestamp="transaction_timestamp",
                                         value="sales_value")),
                InactivityChurn(horizon_days=30, active_window_days=30), ("2017-11-01", "2017-12-01")),
        Dataset("Segment events", "inactivity, 14-day horizon",
                lambda: load(EventSource(SHARED / "segment_events/event_data.parquet", user_id="anonymousId",
                                         timestamp="timestamp", event_type="coalesce(event, type)")),
                InactivityChurn(horizon_days=14, active_window_days=14), ("2021-01-19",),
                {"windows": (7, 14), "trend_windows": (7,)}),
        Dataset("IBM Telco", "label column `Churn`",
                lambda: LabelledTableSource(SHARED / "telco_ibm/WA_Fn-UseC_-Telco-Customer-Churn.csv",
                                            label="Churn", id="customerID").load()),
        # its 300 exact duplicate rows would sit on both sides of a random split: dropped
        Dataset("Iranian telecom (duplicates dropped)", "label column `Churn`",
                lambda: LabelledTableSource(SHARED / "iranian_telecom/customer_churn.csv", label="Churn",
                                            duplicates="drop").load()),
    ]


MODELS = ("model", "logistic", "bgnbd", "recency")


def evaluate(dataset: Dataset) -> list[dict[str, Any]]:
    """One row per cutoff (event logs) or one row (tables): ROC-AUC, PR-AUC, lift at 10% per model."""
    from churnml.features._spec import FeatureBuilder
    from churnml.modeling._backtesting import backtest
    from churnml.modeling._trainer import ChurnTrainer

    loaded = dataset.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dataset.definition is None:
            trainer = ChurnTrainer(random_state=0).fit(loaded)
            e = trainer.evaluation_
            row: dict[str, Any] = {"dataset": dataset.name, "churn": dataset.churn, "at": "test slice (random 20%)",
                                   "rows": int(trainer.split_.rows()["test"])}
            for model in MODELS:
                for metric in ("roc_auc", "pr_auc", "lift_at_10"):
                    row[f"{model}.{metric}"] = float(e.loc[model, metric]) if model in e.index else None
            return [row]
        result = backtest(loaded, dataset.definition, cutoffs=dataset.cutoffs,
                          builder=FeatureBuilder(**dataset.builder), trainer=ChurnTrainer(random_state=0))
    rows = []
    for cutoff, part in result.metrics.groupby("cutoff", sort=True):
        e = part.set_index("model")
        row = {"dataset": dataset.name, "churn": dataset.churn, "at": f"cutoff {cutoff}",
               "rows": int(e.loc["model", "rows"]), "mean_probability": float(e.loc["model", "mean_probability"]),
               "churn_rate": float(e.loc["model", "churn_rate"]), "ece": float(e.loc["model", "ece"])}
        for model in MODELS:
            for metric in ("roc_auc", "pr_auc", "lift_at_10"):
                row[f"{model}.{metric}"] = float(e.loc[model, metric]) if model in e.index else None
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table (ROC-AUC / PR-AUC / lift in the top 10%, model then baselines)."""

    def trio(row: dict[str, Any], model: str) -> str:
        if row[f"{model}.roc_auc"] is None:
            return "-"
        return " / ".join(f"{row[f'{model}.{m}']:.3f}" if m != "lift_at_10" else f"{row[f'{model}.{m}']:.2f}"
                          for m in ("roc_auc", "pr_auc", "lift_at_10"))

    def calibration(row: dict[str, Any]) -> str:
        if "mean_probability" not in row:
            return "-"
        return f"{row['mean_probability']:.3f} vs {row['churn_rate']:.3f} ({row['ece']:.3f})"

    lines = ["| dataset | churn definition | judged at | accounts | churnml model | logistic regression | BG/NBD | "
             "recency rule | mean p vs churned (ECE) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['dataset']} | {row['churn']} | {row['at']} | {row['rows']:,} | {trio(row, 'model')} | "
                     f"{trio(row, 'logistic')} | {trio(row, 'bgnbd')} | {trio(row, 'recency')} | "
                     f"{calibration(row)} |")
    return "\n".join(lines)


def all_rows() -> list[dict[str, Any]]:
    return [row for d in datasets() for row in evaluate(d)]


def main() -> None:
    if not (SHARED / "README.md").is_file():
        sys.exit(f"the public data is expected at {SHARED}")
    print(table(all_rows()))


if __name__ == "__main__":
    main()
