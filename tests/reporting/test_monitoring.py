"""Monitoring scored runs: evaluate against labels computed by hand from the events, the estimate against
the outcome (and away from it with a broken calibrator), refusals, and `churnml monitor` over three runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml import AccountSource, ChurnTrainer, EventSource, InactivityChurn, SubscriptionSource, load
from churnml.engines import engine_named
from churnml.errors import DataValidationError, LabelWindowOpenError
from churnml.features._dataset import build_dataset
from churnml.modeling._model import PlattCalibrator, load_model, prepare
from churnml.modeling._trainer import model_baselines
from churnml.scoring._evaluation import evaluate
from churnml.scoring._scoring import DriftWarning, write_scores

engine = engine_named("duckdb")

CUTOFF = dt.date(2024, 10, 1)  # trained on what was known then; the generator's year ends 2024-12-30
CHURN = InactivityChurn(horizon_days=30, active_window_days=30)
DAY = pd.Timedelta(days=1)
runner = CliRunner()


@pytest.fixture(scope="module")
def data(small_product):
    return load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A model trained on the events before CUTOFF only (as a deployed model is), and its saved folder."""
    training = build_dataset(engine.truncated(data, CUTOFF), CHURN, step_days=14)
    trainer = ChurnTrainer(refit=False).fit(training)  # the evaluated model: a few seconds instead of a minute
    folder = trainer.model_.save(tmp_path_factory.mktemp("model") / "churn")
    return trainer, load_model(folder), folder


def _scores(model, data, path, as_of):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        return write_scores(model, data, path, as_of=as_of, reasons="none")


# ----------------------------------------------------------------- by hand


def _labels_by_hand(events: pd.DataFrame, t: dt.date, horizon: int, active: int) -> pd.Series:
    """Eligible = an event in the `active` days before t; churned = no event in [t, t + horizon)."""
    T = pd.Timestamp(t)
    recent = events[(events["timestamp"] >= T - active * DAY) & (events["timestamp"] < T)]["user_id"].unique()
    later = events[(events["timestamp"] >= T) & (events["timestamp"] < T + horizon * DAY)]["user_id"].unique()
    eligible = pd.Index(np.sort(recent))
    return pd.Series((~eligible.isin(later)).astype(int), index=eligible)


