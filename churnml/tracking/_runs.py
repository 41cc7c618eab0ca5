"""Recording a training in MLflow: one run with config, data fingerprint, metrics, plots and the model.

The model is logged as a pyfunc (from code, not pickled) whose artifact is the
data-only model folder; it is registered under a name, and the alias
``champion`` moves to it when asked. :func:`load_registered` opens
``models:/<name>@<alias>`` (or any ``models:/`` / ``runs:/`` URI) through that
folder, so scoring never unpickles anything.

The tracking store is ``sqlite:///mlflow.db`` in the working folder unless
``MLFLOW_TRACKING_URI`` or the ``tracking_uri`` argument says otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnml.errors import ConfigError

if TYPE_CHECKING:
    from churnml.modeling import ChurnModel, ChurnTrainer
    from churnml.scoring import ScoringResult

__all__ = ["TrackedRun", "load_registered", "log_evaluation", "log_scoring", "log_training", "registered_name",
           "run_figures", "scoring_run", "scoring_runs", "tracking_uri"]

MODEL_ARTIFACT = "churn_model"
_PYFUNC_CODE = Path(__file__).with_name("_pyfunc_model.py")


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    experiment_id: str
    model_uri: str  # runs:/<run_id>/model
    registered_name: str | None
    registered_version: str | None
    alias_uri: str | None  # models:/<name>@champion when promoted
    export_path: Path | None

    @property
    def registered_uri(self) -> str | None:
        if self.registered_name is None or self.registered_version is None:
            return None
        return f"models:/{self.registered_name}/{self.registered_version}"


def tracking_uri(explicit: str | None = None) -> str:
    """``explicit``, else ``MLFLOW_TRACKING_URI``, else ``mlflow.db`` in the working folder.

    The default is made absolute: MLflow keeps one store per URI text for the life of the
    process, so a relative URI would stay bound to the folder where it was first used.
    """
    chosen = explicit or os.environ.get("MLFLOW_TRACKING_URI")
    if chosen:
        return chosen
    return f"sqlite:///{(Path.cwd() / 'mlflow.db').as_posix()}"


def set_experiment(name: str, uri: str) -> str:
    """Make ``name`` the active experiment of the store at ``uri`` and return its id.

    A new experiment in a SQLite store keeps its artifacts beside the database file
    (``mlruns/`` next to ``mlflow.db``), not in whatever folder the process runs from.
    """
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is None and uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        store = Path(uri.removeprefix("sqlite:///"))
        mlflow.create_experiment(name, artifact_location=(store.resolve().parent / "mlruns").as_uri())
    return mlflow.set_experiment(name).experiment_id


def git_commit(folder: Path | None = None) -> str | None:
    """The commit checked out in ``folder`` (default: the working folder), if it is a git work tree."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder or Path.cwd(), capture_output=True,
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and len(commit) == 40 else None


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flat(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    return {prefix: value if not isinstance(value, list | tuple) else ",".join(map(str, value))}


def _metric_key(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in text)


def log_training(trainer: ChurnTrainer, *, config: dict[str, Any] | None = None, tracking_uri_: str | None = None,
                 experiment: str = "churnml", run_name: str | None = None, register: str | None = "churn",
                 promote: bool = False, export: str | os.PathLike[str] | None = None, overwrite: bool = False,
                 plots: bool = True, nested: bool = False) -> TrackedRun:
    """Record a fitted :class:`~churnml.modeling.ChurnTrainer` as one MLflow run.

    Parameters
    ----------
    trainer : fitted ChurnTrainer
    config : dict, optional
        Everything that produced the training set (source, churn definition, feature
        options); logged whole as ``config.json`` and flattened into parameters.
    tracking_uri_ : str, optional
        Overrides ``MLFLOW_TRACKING_URI`` and the SQLite default.
    register : str or None, default 'churn'
        Registered model name; None logs the model without registering it.
    promote : bool
        Move the alias ``champion`` to the new version.
    export : path, optional
        Also write the model folder there.
    """
    import mlflow
    import pandas as pd
    import xgboost as xgb
    from mlflow.tracking import MlflowClient

    from churnml._version import __version__
    from churnml.modeling import plots as figures

    if not hasattr(trainer, "model_"):
        raise ConfigError("log_training needs a fitted ChurnTrainer (call fit first).")
    if promote and register is None:
        raise ConfigError("--promote needs a registered model name (--register NAME).")
    uri = tracking_uri(tracking_uri_)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment_id = set_experiment(experiment, uri)
    model = trainer.model_
    from churnml import _progress

    _progress.step("logging the run to MLflow: metrics, charts, SHAP views, the model")
    with mlflow.start_run(run_name=run_name, nested=nested) as run:
        commit = git_commit()
        mlflow.set_tags({"churnml.version": __version__, "xgboost.version": xgb.__version__,
                         "data.sha256": trainer.data_fingerprint_["sha256"],
                         "split": model.info["split"]["kind"],
                         **({"mlflow.source.git.commit": commit, "git_commit": commit} if commit else {})})
        params = {**_flat("trainer", trainer.get_params()), **_flat("xgboost", model.info["params"]),
                  **_flat("data", trainer.data_fingerprint_), "best_iteration": trainer.best_iteration_,
                  "calibration_method": trainer.calibration_method_,
                  # which model this run ships: "refit" (every labelled row) or "evaluated" (--no-refit)
                  "exported_model": model.info.get("exported", "evaluated"),
                  **_flat("refit", model.info.get("refit") or {})}
        if model.definition is not None:
            params.update(_flat("churn", model.definition))
        if config:
            params.update(_flat("config", config))
        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        mlflow.log_dict(config or {}, "config.json")
        mlflow.log_dict(trainer.data_fingerprint_, "data_fingerprint.json")
        mlflow.log_dict(model.info["split"], "split.json")
        if model.spec is not None:
            mlflow.log_dict(json.loads(model.spec.to_json()), "feature_spec.json")
        mlflow.log_dict({c.name: list(c.levels) if c.levels is not None else None for c in model.columns},
                        "feature_columns.json")

        metrics: dict[str, float] = {}
        for name, row in trainer.evaluation_.iterrows():
            prefix = "test" if name == "model" else f"baseline.{name}.test"
            metrics.update({f"{prefix}.{key}": float(value) for key, value in row.items() if pd.notna(value)})
        for method, loss in trainer.calibration_log_loss_.items():
            metrics[f"calibration.cv_log_loss.{method}"] = loss
        metrics["validation.log_loss"] = trainer.validation_log_loss_
        mlflow.log_metrics({_metric_key(k): v for k, v in metrics.items()})
        by_date = trainer.evaluation_by_date_
        if len(by_date):
            for step, (day, part) in enumerate(by_date[by_date["model"] == "model"].groupby("observation_date")):
                row = part.iloc[0]
                mlflow.log_metrics({f"test_by_date.{k}": float(row[k]) for k in ("roc_auc", "pr_auc", "ece")
                                    if pd.notna(row[k])}, step=step)

        with tempfile.TemporaryDirectory(prefix="churnml-run-") as scratch:
            folder = Path(scratch)
            trainer.evaluation_.to_csv(folder / "evaluation_test.csv")
            mlflow.log_artifact(str(folder / "evaluation_test.csv"), "evaluation")
            if len(by_date):
                by_date.to_csv(folder / "evaluation_by_date.csv", index=False)
                mlflow.log_artifact(str(folder / "evaluation_by_date.csv"), "evaluation")
            trainer.feature_importance_.to_csv(folder / "feature_importance.csv")
            mlflow.log_artifact(str(folder / "feature_importance.csv"), "evaluation")
            trainer.test_predictions_.to_parquet(folder / "test_predictions.parquet", index=False)
            mlflow.log_artifact(str(folder / "test_predictions.parquet"), "evaluation")
            if plots:
                predictions = trainer.test_predictions_
                for name, figure in (("roc", figures.roc_figure(predictions)), ("pr", figures.pr_figure(predictions)),
                                     ("calibration", figures.calibration_figure(predictions)),
                                     ("gain", figures.gain_figure(predictions)),
                                     ("feature_importance", figures.importance_figure(trainer.feature_importance_))):
                    mlflow.log_figure(figure, f"plots/{name}.png")
                _log_shap(trainer, folder)

            model.info["run_id"] = run.info.run_id  # the report finds the run's charts by it
            model_folder = model.save(folder / MODEL_ARTIFACT)
            example = _input_example(trainer)
            signature = _signature(model)
            # the export is written before anything is registered: a step that fails registers nothing
            export_path = model.save(export, overwrite=overwrite) if export is not None else None
            with _registry_quiet():
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=str(_PYFUNC_CODE), artifacts={MODEL_ARTIFACT: str(model_folder)},
                    code_paths=[str(Path(__file__).parent)], signature=signature, input_example=example,
                    pip_requirements=_requirements(), registered_model_name=register)
    version = str(info.registered_model_version) if register is not None else None
    alias_uri = None
    if promote and version is not None:
        MlflowClient(uri, uri).set_registered_model_alias(register, "champion", version)  # type: ignore[arg-type]
        alias_uri = f"models:/{register}@champion"
    return TrackedRun(run_id=run.info.run_id, experiment_id=experiment_id, model_uri=f"runs:/{run.info.run_id}/model",
                      registered_name=register, registered_version=version, alias_uri=alias_uri,
                      export_path=export_path)


