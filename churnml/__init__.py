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
    "BacktestResult": "modeling", "backtest": "modeling",
    "BetaGeoFitter": "btyd",
    "TrainingSet": "features", "build_dataset": "features",
    "InactivityChurn": "contract", "SubscriptionChurn": "contract",
    "ChurnMLError": "errors",
    "EvaluationResult": "scoring", "evaluate": "scoring",
    "ChurnExplainer": "explain",
    "FeatureBuilder": "features", "FeatureInfo": "features", "FeatureSpec": "features",
    "LabelledTable": "contract", "LabelledTableSource": "contract",
    "ChurnModel": "modeling", "load_model": "modeling",
    "write_report": "reporting",
    "ScoringResult": "scoring", "score": "scoring", "write_scores": "scoring",
    "AccountSource": "contract", "EventSource": "contract", "LoadedTable": "contract", "LoadReport": "contract",
    "SubscriptionSource": "contract", "UsageData": "contract", "load": "contract",
    "ChurnTrainer": "modeling",
}

if TYPE_CHECKING:
    from churnml.btyd import BetaGeoFitter
    from churnml.contract import (AccountSource, EventSource, InactivityChurn, LabelledTable, LabelledTableSource,
                                  LoadReport, LoadedTable, SubscriptionChurn, SubscriptionSource, UsageData, load)
    from churnml.errors import ChurnMLError
    from churnml.explain import ChurnExplainer
    from churnml.features import FeatureBuilder, FeatureInfo, FeatureSpec, TrainingSet, build_dataset
    from churnml.modeling import BacktestResult, ChurnModel, ChurnTrainer, backtest, load_model
    from churnml.reporting import write_report
    from churnml.scoring import EvaluationResult, ScoringResult, evaluate, score, write_scores

from churnml._version import __version__  # noqa: E402 - one definition, read by model files and runs too

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
