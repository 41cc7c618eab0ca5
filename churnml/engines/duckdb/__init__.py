"""The DuckDB engine: the feature spec compiled to DuckDB SQL, in process, always there.

``_compile`` holds its plan (segment sums, bitmaps of active days, whole-history buckets), its
:class:`~churnml.engines.Aggregates` mapping and :data:`ENGINE`. It serves the data :func:`churnml.load`
returns (:class:`churnml.contract.UsageData`). The registry in :mod:`churnml.engines` imports it on first
use; it sits above the layers whose objects it returns (a :class:`churnml.features.TrainingSet`, the
:class:`churnml.modeling.ChurnTrainer` that trains on it).
"""

from churnml.engines.duckdb._compile import ENGINE

__all__ = ["ENGINE"]