# What MLflow prints (not logs) on stderr when it registers a version: the run says it already.
_REGISTRY_CHATTER = ("Successfully registered model", "Created version", "Registered model")


@contextlib.contextmanager
def _registry_quiet() -> Iterator[None]:
    """Drop MLflow's registration messages from stderr; anything else it prints is passed on."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            yield
    finally:
        kept = [line for line in buffer.getvalue().splitlines(keepends=True)
                if not line.startswith(_REGISTRY_CHATTER)]
        sys.stderr.write("".join(kept))


def _log_shap(trainer: ChurnTrainer, folder: Path, *, rows: int = 2_000, dependence: int = 3) -> None:
    """Global SHAP views on (a sample of) the test slice: mean |SHAP| ranking, beeswarm, dependence
    plots of the strongest features, and the waterfall of the riskiest account."""
    import mlflow

    from churnml.explain import ChurnExplainer

    sample = trainer.test_features_.sample(min(rows, len(trainer.test_features_)), random_state=0)
    explainer = ChurnExplainer(trainer.model_)
    explanation = explainer.explain(sample)
    ranking = explainer.global_importance(explanation)
    ranking.to_csv(folder / "shap_importance.csv")
    mlflow.log_artifact(str(folder / "shap_importance.csv"), "evaluation")
    mlflow.log_figure(explainer.beeswarm_figure(explanation), "plots/shap_beeswarm.png")
    for feature in ranking.index[:dependence]:
        mlflow.log_figure(explainer.dependence_figure(explanation, feature), f"plots/shap_dependence_{feature}.png")
    riskiest = int(explanation.margin.argmax())
    mlflow.log_figure(explainer.waterfall_figure(explanation, riskiest), "plots/shap_waterfall_riskiest.png")


def _input_example(trainer: ChurnTrainer, rows: int = 5) -> Any:
    """A few raw test rows, categories as text (what a caller of the pyfunc sends)."""
    model = trainer.model_
    frame = trainer.test_features_.head(rows).copy()  # already the model's inputs
    for column in model.columns:
        if column.levels is not None:
            frame[column.name] = frame[column.name].astype("object")
    return frame


def _signature(model: ChurnModel) -> Any:
    """Every feature optional (missing values are meaningful), numbers as double, categories as text."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([ColSpec("double" if c.levels is None else "string", c.name, required=False)
                     for c in model.columns])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", "churn_probability")]))


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("mlflow", "xgboost", "scikit-learn", "pandas", "numpy", "duckdb", "pyarrow"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            out.append(package)
    return out


def load_registered(uri: str, *, tracking_uri_: str | None = None) -> ChurnModel:
    """A churnml model from MLflow (``models:/churn@champion``, ``models:/churn/3``, ``runs:/<id>/model``).

    Downloads the run's model folder and opens it with :func:`churnml.modeling.load_model`:
    hashes checked, nothing unpickled, no MLflow model code run.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from churnml.modeling import load_model

    where = tracking_uri(tracking_uri_)
    if not uri.startswith(("models:/", "runs:/")):
        raise ConfigError(f"{uri!r} is not an MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION or "
                          "runs:/RUN_ID/model). Fix: pass the URI, or a model folder path.")
    with tempfile.TemporaryDirectory(prefix="churnml-model-") as scratch:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch, tracking_uri=where,
                                                        registry_uri=where)
        except MlflowException as error:
            raise ConfigError(f"Could not fetch {uri!r} from the tracking store {where!r}: {error.message}") from error
        return load_model(Path(local) / "artifacts" / MODEL_ARTIFACT)


def model_version(uri: str, *, tracking_uri_: str | None = None) -> str | None:
    """The registered version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI points to."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if not uri.startswith("models:/"):
        return None
    where = tracking_uri(tracking_uri_)
    name, _, rest = uri.removeprefix("models:/").partition("@")
    try:
        if rest:
            return str(MlflowClient(where, where).get_model_version_by_alias(name, rest).version)
    except MlflowException:
        return None
    return uri.rstrip("/").rsplit("/", 1)[-1]


def registered_name(uri: str) -> str | None:
    """The registered model's name in ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``; None otherwise.

    >>> registered_name("models:/churn@champion"), registered_name("models:/churn/3"), registered_name("models/x")
    ('churn', 'churn', None)
    """
    if not uri.startswith("models:/"):
        return None
    return uri.removeprefix("models:/").split("@", 1)[0].split("/", 1)[0] or None


def log_scoring(result: ScoringResult, *, model_uri: str, model: ChurnModel, tracking_uri_: str | None = None,
                experiment: str = "churnml") -> str:
    """Record a scoring run in MLflow: the model and its version, the as-of date, counts per tier,
    revenue at risk and the drift summary (PSI per feature as ``drift.csv``). Returns the run id."""
    import mlflow

    uri = tracking_uri(tracking_uri_)
    mlflow.set_tracking_uri(uri)
    set_experiment(experiment, uri)
    version = model_version(model_uri, tracking_uri_=tracking_uri_)
    as_of = result.as_of.isoformat() if result.as_of else None
    name = registered_name(model_uri)
    definition = model.churn_definition()
    closes = (result.as_of + dt.timedelta(days=definition.label_span_days)
              if result.as_of is not None and definition is not None else None)
    with mlflow.start_run(run_name=f"score {as_of or ''}".strip()) as run:
        mlflow.set_tags({"churnml.kind": "scoring", "model.uri": model_uri,
                         **({"model.name": name} if name else {}),
                         **({"model.version": version} if version else {}),
                         **({"model.run_id": model.info["run_id"]} if model.info.get("run_id") else {}),
                         # evaluate --run reads the file back from here, whatever the folder it runs in
                         **({"scores.path": str(Path(result.path).resolve())} if result.path else {})})
        mlflow.log_params({"as_of": as_of, "model_uri": model_uri, "model_version": version,
                           "output": str(result.path) if result.path else None,
                           "tier_threshold.high": result.thresholds["high"],
                           "tier_threshold.medium": result.thresholds["medium"],
                           "drift_threshold": result.drift_threshold,
                           **({"label_window_closes": closes.isoformat()} if closes else {})})
        metrics = {"accounts": float(result.accounts), "explained": float(result.explained),
                   **{f"tier.{name}": float(count) for name, count in result.tier_counts.items()},
                   "drift.features_over_threshold": float(len(result.drifted))}
        if result.revenue_at_risk is not None:
            metrics["revenue_at_risk"] = result.revenue_at_risk
        for key, value in (result.expected or {}).items():
            if math.isfinite(value):
                metrics[f"expected.{key}"] = value
        if not result.drift.empty:
            metrics["drift.max_psi"] = float(result.drift["psi"].max())
            for row in result.drift.head(20).itertuples():
                metrics[f"psi.{_metric_key(str(row.feature))}"] = float(row.psi)
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory(prefix="churnml-score-") as scratch:
            path = Path(scratch) / "drift.csv"
            result.drift.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
        return str(run.info.run_id)


def run_figures(run_id: str, names: tuple[str, ...], *, tracking_uri_: str | None = None) -> dict[str, bytes]:
    """The PNG bytes of ``plots/<name>.png`` of a training run, for those that can be fetched."""
    import mlflow
    from mlflow.exceptions import MlflowException

    where = tracking_uri(tracking_uri_)
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="churnml-plots-") as scratch:
        for name in names:
            try:
                local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"plots/{name}.png",
                                                            dst_path=scratch, tracking_uri=where)
            except (MlflowException, OSError):
                continue
            out[name] = Path(local).read_bytes()
    return out


