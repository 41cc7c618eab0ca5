"""churnml: point-in-time churn prediction, explained per account.

The public API is re-exported here; modules stay importable but their
contents beyond ``__all__`` are private.
"""

from churnml.dataset import TrainingSet, build_dataset
from churnml.definitions import InactivityChurn, SubscriptionChurn
from churnml.errors import ChurnMLError
from churnml.features import FeatureBuilder, FeatureInfo, FeatureSpec
from churnml.labelled import LabelledTable, LabelledTableSource
from churnml.sources import (
    AccountSource,
    EventSource,
    LoadedTable,
    LoadReport,
    SubscriptionSource,
    UsageData,
    load,
)

__version__ = "0.1.0"

__all__ = [
    "AccountSource",
    "ChurnMLError",
    "EventSource",
    "FeatureBuilder",
    "FeatureInfo",
    "FeatureSpec",
    "InactivityChurn",
    "LabelledTable",
    "LabelledTableSource",
    "LoadReport",
    "LoadedTable",
    "SubscriptionChurn",
    "SubscriptionSource",
    "TrainingSet",
    "UsageData",
    "build_dataset",
    "load",
    "__version__",
]
