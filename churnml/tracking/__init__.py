"""MLflow: a training's run, the training job, the registered model and the runs of scoring.

- ``_runs``: logging a training, a backtest, a scoring and an evaluation; the registry (aliases);
- ``_training``: :func:`run_training`, optional search, the final fit and its run;
- ``_pyfunc_model``: the model's MLflow face, logged as code (never a pickle).
"""

from churnml.tracking._runs import (load_registered, log_backtest, log_evaluation, log_scoring, log_training,
                                    registered_name, run_figures, scoring_run, scoring_runs, tracking_uri)
from churnml.tracking._training import TrainingOptions, run_training

__all__ = ["TrainingOptions", "load_registered", "log_backtest", "log_evaluation", "log_scoring", "log_training",
           "registered_name", "run_figures", "run_training", "scoring_run", "scoring_runs", "tracking_uri"]