def log_backtest(result: Any, *, config: dict[str, Any] | None = None, tracking_uri_: str | None = None,
                 experiment: str = "churnml", run_name: str | None = None) -> str:
    """Record a :func:`churnml.backtest` as one MLflow run: metrics per cutoff and model
    (``backtest.<cutoff>.<model>.<metric>``, and the same per model with the cutoff as the step),
    the table and the predictions as artifacts. Returns the run id."""
    import mlflow

    from churnml._version import __version__
    from churnml.modeling import METRICS
    from churnml.modeling import definition_dict  # the definition as the training run logs it

    uri = tracking_uri(tracking_uri_)
    mlflow.set_tracking_uri(uri)
    set_experiment(experiment, uri)
    table = result.metrics
    with mlflow.start_run(run_name=run_name or "backtest") as run:
        commit = git_commit()
        mlflow.set_tags({"churnml.version": __version__, "churnml.kind": "backtest",
                         **({"mlflow.source.git.commit": commit, "git_commit": commit} if commit else {})})
        mlflow.log_params({**_flat("definition", definition_dict(result.definition)),
                           "cutoffs": ",".join(str(c) for c in sorted(table["cutoff"].unique()))})
        metrics: dict[str, float] = {}
        for step, (cutoff, part) in enumerate(table.groupby("cutoff", sort=True)):
            for row in part.itertuples(index=False):
                values = {key: float(getattr(row, key)) for key in ("rows", *METRICS)}
                metrics.update({f"backtest.{cutoff}.{row.model}.{key}": v for key, v in values.items()})
                mlflow.log_metrics({f"backtest.{row.model}.{key}": v for key, v in values.items()}, step=step)
        mlflow.log_metrics({_metric_key(k): v for k, v in metrics.items()})
        mlflow.log_dict(config or {}, "config.json")
        with tempfile.TemporaryDirectory(prefix="churnml-backtest-") as scratch:
            folder = Path(scratch)
            table.to_csv(folder / "backtest.csv", index=False)
            mlflow.log_artifact(str(folder / "backtest.csv"), "backtest")
            result.predictions.to_parquet(folder / "predictions.parquet", index=False)
            mlflow.log_artifact(str(folder / "predictions.parquet"), "backtest")
        return run.info.run_id


