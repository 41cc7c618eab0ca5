"""churnml: point-in-time churn prediction, explained per account.

The public API is re-exported here; modules stay importable but their
contents beyond ``__all__`` are private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it. Imported on first use (PEP 562), so that
# ``import churnml`` and ``churnml --help`` answer at once and load neither scikit-learn,
# XGBoost, MLflow, shap nor pyspark until a name that needs them is touched.
_LAZY = {
    "BacktestResult": "backtesting", "backtest": "backtesting",
    "BetaGeoFitter": "btyd",
    "TrainingSet": "dataset", "build_dataset": "dataset",
    "InactivityChurn": "definitions", "SubscriptionChurn": "definitions",
    "ChurnMLError": "errors",
    "EvaluationResult": "evaluation", "evaluate": "evaluation",
    "ChurnExplainer": "explain",
    "FeatureBuilder": "features", "FeatureInfo": "features", "FeatureSpec": "features",
    "LabelledTable": "labelled", "LabelledTableSource": "labelled",
    "ChurnModel": "model", "load_model": "model",
    "write_report": "report",
    "ScoringResult": "scoring", "score": "scoring", "write_scores": "scoring",
    "AccountSource": "sources", "EventSource": "sources", "LoadedTable": "sources", "LoadReport": "sources",
    "SubscriptionSource": "sources", "UsageData": "sources", "load": "sources",
    "ChurnTrainer": "trainer",
}

if TYPE_CHECKING:
    from churnml.backtesting import BacktestResult, backtest
    from churnml.btyd import BetaGeoFitter
    from churnml.dataset import TrainingSet, build_dataset
    from churnml.definitions import InactivityChurn, SubscriptionChurn
    from churnml.errors import ChurnMLError
    from churnml.evaluation import EvaluationResult, evaluate
    from churnml.explain import ChurnExplainer
    from churnml.features import FeatureBuilder, FeatureInfo, FeatureSpec
    from churnml.labelled import LabelledTable, LabelledTableSource
    from churnml.model import ChurnModel, load_model
    from churnml.report import write_report
    from churnml.scoring import ScoringResult, score, write_scores
    from churnml.sources import (
        AccountSource,
        EventSource,
        LoadedTable,
        LoadReport,
        SubscriptionSource,
        UsageData,
        load,
    )
    from churnml.trainer import ChurnTrainer

__version__ = "0.1.0"

__all__ = [
    "AccountSource",
    "BacktestResult",
    "BetaGeoFitter",
    "ChurnExplainer",
    "ChurnMLError",
    "ChurnModel",
    "ChurnTrainer",
    "EvaluationResult",
    "EventSource",
    "FeatureBuilder",
    "FeatureInfo",
    "FeatureSpec",
    "InactivityChurn",
    "LabelledTable",
    "LabelledTableSource",
    "LoadReport",
    "LoadedTable",
    "ScoringResult",
    "SubscriptionChurn",
    "SubscriptionSource",
    "TrainingSet",
    "UsageData",
    "backtest",
    "build_dataset",
    "evaluate",
    "load",
    "load_model",
    "score",
    "write_report",
    "write_scores",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'churnml' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"churnml.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
