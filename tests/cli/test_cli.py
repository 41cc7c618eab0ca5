"""The command line: thin commands, errors as one line on stderr with exit code 1."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from churnml.cli import app, main

runner = CliRunner()
DESIGN_COMMANDS = ["demo", "generate", "features", "dataset", "train", "score", "explain", "report", "analytics"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "churnml", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command_of_the_design():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in DESIGN_COMMANDS:
        assert command in result.output


def test_data_error_is_one_line_on_stderr_with_exit_code_1(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,timestamp\n1,2024-01-01\n2,not a date\n")
    result = run("validate", "--events", str(tmp_path / "events.csv"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: Column 'timestamp' of the events source has 1 of 2 rows")
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,timestamp\n1,2024-01-01\n2,not a date\n")
    result = run("--debug", "validate", "--events", str(tmp_path / "events.csv"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "TimestampParseError" in result.stderr


def test_generate_then_validate(tmp_path):
    out = tmp_path / "product"
    result = runner.invoke(app, ["generate", "--out", str(out), "--users", "200", "--days", "90", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "200 rows" in result.output and "accounts.parquet" in result.output
    result = runner.invoke(app, ["validate", "--events", str(out / "events.parquet"),
                                 "--subscriptions", str(out / "subscriptions.parquet"),
                                 "--accounts", str(out / "accounts.parquet")])
    assert result.exit_code == 0, result.output
    assert "events from" in result.output and "subscriptions from" in result.output


def test_validate_with_mapping_flags_on_online_retail(shared_data):
    result = runner.invoke(app, ["validate", "--events", str(shared_data / "online_retail/online_retail.parquet"),
                                 "--user-col", "CustomerID", "--time-col", "InvoiceDate",
                                 "--value-col", "Quantity * UnitPrice", "--where", "CustomerID IS NOT NULL"])
    assert result.exit_code == 0, result.output
    assert "541,909" in result.output and "135,080 rows: where CustomerID IS NOT NULL" in result.output


def test_validate_reads_mappings_from_the_config_file(shared_data, tmp_path, capsys):
    config = tmp_path / "churnml.toml"
    config.write_text(f"""
[events]
path = "{(shared_data / 'online_retail/online_retail.parquet').as_posix()}"
user_id = "Country"
timestamp = "InvoiceDate"
value = "Quantity * UnitPrice"
""")
    result = runner.invoke(app, ["validate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "135,080" not in result.output and "Country" in result.output  # the file's mapping: no null ids
    # A flag overrides the file: CustomerID has 135,080 null ids, refused with the CLI's fix...
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--config", str(config), "--user-col", "CustomerID"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "135,080" in err and "--drop-null-user-ids" in err, err
    assert "drop_null_user_ids=True" not in err
    # ...and the flag that drops them counts them
    result = runner.invoke(app, ["validate", "--config", str(config), "--user-col", "CustomerID",
                                 "--drop-null-user-ids"])
    assert result.exit_code == 0, result.output
    assert "135,080 rows: null user_id (--drop-null-user-ids)" in result.output


def test_validate_labelled_table(shared_data):
    result = runner.invoke(app, ["validate", "--table", str(shared_data / "telco_ibm/WA_Fn-UseC_-Telco-Customer-Churn.csv"),
                                 "--label", "Churn", "--id-col", "customerID"])
    assert result.exit_code == 0, result.output
    assert "1,869 churned of 7,043" in result.output


def test_generate_refuses_to_overwrite(tmp_path):
    args = ["generate", "--out", str(tmp_path), "--users", "20", "--days", "60"]
    assert run(*args).returncode == 0
    result = run(*args)
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert run(*args, "--overwrite").returncode == 0


def test_version():
    result = runner.invoke(app, ["--version"])
    from churnml import __version__

    assert result.exit_code == 0 and result.output.strip() == __version__


def test_demo_runs_end_to_end_on_a_small_product(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo's MLflow store and model export go to the working folder
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--users", "400"])
    assert result.exit_code == 0, result.output
    assert "promoted: models:/churn@champion" in result.output
    assert "5. why the riskiest account" in result.output and "(retained accounts: " in result.output
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "models" / "churn" / "manifest.json").is_file()
    import pandas as pd

    training = pd.read_parquet(tmp_path / "training_set.parquet")
    assert {"user_id", "observation_date", "label", "churn_type", "days_since_last_event"} <= set(training.columns)
    assert training["label"].isin([0, 1]).all() and 0 < training["label"].mean() < 0.5
    assert "label rate" in result.output
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert scores["rank"].tolist() == list(range(1, len(scores) + 1)) and len(scores) > 100
    assert f"scored {len(scores):,} accounts" in result.output
    page = (tmp_path / "report.html").read_text()
    assert f'data-card="accounts scored">{len(scores):,}<' in page and "<h3>Churn rate</h3>" in page
    assert "mlflow ui --backend-store-uri" in result.output
    import re

    # the demo's headline rate is the report's: one rule (the model's definition, steady months) for both
    said = re.search(r"mean monthly churn rate (\d+\.\d%) \(annualised (\d+\.\d%)\) over (\d+) months", result.output)
    shown = re.search(r"Mean monthly churn rate (\d+\.\d%) \(annualised (\d+\.\d%)\)", page)
    assert said and shown and said.groups()[:2] == shown.groups(), (said, shown)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    runs = client.search_runs(client.get_experiment_by_name("churnml").experiment_id,
                              filter_string="tags.`churnml.kind` = 'scoring'")
    assert len(runs) == 1 and runs[0].data.metrics["accounts"] == len(scores)
    assert runs[0].data.tags["model.version"] == "1"


@pytest.mark.slow
def test_demo_on_the_real_online_retail_log(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = runner.invoke(app, [
        "demo", "--out", str(tmp_path / "retail"),
        "--events", str(shared_data / "online_retail/online_retail.parquet"), "--user-col", "CustomerID",
        "--time-col", "InvoiceDate", "--value-col", "Quantity * UnitPrice", "--where", "CustomerID IS NOT NULL",
        "--churn", "inactivity", "--horizon-days", "90"])
    assert result.exit_code == 0, result.output
    assert "inactivity churn, 90-day horizon" in result.output and "generate" not in result.output
    import pandas as pd

    scores = pd.read_parquet(tmp_path / "retail" / "scores.parquet")
    assert len(scores) > 2_000 and scores["revenue_at_risk"].notna().all()
    assert (tmp_path / "retail" / "report.html").stat().st_size > 100_000