def _auc_by_pairs(y, s):
    pos, neg = s[y == 1], s[y == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


def _average_precision_by_hand(y, s):
    """Sum over distinct thresholds (highest first) of (recall gained) x (precision there)."""
    total, out, seen_pos, seen = y.sum(), 0.0, 0, 0
    for threshold in np.unique(s)[::-1]:
        at = s == threshold
        seen_pos, seen = seen_pos + y[at].sum(), seen + at.sum()
        out += (y[at].sum() / total) * (seen_pos / seen)
    return out


def _top_by_hand(y_ranked, share):
    k = max(1, int(round(share * len(y_ranked))))
    return y_ranked[:k].mean() / y_ranked.mean(), y_ranked[:k].sum() / y_ranked.sum()


def _ece_by_hand(y, p):
    total = 0.0
    for b in range(10):
        inside = (p >= b / 10) & ((p < (b + 1) / 10) if b < 9 else (p <= 1))
        if inside.any():
            total += inside.sum() / len(y) * abs(y[inside].mean() - p[inside].mean())
    return total


def _check_by_hand(row, y, p):
    """y and p in the scores' (rank) order."""
    assert row["roc_auc"] == pytest.approx(_auc_by_pairs(y, p), abs=1e-9)
    assert row["pr_auc"] == pytest.approx(_average_precision_by_hand(y, p), abs=1e-9)
    order = np.argsort(-p, kind="stable")
    for share, tag in ((0.1, "10"), (0.2, "20")):
        lift, capture = _top_by_hand(y[order], share)
        assert row[f"lift_at_{tag}"] == pytest.approx(lift, abs=1e-9)
        assert row[f"capture_at_{tag}"] == pytest.approx(capture, abs=1e-9)
    assert row["ece"] == pytest.approx(_ece_by_hand(y, p), abs=1e-9)
    assert row["churners"] == y.sum() and row["expected_churners"] == pytest.approx(p.sum(), abs=1e-9)


def test_evaluate_equals_metrics_computed_by_hand_from_the_events(small_product, data, trained, tmp_path):
    trainer, model, _ = trained
    as_of = dt.date(2024, 11, 1)
    path = tmp_path / "scores.parquet"
    _scores(model, data, path, as_of)
    result = evaluate(path, data, model)

    scores = pd.read_parquet(path)
    events = pd.read_parquet(small_product["events"])
    labels = _labels_by_hand(events, as_of, 30, 30)
    assert sorted(scores["user_id"]) == list(labels.index)  # the scored accounts are the eligible ones
    y = labels[scores["user_id"]].to_numpy()
    assert 0.03 < y.mean() < 0.5
    _check_by_hand(result.metrics.loc["model"], y, scores["churn_probability"].to_numpy())
    # each baseline as trained (the logistic one through its scikit-learn pipeline), on the features at the date
    assert set(result.metrics.index) == {"model", *trainer.baselines_} == {"model", "recency", "logistic", "bgnbd"}
    features = engine.compute(data, model.spec, CHURN, [as_of], labels=False).set_index("user_id")
    X = prepare(features.loc[scores["user_id"]].reset_index(), model.columns)
    for name, baseline in trainer.baselines_.items():
        p = (baseline.pipeline_.predict_proba(baseline._input(X))[:, 1] if name == "logistic"
             else baseline.predict_proba(X))
        _check_by_hand(result.metrics.loc[name], y, p)
    # per tier: the scores' own tiers, expected = sum of probabilities, realised = churners by hand
    tiers = result.tiers[result.tiers["model"] == "model"].set_index("tier")
    for tier in ("high", "medium", "low"):
        mine = (scores["risk_tier"] == tier).to_numpy()
        assert tiers.loc[tier, "accounts"] == mine.sum()
        assert tiers.loc[tier, "churners"] == y[mine].sum()
        assert tiers.loc[tier, "expected_churners"] == pytest.approx(scores["churn_probability"][mine].sum())
    high = (scores["risk_tier"] == "high").to_numpy()
    assert tiers.loc["high", "precision"] == pytest.approx(y[high].mean())
    assert tiers.loc["high", "recall"] == pytest.approx(y[high].sum() / y.sum())


def test_baselines_read_back_from_the_model_files_predict_as_trained(data, trained):
    trainer, model, _ = trained
    frame = engine.compute(data, model.spec, CHURN, [CUTOFF], labels=False)
    X = prepare(frame, model.columns)
    loaded = model_baselines(model)
    assert set(loaded) == set(trainer.baselines_)
    logistic = trainer.baselines_["logistic"]
    np.testing.assert_allclose(loaded["logistic"].predict_proba(X),
                               logistic.pipeline_.predict_proba(logistic._input(X))[:, 1], rtol=0, atol=1e-12)
    for name in ("recency", "bgnbd"):
        np.testing.assert_allclose(loaded[name].predict_proba(X), trainer.baselines_[name].predict_proba(X),
                                   rtol=0, atol=1e-12)


def test_estimated_auc_is_near_the_realised_one_and_moves_away_with_a_broken_calibrator(data, trained, tmp_path):
    _, model, _ = trained
    for as_of in (CUTOFF, dt.date(2024, 11, 1)):
        scored = _scores(model, data, tmp_path / f"{as_of}.parquet", as_of)
        result = evaluate(scored.path, data, model)
        realised = result.metrics.loc["model", "roc_auc"]
        assert scored.expected["roc_auc"] == pytest.approx(result.expected["roc_auc"], abs=1e-12)
        assert abs(scored.expected["roc_auc"] - realised) <= 0.03, (as_of, scored.expected["roc_auc"], realised)
        assert result.churners_in_band
    # the same booster (same ranking, same realised AUC) with probabilities squeezed towards 1/2: the
    # estimate, which trusts them, falls far below what happened
    broken = dataclasses.replace(model, calibrator=PlattCalibrator(slope=0.15, intercept=0.0))
    scored = _scores(broken, data, tmp_path / "broken.parquet", CUTOFF)
    result = evaluate(scored.path, data, broken)
    assert result.metrics.loc["model", "roc_auc"] > 0.9
    assert result.metrics.loc["model", "roc_auc"] - scored.expected["roc_auc"] > 0.1
    assert not result.churners_in_band


def test_evaluate_before_the_label_window_closes_is_refused_with_the_date(small_product, data, trained, tmp_path):
    _, model, folder = trained
    path = tmp_path / "late.parquet"
    _scores(model, data, path, "2024-12-15")
    with pytest.raises(LabelWindowOpenError, match=r"data ends on 2024-12-30\. It can run on or after 2025-01-14") \
            as caught:
        evaluate(path, data, model)
    assert caught.value.ready_on == dt.date(2025, 1, 14)
    from churnml.cli import app

    result = runner.invoke(app, [
        "evaluate", "--scores", str(path), "--model", str(folder), "--events", str(small_product["events"]),
        "--subscriptions", str(small_product["subscriptions"]), "--accounts", str(small_product["accounts"])])
    assert result.exit_code == 1
    assert isinstance(result.exception, LabelWindowOpenError) and "2025-01-14" in str(result.exception)


def test_scores_that_are_not_one_run_of_this_data_are_refused(data, trained, tmp_path):
    _, model, _ = trained
    path = tmp_path / "scores.parquet"
    _scores(model, data, path, "2024-11-01")
    scores = pd.read_parquet(path)
    with pytest.raises(DataValidationError, match="lack the column.*'churn_probability'"):
        evaluate(scores.drop(columns=["churn_probability"]), data, model)
    two = scores.assign(as_of=np.where(np.arange(len(scores)) % 2, scores["as_of"], pd.Timestamp("2024-10-01")))
    with pytest.raises(DataValidationError, match="one date; they hold 2 dates"):
        evaluate(two, data, model)
    stranger = pd.concat([scores, scores.head(1).assign(user_id=10**9)], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"1 of the .* scored accounts .* not eligible on 2024-11-01 .* "
                                                  r"e\.g\. 1000000000"):
        evaluate(stranger, data, model)
    with pytest.raises(DataValidationError, match=r"1 rows do not, e\.g\. 1\.5"):
        evaluate(scores.assign(churn_probability=np.r_[1.5, scores["churn_probability"].to_numpy()[1:]]), data,
                 model)


# ----------------------------------------------------------------- the CLI over MLflow


@pytest.fixture
def mlflow_environment():
    """MLflow writes the store it was pointed at into os.environ (MLFLOW_TRACKING_URI, MLFLOW_REGISTRY_URI,
    MLFLOW_EXPERIMENT_ID); put them back, so later tests (and their subprocesses) do not inherit this store."""
    before = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_") and k not in before]:
        del os.environ[key]
    os.environ.update(before)


def _run_id(output: str) -> str:
    return output.split("scoring run logged to MLflow: ")[1].split()[0]


@pytest.mark.slow  # three scoring runs, three evaluations and a registered model in MLflow: ~20 s
def test_monitor_flags_the_run_with_a_shifted_input_and_plots(small_product, trained, tmp_path, monkeypatch,
                                                              mlflow_environment):
    from churnml.cli import app
    from churnml.tracking._runs import log_training

    trainer, _, _ = trained
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    log_training(trainer, register="churn", plots=False)
    empty = runner.invoke(app, ["monitor", "--model", "churn"])
    assert empty.exit_code == 1 and "no scoring run" in str(empty.exception)  # nothing to monitor is an error

    events = ["--events", str(small_product["events"]), "--subscriptions", str(small_product["subscriptions"]),
              "--accounts", str(small_product["accounts"])]
    runs = {}
    for as_of, shift in (("2024-10-01", []), ("2024-10-21", []),
                         # a broken tracking feed: four events in five lost before the date
                         ("2024-11-10", ["--where", "hash(user_id, \"timestamp\") % 5 = 0"])):
        scored = runner.invoke(app, ["score", "--model", "models:/churn/1", "--as-of", as_of, "--reasons", "none",
                                     "--out", f"scores_{as_of}.parquet", *events, *shift])
        assert scored.exit_code == 0, scored.output
        assert "expected ROC-AUC" in scored.output and "calibration holds" in scored.output
        runs[as_of] = _run_id(scored.output)
    pending = runner.invoke(app, ["monitor", "--model", "churn"])
    assert pending.exit_code == 0 and pending.output.count("pending until") == 3  # nothing realised yet

    for as_of, run_id in runs.items():
        evaluated = runner.invoke(app, ["evaluate", "--run", run_id, *events])  # the full log, as it is now
        assert evaluated.exit_code == 0, evaluated.output
        assert f"scores as of {as_of}" in evaluated.output and "logistic" in evaluated.output

    result = runner.invoke(app, ["monitor", "--model", "models:/churn@champion", "--plot", "history.png",
                                 "--out", "history.csv"])
    assert result.exit_code == 1, result.output
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["as_of"].tolist() == list(runs)  # time order
    assert history["status"].eq("evaluated").all()
    assert history["flags"].isna().tolist() == [True, True, False], history[["as_of", "flags"]]
    assert "calibration broke" in history["flags"].iloc[2]
    assert "FLAG 2024-11-10" in result.output and "FLAG 2024-10-" not in result.output
    # the shifted run's inputs moved: its largest drift (PSI) is over the warning line and beyond the fine runs'
    largest = history["largest_drift"].map(lambda text: float(text.split(",")[0].split(" ")[1]))
    assert largest.iloc[2] > 0.25 and largest.iloc[2] > 2 * largest.iloc[:2].max(), history["largest_drift"]
    # the plot was drawn: a PNG of some size whose pixels vary
    from matplotlib.image import imread

    png = tmp_path / "history.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    pixels = imread(png)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500 and pixels[..., :3].std() > 0.05
    # the run's page holds the estimate and the outcome side by side
    import mlflow

    logged = mlflow.MlflowClient(uri).get_run(runs["2024-10-01"]).data.metrics
    assert {"expected.roc_auc", "realised.roc_auc", "realised.baseline.logistic.roc_auc",
            "expected.tier.high.churners", "realised.tier.high.churners"} <= set(logged)
    # the retention report shows the latest realised figures, and the flag
    page = runner.invoke(app, ["report", "--scores", "scores_2024-11-10.parquet", "--model", "models:/churn/1",
                               "--out", "report.html"])
    assert page.exit_code == 0, page.output
    text = (tmp_path / "report.html").read_text()
    latest = mlflow.MlflowClient(uri).get_run(runs["2024-11-10"]).data.metrics
    assert "How the last evaluated scores turned out" in text and "Scores as of 2024-11-10" in text
    assert f'<td class="num">{latest["realised.roc_auc"]:.3f}</td>' in text and "calibration broke" in text


@pytest.mark.slow
def test_online_retail_evaluated_by_hand_and_estimated_within_003(shared_data, tmp_path):
    path = shared_data / "online_retail" / "online_retail.parquet"
    data = load(EventSource(path, user_id="CustomerID", timestamp="InvoiceDate", value="Quantity * UnitPrice",
                            where="CustomerID IS NOT NULL"))
    churn = InactivityChurn(horizon_days=90)
    cutoff = dt.date(2011, 8, 1)
    trainer = ChurnTrainer().fit(build_dataset(engine.truncated(data, cutoff), churn))  # the shipped (refit) model
    model = trainer.model_
    raw = pd.read_parquet(path, columns=["CustomerID", "InvoiceDate"]).dropna(subset=["CustomerID"])
    events = pd.DataFrame({"user_id": raw["CustomerID"], "timestamp": pd.to_datetime(raw["InvoiceDate"])})
    for as_of in (cutoff, dt.date(2011, 9, 1)):
        scored = _scores(model, data, tmp_path / f"{as_of}.parquet", as_of)
        result = evaluate(scored.path, data, model)
        scores = pd.read_parquet(scored.path)
        labels = _labels_by_hand(events, as_of, 90, 90)
        assert sorted(scores["user_id"].astype(float)) == list(labels.index)
        y = labels[scores["user_id"].astype(float)].to_numpy()
        _check_by_hand(result.metrics.loc["model"], y, scores["churn_probability"].to_numpy())
        features = engine.compute(data, model.spec, churn, [as_of], labels=False).set_index("user_id")
        X = prepare(features.loc[scores["user_id"]].reset_index(), model.columns)
        for name, baseline in trainer.baselines_.items():
            p = (baseline.pipeline_.predict_proba(baseline._input(X))[:, 1] if name == "logistic"
                 else baseline.predict_proba(X))
            _check_by_hand(result.metrics.loc[name], y, p)
        realised = result.metrics.loc["model", "roc_auc"]
        assert abs(scored.expected["roc_auc"] - realised) <= 0.03, (as_of, scored.expected["roc_auc"], realised)
    broken = dataclasses.replace(model, calibrator=PlattCalibrator(slope=0.15, intercept=0.0))
    scored = _scores(broken, data, tmp_path / "broken.parquet", cutoff)
    result = evaluate(scored.path, data, broken)
    assert result.metrics.loc["model", "roc_auc"] - scored.expected["roc_auc"] > 0.1
