"""Models: the trainer, the model files, the baselines' judge and the numbers a model is measured by.

- ``_trainer``: :class:`ChurnTrainer` (split by date and by user, XGBoost with early stopping,
  calibration, the recency, logistic and BG/NBD baselines, the refit);
- ``_model``: :class:`ChurnModel` and its files (data only: JSON and XGBoost's UBJSON, never a pickle),
  :func:`load_model`, the prepared input matrix and the reference values explanations compare with;
- ``_backtesting``: :func:`backtest`, a model judged at cutoffs it never saw;
- ``_drift``: population stability of the features against the training slice;
- :mod:`churnml.modeling.metrics` (ranking, calibration, campaign profit) and
  :mod:`churnml.modeling.plots` (figures of a test slice), public modules.
"""

from churnml.modeling._backtesting import BacktestResult, METRICS, backtest, summary_lines
from churnml.modeling._drift import DriftCounter, drift_reference
from churnml.modeling._model import (ChurnModel, FeatureColumn, IdentityCalibrator, check_model_folder, frame_of,
                                     input_matrix, load_model, model_from_files, prepare, reference_values)
from churnml.modeling._trainer import (ChurnTrainer, SLICES, Split, TrainingInputs, definition_dict, held_out_users,
                                       model_baselines, split_by_date)

__all__ = ["BacktestResult", "ChurnModel", "ChurnTrainer", "DriftCounter", "FeatureColumn", "IdentityCalibrator",
           "METRICS", "SLICES", "Split", "TrainingInputs", "backtest", "check_model_folder", "definition_dict",
           "drift_reference", "frame_of", "held_out_users", "input_matrix", "load_model", "model_baselines",
           "model_from_files", "prepare", "reference_values", "split_by_date", "summary_lines"]
