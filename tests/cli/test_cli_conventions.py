"""The command line's conventions: quiet, fast to answer, one spelling of each option and date,
outputs checked before the work, the demo replacing only what it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnml.cli import app, main

runner = CliRunner()
HEAVY = ("sklearn", "xgboost", "mlflow", "shap", "numba", "pyspark")


def _churnml(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "churnml", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={**os.environ, "COLUMNS": "100", **(env or {})})


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["score", "--as-of", "2024-01-01"],
                                  ["analytics", "cohorts", "--help"]])
def test_help_and_argument_errors_import_no_heavy_library(args):
    code = ("import sys\nfrom churnml.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert "LOADED []" in result.stdout, result.stdout + result.stderr


def test_help_shows_plain_metavars_and_unmangled_text():
    text = _churnml("train", "--help").stdout
    assert "<bool>" not in text and "<str>" not in text and "<int range>" not in text
    assert "churnml[spark]" in text  # not eaten as rich markup
    assert "--horizon-days" in text and "DAYS" in text and "PATH" in text
    # a long list of choices moves into the help, so it cannot break mid-word
    assert "inactivity|subscription" not in text and "subscriptio\n" not in text
    assert "Replace an existing --export" in text  # not "output file"
    top = _churnml("--help").stdout
    assert "--debug" in top and "<bool>" not in top


def test_options_have_one_spelling_and_default_across_commands():
    def help_of(*command: str) -> str:
        return " ".join(runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output.split())

    explain, score = help_of("explain"), help_of("score")
    assert "models:/churn@champion" in explain and "models:/churn@champion" in score  # --model's default
    for text in (explain, score):
        assert "--top-k" in text and "[default: 3]" in text
    assert "--tracking-uri" in explain and "MLflow tracking store" in explain
    assert "--at-risk" in help_of("report")
    # the same data options everywhere, the new ones included
    for command in (["validate"], ["train"], ["score"], ["analytics", "churn-rate"]):
        text = help_of(*command)
        for option in ("--events", "--user-col", "--where", "--time-format", "--drop-null-user-ids", "--outliers"):
            assert option in text, (command, option)


@pytest.mark.parametrize(("given", "said"), [
    ("20241201", "has no dashes; write it as 2024-12-01"),
    ("2024-13-01", "has month 13; months are 01 to 12"),
    ("2024/12/01", "separates its parts with '/' or '.'"),
    ("2024-12", "has no day"),
    ("2024-02-30", "has day 30; February 2024 has days 01 to 29"),
    ("01-12-2024", "puts the year last"),
])
def test_dates_are_read_one_way_and_the_wrong_part_is_named(small_product, given, said, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["analytics", "inactive", "--events", str(small_product["events"]), "--as-of", given])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and f"--as-of {given!r} {said}" in err, err


def test_a_date_is_echoed_as_parsed(small_product):
    result = runner.invoke(app, ["analytics", "inactive", "--events", str(small_product["events"]),
                                 "--as-of", " 2024-06-01 "])
    assert result.exit_code == 0, result.output
    assert "as of 2024-06-01" in result.output and "' 2024-06-01 '" not in result.output


def test_churn_rate_uses_the_models_active_window_by_default(small_product):
    def rates(*extra: str) -> str:
        result = runner.invoke(app, ["analytics", "churn-rate", "--events", str(small_product["events"]),
                                     "--basis", "inactivity", *extra])
        assert result.exit_code == 0, result.output
        return result.output

    default = rates()
    assert default == rates("--active-window-days", "90") and default != rates("--active-window-days", "30")


def test_train_refuses_an_existing_export_before_training_and_registers_nothing(shared_data, tmp_path):
    export = tmp_path / "exported"
    export.mkdir()
    (export / "keep.txt").write_text("a user's file")
    store = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    result = _churnml("train", "--table", str(shared_data / "telco_ibm/WA_Fn-UseC_-Telco-Customer-Churn.csv"),
                      "--label", "Churn", "--id-col", "customerID", "--tracking-uri", store, "--export", str(export),
                      "--register", "telco", cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists" in result.stderr and "--overwrite" in result.stderr
    assert "overwrite=True" not in result.stderr
    assert (export / "keep.txt").read_text() == "a user's file" and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_train_and_score_print_nothing_of_mlflow_on_stderr(shared_data, tmp_path):
    table = str(shared_data / "telco_ibm/WA_Fn-UseC_-Telco-Customer-Churn.csv")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"}
    trained = _churnml("train", "--table", table, "--label", "Churn", "--id-col", "customerID",
                       "--register", "telco", "--promote", cwd=tmp_path, env=env)
    assert trained.returncode == 0, trained.stderr
    scored = _churnml("score", "--model", "models:/telco@champion", "--table", table, "--id-col", "customerID",
                      "--out", str(tmp_path / "scores.parquet"), cwd=tmp_path, env=env)
    assert scored.returncode == 0, scored.stderr
    for stderr in (trained.stderr, scored.stderr):
        for noise in ("INFO", "mlflow", "alembic", "Downloading artifacts", "Successfully registered",
                      "Created version", "Validating input example"):
            assert noise not in stderr, stderr
    assert "promoted: models:/telco@champion" in trained.stdout and "scored 7,043 accounts" in scored.stdout


def test_demo_replaces_only_what_an_earlier_demo_wrote(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("not the demo's")
    result = runner.invoke(app, ["demo", "--out", str(mine), "--users", "300"])
    assert result.exit_code == 1
    assert (mine / "notes.txt").read_text() == "not the demo's" and not (mine / "events.parquet").exists()
    from churnml.cli._app import _console
    from churnml.cli._data import _DEMO_MARK, _claim_demo_outputs

    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / _DEMO_MARK).write_text("written by `churnml demo`")
    (earlier / "events.parquet").write_text("old")
    _claim_demo_outputs(_console(), earlier, tmp_path / "models" / "churn", overwrite=False)  # an earlier demo's
    _claim_demo_outputs(_console(), mine, tmp_path / "models" / "churn", overwrite=True)  # asked for
    assert (mine / _DEMO_MARK).is_file()


def test_the_library_tells_its_steps_to_a_listener_only(small_product):
    from churnml import EventSource, SubscriptionSource, load
    from churnml._progress import listening
    from churnml.contract._definitions import SubscriptionChurn
    from churnml.features._dataset import build_dataset
    from churnml.modeling._trainer import ChurnTrainer

    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]))
    steps: list[str] = []
    with listening(steps.append):
        training = build_dataset(data, SubscriptionChurn(horizon_days=30))
        ChurnTrainer(n_estimators=60, baselines=False).fit(training)
    said = " | ".join(steps)
    for part in ("observation dates", "boosting on", "round 25", "calibrating", "refit: cross-fitting fold 1",
                 "refit: "):
        assert part in said, said


def test_cohort_table_is_never_cut_to_the_terminal_width(small_product):
    result = runner.invoke(app, ["analytics", "cohorts", "--events", str(small_product["events"])],
                           env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output and "accounts" in result.output and "2024-01-01" in result.output


def test_explain_says_what_the_probability_means(small_product, tmp_path):
    from churnml import EventSource, SubscriptionSource, load
    from churnml.contract._definitions import SubscriptionChurn, describe_probability
    from churnml.features._dataset import build_dataset
    from churnml.modeling._trainer import ChurnTrainer

    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]))
    model = ChurnTrainer(n_estimators=40, baselines=False, refit=False).fit(
        build_dataset(data, SubscriptionChurn(horizon_days=30))).model_
    model.save(tmp_path / "model")
    from churnml.scoring._scoring import score

    user = str(score(model, data, as_of="2024-12-01", reasons="none").frame["user_id"].iloc[0])
    result = runner.invoke(app, ["explain", "--model", str(tmp_path / "model"), "--user", user, "--as-of",
                                 "2024-12-01", "--events", str(small_product["events"]), "--subscriptions",
                                 str(small_product["subscriptions"])], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    sentence = describe_probability(SubscriptionChurn(horizon_days=30), "2024-12-01")
    assert " ".join(sentence.split()) in " ".join(result.output.split())
