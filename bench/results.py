"""The README's "Results on real data" table: each public dataset in ../shared/data trained with
ChurnTrainer defaults (seed 0) and its test slice scored against the two baselines.

Event logs get a point-in-time training set (monthly observation dates) and an
out-of-time split; labelled tables a stratified random split. Deterministic:
the same data and versions print the same table.

Usage::

    python bench/results.py            # prints the Markdown table
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
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


def datasets() -> list[Dataset]:
    from churnml import EventSource, LabelledTableSource, load
    from churnml.definitions import InactivityChurn

    return [
        Dataset("Online Retail (UCI)", "inactivity, 90-day horizon",
                lambda: load(EventSource(SHARED / "online_retail/online_retail.parquet", user_id="CustomerID",
                                         timestamp="InvoiceDate", value="Quantity * UnitPrice",
                                         where="CustomerID IS NOT NULL")),
                InactivityChurn(horizon_days=90, active_window_days=90)),
        Dataset("Complete Journey (sample)", "inactivity, 30-day horizon",
                lambda: load(EventSource(SHARED / "complete_journey/transactions_sample.parquet",
                                         user_id="household_id", timestamp="transaction_timestamp",
                                         value="sales_value")),
                InactivityChurn(horizon_days=30, active_window_days=30)),
        Dataset("IBM Telco", "label column `Churn`",
                lambda: LabelledTableSource(SHARED / "telco_ibm/WA_Fn-UseC_-Telco-Customer-Churn.csv",
                                            label="Churn", id="customerID").load()),
        # its 300 exact duplicate rows would sit on both sides of a random split: dropped
        Dataset("Iranian telecom (duplicates dropped)", "label column `Churn`",
                lambda: LabelledTableSource(SHARED / "iranian_telecom/customer_churn.csv", label="Churn",
                                            duplicates="drop").load()),
    ]


def evaluate(dataset: Dataset) -> dict[str, Any]:
    from churnml.dataset import build_dataset
    from churnml.features import FeatureBuilder
    from churnml.trainer import ChurnTrainer

    loaded = dataset.load()
    if dataset.definition is not None:
        loaded = build_dataset(loaded, dataset.definition, builder=FeatureBuilder(), step_days=30)
        rows = len(loaded.frame)
    else:
        rows = len(loaded.X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = ChurnTrainer(random_state=0).fit(loaded)
    e = trainer.evaluation_
    out: dict[str, Any] = {"dataset": dataset.name, "churn": dataset.churn, "rows": rows,
                           "test_rows": int(trainer.split_.rows()["test"])}
    for model in ("model", "logistic", "recency"):
        for metric in ("roc_auc", "pr_auc", "lift_at_10"):
            out[f"{model}.{metric}"] = float(e.loc[model, metric]) if model in e.index else None
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table (ROC-AUC / PR-AUC / lift in the top 10%, model then baselines)."""

    def trio(row: dict[str, Any], model: str) -> str:
        if row[f"{model}.roc_auc"] is None:
            return "-"
        return " / ".join(f"{row[f'{model}.{m}']:.3f}" if m != "lift_at_10" else f"{row[f'{model}.{m}']:.2f}"
                          for m in ("roc_auc", "pr_auc", "lift_at_10"))

    lines = ["| dataset | churn definition | rows (test) | churnml model | logistic regression | recency rule |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['dataset']} | {row['churn']} | {row['rows']:,} ({row['test_rows']:,}) | "
                     f"{trio(row, 'model')} | {trio(row, 'logistic')} | {trio(row, 'recency')} |")
    return "\n".join(lines)


def main() -> None:
    if not (SHARED / "README.md").is_file():
        sys.exit(f"the public data is expected at {SHARED}")
    print(table([evaluate(d) for d in datasets()]))


if __name__ == "__main__":
    main()
