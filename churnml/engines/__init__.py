"""Engines: where features are computed, behind one contract.

- :class:`Engine`, the operations every engine offers; :func:`engine_for` picks the
  engine of a piece of loaded data (or a training set), :func:`engine_named` the one
  a user names (``FeatureBuilder(engine=...)``, ``--engine``). Engines register lazily:
  pyspark is imported only where Spark data exists.
- ``_sql``: the SQL both engines run, written once over a :class:`~churnml.engines._sql.Dialect`;
  :class:`FeatureSQL`, what each feature's own SQL (``FeatureInfo.sql``) is written with.
- ``_frames``: an engine's output typed as the model expects it, whichever engine made it.
- ``_lifetime``: the BG/NBD features at each date, the part both engines share.
- :mod:`churnml.engines.duckdb` and :mod:`churnml.engines.spark`: each engine's own plan of the feature
  spec. They sit above the layers whose objects they return (training sets, trainers) and are imported
  only through the registry, so nothing here imports them.

Adding an engine: a subpackage with the plan and an ``ENGINE`` object that meets
:class:`Engine`, registered with :func:`register_engine`, and a :class:`~churnml.engines._sql.Dialect`
for the shared SQL. ``tests/engines/test_engines.py`` holds the registry's rules,
``tests/engines/test_spark.py`` the Spark engine equal to DuckDB's.
"""

from churnml.engines._base import (Engine, FitStatistics, check_columns, engine_for, engine_named, engine_names,
                                   find_engine, register_engine, require_engine)
from churnml.engines._frames import typed, typed_columns
from churnml.engines._lifetime import stand_ins
from churnml.engines._sql import FeatureSQL

__all__ = ["Engine", "FeatureSQL", "FitStatistics", "check_columns", "engine_for", "engine_named", "engine_names",
           "find_engine", "register_engine", "require_engine", "stand_ins", "typed",
           "typed_columns"]
