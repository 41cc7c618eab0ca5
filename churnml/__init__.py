"""churnml: point-in-time churn prediction, explained per account.

The public API is re-exported here; modules stay importable but their
contents beyond ``__all__`` are private.
"""

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
