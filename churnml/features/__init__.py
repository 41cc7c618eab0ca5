"""The features: one definition of each, computed point in time by any engine.

- ``_spec``: :class:`FeatureBuilder` (scikit-learn's ``fit``/``transform``) fixes a :class:`FeatureSpec`;
  its :class:`FeatureInfo` list is the one home of every feature: name, meaning (unit, direction, reason
  family), SQL (``sql=``, over :class:`churnml.engines.FeatureSQL`) and words (``words=``).
- ``_wording``: the phrases a feature's sentences are made of (:class:`Phrases`), vectorised over accounts.
- ``_dataset``: :func:`build_dataset`, the point-in-time training set (:class:`TrainingSet`): features
  before each observation date, labels after it, on the data's engine.
"""

from churnml.features._dataset import TrainingSet, build_dataset
from churnml.features._spec import (FeatureBuilder, FeatureInfo, FeatureSpec, grows_with_age, reason_family_of,
                                   warn_unseen_types)
from churnml.features._wording import Phrases, SNAP_DECIMALS, days, describe, format_reference, generic

__all__ = ["FeatureBuilder", "FeatureInfo", "FeatureSpec", "Phrases", "SNAP_DECIMALS", "TrainingSet", "build_dataset",
           "days", "describe", "format_reference", "generic", "grows_with_age", "reason_family_of",
           "warn_unseen_types"]
