"""churnml: point-in-time churn prediction, explained per account.

The public API is re-exported here; modules stay importable but their
contents beyond ``__all__`` are private.
"""

from churnml.errors import ChurnMLError
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
    "LoadReport",
    "LoadedTable",
    "SubscriptionSource",
    "UsageData",
    "load",
    "__version__",
]
