"""The Spark engine: the feature spec compiled to Spark SQL, and churnml's jobs on a cluster.

- ``_load``: the data contract on Spark: Spark's dialect and queries for the one load plan
  (:func:`churnml.contract.load_with`, as :func:`churnml.load` runs it on DuckDB);
- ``_compile``: the feature plan in Spark SQL (exploded user-days, folded history) and :data:`ENGINE`;
- ``_api``: the session, training sets kept on the cluster, :class:`SparkChurnTrainer` (xgboost.spark)
  and scoring with ``mapInPandas`` (:func:`write_scores` writes the scores and sums them up).

This package sits above the layers it serves (it trains with :mod:`churnml.modeling` and scores with
:mod:`churnml.scoring`); the registry in :mod:`churnml.engines` imports it only where Spark data exists.
Users reach it as :mod:`churnml.spark`.
"""

from churnml.engines.spark._api import (SparkChurnTrainer, SparkTrainingSet, build_dataset, load, require_spark, score,
                                        session, write_parquet, write_scores)
from churnml.engines.spark._compile import ENGINE
from churnml.engines.spark._load import SparkTable, SparkUsageData

__all__ = ["ENGINE", "SparkChurnTrainer", "SparkTable", "SparkTrainingSet", "SparkUsageData", "build_dataset", "load",
           "require_spark", "score", "session", "write_parquet", "write_scores"]
