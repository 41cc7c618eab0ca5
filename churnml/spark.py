"""churnml on Spark: the same features, training sets, training and scoring when data outgrows one machine.

Needs the ``spark`` extra (``pip install "churnml[spark]"``: pyspark) and Java 17+.
The feature spec is the one the DuckDB engine runs; the Spark engine compiles it to
Spark SQL, and tests hold the two equal (same rows, values within 1e-9, same reasons).
The code lives in :mod:`churnml.engines.spark`; this module is its public face.

Examples
--------
.. code-block:: python

    from churnml import EventSource, FeatureBuilder, InactivityChurn
    from churnml import spark as cs

    session = cs.session("local[*]")          # or an existing SparkSession
    data = cs.load(session, EventSource("s3a://lake/events/", event_type="event", value="amount"))
    training = cs.build_dataset(data, InactivityChurn(horizon_days=30))   # a Spark DataFrame inside
    model = cs.SparkChurnTrainer(num_workers=8).fit(training).model_     # xgboost.spark
    scores = cs.score(model, data, as_of="2025-01-01")                    # mapInPandas, reasons included
    scores.write.parquet("s3a://lake/churn_scores/2025-01-01/")
    # or written and summed up, as churnml.write_scores: tiers, reasons, revenue at risk
    result = cs.write_scores(model, data, "s3a://lake/churn_scores/2025-01-01/", as_of="2025-01-01")
"""

from churnml.engines.spark import (SparkChurnTrainer, SparkTable, SparkTrainingSet, SparkUsageData, build_dataset,
                                   load, require_spark, score, session, write_parquet, write_scores)

__all__ = ["SparkTable", "SparkUsageData", "SparkTrainingSet", "session", "load", "build_dataset", "score",
           "SparkChurnTrainer", "require_spark", "write_scores", "write_parquet"]
