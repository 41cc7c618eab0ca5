"""One training job: optional hyperparameter search, the final fit, and its MLflow run.

The search tries ``tune_trials`` random settings, each a nested MLflow run, and
keeps the one with the lowest log loss on the validation slice; the test slice
is never looked at to choose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from churnml.modeling import ChurnTrainer
from churnml.tracking._runs import TrackedRun, log_training, set_experiment, tracking_uri

__all__ = ["TrainingOptions", "TrainingResult", "run_training"]


def _search_space() -> dict[str, Any]:
    from scipy.stats import loguniform, randint, uniform

    return {"max_depth": randint(3, 9), "learning_rate": loguniform(0.02, 0.2),
            "min_child_weight": loguniform(1, 50), "subsample": uniform(0.6, 0.4),
            "colsample_bytree": uniform(0.5, 0.5), "reg_lambda": loguniform(0.1, 20)}


def _trainer_class(data: Any) -> type[ChurnTrainer]:
    """The trainer of the training set's engine (``ChurnTrainer`` for a labelled table)."""
    from churnml.engines import find_engine

    engine = find_engine(data)
    return engine.trainer_class() if engine is not None else ChurnTrainer


@dataclass(frozen=True)
class TrainingOptions:
    trainer: dict[str, Any] = field(default_factory=dict)
    tune_trials: int = 0
    tracking_uri: str | None = None
    experiment: str = "churnml"
    register: str | None = "churn"
    promote: bool = False
    export: str | os.PathLike[str] | None = None
    overwrite: bool = False
    plots: bool = True


@dataclass(frozen=True)
class TrainingResult:
    trainer: ChurnTrainer
    run: TrackedRun
    trials: list[dict[str, Any]]


def run_training(data: Any, config: dict[str, Any], options: TrainingOptions) -> TrainingResult:
    """Search (when asked), fit, and record one training of ``data`` (TrainingSet, LabelledTable, or a
    SparkTrainingSet, trained by :class:`~churnml.spark.SparkChurnTrainer`)."""
    import mlflow
    from sklearn.model_selection import ParameterSampler

    ChurnTrainer = _trainer_class(data)  # noqa: N806 - a class chosen by the data
    if options.export is not None:  # refuse a bad output before the work, not after it
        from churnml.modeling import check_model_folder

        check_model_folder(options.export, overwrite=options.overwrite)

    params = dict(options.trainer)
    trials: list[dict[str, Any]] = []
    if options.tune_trials:
        uri = tracking_uri(options.tracking_uri)
        mlflow.set_tracking_uri(uri)
        set_experiment(options.experiment, uri)
        sampler = ParameterSampler(_search_space(), n_iter=options.tune_trials,
                                   random_state=params.get("random_state", 0))
        with mlflow.start_run(run_name="tuning"):
            for number, sampled in enumerate(sampler):
                tried = {k: (int(v) if k == "max_depth" else float(v)) for k, v in sampled.items()}
                trial = ChurnTrainer(**{**params, **tried}, baselines=False).fit(data)
                with mlflow.start_run(run_name=f"trial {number}", nested=True):
                    mlflow.log_params(tried)
                    mlflow.log_metrics({"validation.log_loss": trial.validation_log_loss_,
                                        "best_iteration": trial.best_iteration_})
                trials.append({**tried, "validation_log_loss": trial.validation_log_loss_})
            best = min(trials, key=lambda t: t["validation_log_loss"])
            params.update({k: v for k, v in best.items() if k != "validation_log_loss"})
            trainer = ChurnTrainer(**params).fit(data)
            run = log_training(trainer, config={**config, "tuning": trials}, tracking_uri_=options.tracking_uri,
                               experiment=options.experiment, register=options.register, promote=options.promote,
                               export=options.export, overwrite=options.overwrite, plots=options.plots, nested=True)
    else:
        trainer = ChurnTrainer(**params).fit(data)
        run = log_training(trainer, config=config, tracking_uri_=options.tracking_uri, experiment=options.experiment,
                           register=options.register, promote=options.promote, export=options.export,
                           overwrite=options.overwrite, plots=options.plots)
    return TrainingResult(trainer=trainer, run=run, trials=trials)
