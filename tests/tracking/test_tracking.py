"""MLflow: the run's contents read back through the client, the registry, the alias, and the CLI."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml.cli import app
from churnml.errors import ConfigError
from churnml.modeling._model import load_model
from churnml.modeling._trainer import ChurnTrainer
from churnml.tracking._runs import load_registered, log_training, tracking_uri

runner = CliRunner()


@pytest.fixture(scope="module")
def trainer():
    rng = np.random.default_rng(8)
    n = 2_400
    X = pd.DataFrame({"days_since_last_event": rng.exponential(20, n), "active_days_30d": rng.integers(0, 30, n),
                      "plan": pd.Categorical(rng.choice(["basic", "pro"], n), categories=["basic", "pro", "other"])})
    logit = 0.06 * X["days_since_last_event"] - 0.15 * X["active_days_30d"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    dates = np.repeat(pd.date_range("2024-01-01", periods=6, freq="MS"), n // 6)
    return ChurnTrainer(n_estimators=100).fit(X, y, observation_dates=dates)


@pytest.fixture(scope="module")
def tracked(trainer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    import mlflow

    mlflow.set_tracking_uri(uri)  # the artifact store follows the experiment, created below in folder
    mlflow.create_experiment("tests", artifact_location=(folder / "artifacts").as_uri())
    run = log_training(trainer, config={"source": {"path": "events.parquet"}, "horizon_days": 90},
                       tracking_uri_=uri, experiment="tests", register="churn", promote=True,
                       export=folder / "models" / "churn")
    return run, uri


def test_run_holds_config_fingerprint_metrics_and_artifacts(trainer, tracked):
    from mlflow.tracking import MlflowClient

    run_info, uri = tracked
    client = MlflowClient(uri)
    run = client.get_run(run_info.run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["trainer.max_depth"] == str(trainer.max_depth)
    assert params["config.horizon_days"] == "90" and params["config.source.path"] == "events.parquet"
    assert params["data.rows"] == str(len(trainer.test_features_) + sum(
        int(m.sum()) for name, m in trainer.split_.masks.items() if name != "test"))
    assert tags["data.sha256"] == trainer.data_fingerprint_["sha256"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0:  # the tests run from the repository: the run records its commit
        assert tags["git_commit"] == head.stdout.strip()
    assert metrics["test.roc_auc"] == pytest.approx(trainer.evaluation_.loc["model", "roc_auc"])
    assert metrics["baseline.logistic.test.pr_auc"] == pytest.approx(trainer.evaluation_.loc["logistic", "pr_auc"])
    assert metrics["baseline.recency.test.ece"] == pytest.approx(trainer.evaluation_.loc["recency", "ece"])
    history = client.get_metric_history(run_info.run_id, "test_by_date.roc_auc")
    assert len(history) == len(trainer.split_.dates["test"])
    top = {a.path for a in client.list_artifacts(run_info.run_id)}
    assert {"config.json", "data_fingerprint.json", "split.json", "plots", "evaluation"} <= top
    plots = {a.path for a in client.list_artifacts(run_info.run_id, "plots")}
    assert plots == {f"plots/{n}.png" for n in ("roc", "pr", "calibration", "gain", "feature_importance",
                                                "shap_beeswarm", "shap_waterfall_riskiest", "shap_dependence_plan",
                                                "shap_dependence_days_since_last_event",
                                                "shap_dependence_active_days_30d")}
    evaluation = {a.path for a in client.list_artifacts(run_info.run_id, "evaluation")}
    assert {"evaluation/test_predictions.parquet", "evaluation/shap_importance.csv"} <= evaluation
    config = json.loads(open(client.download_artifacts(run_info.run_id, "config.json")).read())
    assert config["horizon_days"] == 90


def test_registered_model_and_champion_alias(trainer, tracked):
    from mlflow.tracking import MlflowClient

    run_info, uri = tracked
    client = MlflowClient(uri, uri)
    version = client.get_model_version_by_alias("churn", "champion")
    assert str(version.version) == run_info.registered_version and version.run_id == run_info.run_id
    rows = trainer.test_features_
    expected = trainer.model_.predict_proba(rows)
    np.testing.assert_allclose(load_registered("models:/churn@champion", tracking_uri_=uri).predict_proba(rows),
                               expected)
    np.testing.assert_allclose(load_model(run_info.export_path).predict_proba(rows), expected)


def test_pyfunc_takes_raw_rows_and_returns_probabilities(trainer, tracked):
    import mlflow

    run_info, uri = tracked
    mlflow.set_tracking_uri(uri)
    pyfunc = mlflow.pyfunc.load_model("models:/churn@champion")
    rows = trainer.test_features_.head(10).assign(plan=lambda f: f["plan"].astype("object"))
    np.testing.assert_allclose(pyfunc.predict(rows).to_numpy(), trainer.model_.predict_proba(rows))
    assert pyfunc.metadata.get_input_schema().input_names() == ["days_since_last_event", "active_days_30d", "plan"]


def test_tracking_uri_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking_uri() == f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert tracking_uri() == "sqlite:///elsewhere.db"
    assert tracking_uri("sqlite:///flag.db") == "sqlite:///flag.db"


def test_bad_model_uri(tracked):
    _, uri = tracked
    with pytest.raises(ConfigError, match="not an MLflow model URI"):
        load_registered("churn@champion", tracking_uri_=uri)
    with pytest.raises(ConfigError, match="Could not fetch"):
        load_registered("models:/nobody@champion", tracking_uri_=uri)


@pytest.mark.slow
def test_cli_train_on_a_labelled_table_with_tuning(shared_data, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    telco = shared_data / "telco_ibm" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    result = runner.invoke(app, ["train", "--table", str(telco), "--label", "Churn", "--id-col", "customerID",
                                 "--tune", "2", "--promote", "--export", "models/churn", "--n-estimators", "300"])
    assert result.exit_code == 0, result.output
    assert "model URI: models:/churn/1" in result.output and "promoted: models:/churn@champion" in result.output
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "models" / "churn" / "manifest.json").is_file()
    client = MlflowClient("sqlite:///mlflow.db")
    experiment = client.get_experiment_by_name("churnml")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("mlflow.runName") == "tuning"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 3  # two trials and the final model
    final = [r for r in children if "test.roc_auc" in r.data.metrics]
    assert len(final) == 1 and final[0].data.metrics["test.roc_auc"] >= 0.84


def test_cli_train_needs_a_label_for_a_table(tmp_path):
    result = runner.invoke(app, ["train", "--table", str(tmp_path / "x.csv")])
    assert result.exit_code != 0
    assert "--table needs --label" in str(result.exception) + result.output