def log_evaluation(result: Any, run_id: str, *, tracking_uri_: str | None = None) -> str:
    """Add a :func:`churnml.evaluate` result to its scoring run: the realised figures as ``realised.*``
    beside the run's ``expected.*``, the tables as artifacts, and the tag ``churnml.evaluated`` (the
    label window's end). Evaluating again replaces the figures. Returns the run id."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(tracking_uri_)
    client = MlflowClient(uri, uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise ConfigError(f"No MLflow run {run_id!r} in the tracking store {uri!r}: {error.message}") from error
    if run.data.tags.get("churnml.kind") != "scoring":
        raise ConfigError(f"The MLflow run {run_id!r} is not a scoring run (tag churnml.kind is "
                          f"{run.data.tags.get('churnml.kind')!r}). Fix: pass the run id `churnml score` printed.")
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tags({"churnml.evaluated": result.label_window_closes.isoformat()})
        mlflow.log_metrics({_metric_key(f"realised.{key}"): value for key, value in result.figures().items()})
        with tempfile.TemporaryDirectory(prefix="churnml-evaluate-") as scratch:
            folder = Path(scratch)
            result.metrics.to_csv(folder / "realised_metrics.csv")
            result.tiers.to_csv(folder / "realised_tiers.csv", index=False)
            mlflow.log_artifact(str(folder / "realised_metrics.csv"), "evaluation")
            mlflow.log_artifact(str(folder / "realised_tiers.csv"), "evaluation")
    return run_id


def scoring_run(run_id: str, *, tracking_uri_: str | None = None) -> dict[str, Any]:
    """What a logged scoring run says about itself: ``scores`` (the file), ``as_of``, ``model_uri`` (the exact
    version when it was registered), ``tiers``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(tracking_uri_)
    try:
        run = MlflowClient(uri, uri).get_run(run_id)
    except MlflowException as error:
        raise ConfigError(f"No MLflow run {run_id!r} in the tracking store {uri!r}: {error.message}") from error
    tags, params = run.data.tags, run.data.params
    if tags.get("churnml.kind") != "scoring":
        raise ConfigError(f"The MLflow run {run_id!r} is not a scoring run (tag churnml.kind is "
                          f"{tags.get('churnml.kind')!r}). Fix: pass the run id `churnml score` printed.")
    scores = tags.get("scores.path") or params.get("output")
    if not scores or scores == "None":
        raise ConfigError(f"The scoring run {run_id!r} did not record its scores file. Fix: pass --scores.")
    name, version = tags.get("model.name"), tags.get("model.version")
    model_uri = f"models:/{name}/{version}" if name and version else params.get("model_uri")
    return {"scores": scores, "as_of": params.get("as_of"), "model_uri": model_uri,
            "tiers": {"high": float(params["tier_threshold.high"]), "medium": float(params["tier_threshold.medium"])}}


def scoring_runs(model_name: str, *, tracking_uri_: str | None = None) -> list[Any]:
    """Every scoring run of the registered model ``model_name``, in every experiment of the store."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(tracking_uri_)
    client = MlflowClient(uri, uri)
    escaped = model_name.replace("'", "\\'")
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs: list[Any] = []
        token = None
        while experiments:
            page = client.search_runs(experiments, f"tags.`churnml.kind` = 'scoring' AND tags.`model.name` = "
                                      f"'{escaped}'", max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
    except MlflowException as error:
        raise ConfigError(f"Could not read the runs of the tracking store {uri!r}: {error.message}") from error
    return runs
