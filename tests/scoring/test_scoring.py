"""Batch scoring: schema and ranking, tiers, reasons where promised, byte-identical reruns, atomic output
under SIGKILL, drift, missing inputs, the CLI and the MLflow scoring run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.contract._definitions import SubscriptionChurn
from churnml.engines import engine_named
from churnml.errors import ConfigError, MissingFeatureError
from churnml.explain._explainer import ChurnExplainer
from churnml.features._dataset import build_dataset
from churnml.features._spec import FeatureBuilder
from churnml.modeling._model import ChurnModel
from churnml.modeling._trainer import ChurnTrainer
from churnml.scoring._scoring import DriftWarning, score, write_scores

compute = engine_named("duckdb").compute

AS_OF = "2024-12-01"


def _load(product, **events):
    return load(EventSource(product["events"], **events), SubscriptionSource(product["subscriptions"]),
                AccountSource(product["accounts"]))


@pytest.fixture(scope="module")
def fitted(small_product, tmp_path_factory):
    data = _load(small_product)
    training = build_dataset(data, SubscriptionChurn(horizon_days=30),
                             builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    trainer = ChurnTrainer().fit(training)
    folder = trainer.model_.save(tmp_path_factory.mktemp("model") / "churn")
    return trainer.model_, data, folder


@pytest.fixture(scope="module")
def scored(fitted):
    model, data, _ = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        return score(model, data, as_of=AS_OF, batch_rows=700)  # several chunks


def _sources(product):
    return ["--events", str(product["events"]), "--subscriptions", str(product["subscriptions"]),
            "--accounts", str(product["accounts"])]


def test_one_ranked_row_per_eligible_account_with_the_training_features(fitted, scored):
    model, data, _ = fitted
    frame = scored.frame
    reasons = [f"reason_{i}{s}" for i in (1, 2, 3) for s in ("", "_feature", "_contribution", "_family")]
    assert list(frame.columns) == ["user_id", "as_of", "churn_probability", "risk_tier", "rank",
                                   "revenue_at_risk", *reasons]
    # the same accounts and probabilities as the training code's features at that date
    features = compute(data, model.spec, model.churn_definition(), [pd.Timestamp(AS_OF).date()], labels=False)
    assert scored.accounts == len(frame) == len(features) == frame["user_id"].nunique()
    expected = pd.Series(model.predict_proba(features), index=features["user_id"].to_numpy())
    np.testing.assert_allclose(frame["churn_probability"], expected[frame["user_id"]].to_numpy(), rtol=0, atol=1e-12)
    assert (frame["as_of"] == pd.Timestamp(AS_OF)).all()
    # rank 1 is the riskiest; ties (none expected) would fall back to the user id
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    assert frame["churn_probability"].is_monotonic_decreasing
    # revenue at risk = probability x MRR of the running subscription, else x the monthly spend over 90 days
    by_user = features.set_index("user_id").loc[frame["user_id"]]
    monthly = by_user["mrr"].fillna(by_user["value_sum_90d"].fillna(0.0) / 3).to_numpy()
    assert by_user["mrr"].notna().mean() > 0.5
    np.testing.assert_allclose(frame["revenue_at_risk"], frame["churn_probability"] * monthly)
    assert scored.revenue_at_risk == pytest.approx(float(frame["revenue_at_risk"].sum()))


def test_tiers_follow_the_model_cut_offs_or_the_given_ones(fitted, scored):
    model, data, _ = fitted
    frame = scored.frame
    cuts = model.info["tiers"]
    expected = np.where(frame["churn_probability"] >= cuts["high"], "high",
                        np.where(frame["churn_probability"] >= cuts["medium"], "medium", "low"))
    assert frame["risk_tier"].tolist() == expected.tolist()
    assert scored.tier_counts == {t: int((expected == t).sum()) for t in ("high", "medium", "low")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        strict = score(model, data, as_of=AS_OF, tiers={"high": 0.9, "medium": 0.5}, reasons="none")
    assert strict.tier_counts["high"] == int((frame["churn_probability"] >= 0.9).sum())
    assert strict.tier_counts["low"] == int((frame["churn_probability"] < 0.5).sum())
    with pytest.raises(ConfigError, match="medium <= high"):
        score(model, data, as_of=AS_OF, tiers={"high": 0.2, "medium": 0.5})


def test_reasons_exactly_for_the_high_and_medium_tiers_by_default(fitted, scored):
    model, data, _ = fitted
    frame = scored.frame
    at_risk = frame["risk_tier"] != "low"
    assert frame.loc[at_risk, "reason_1"].notna().all()
    assert frame.loc[~at_risk, ["reason_1", "reason_1_feature"]].isna().all().all()
    assert frame.loc[~at_risk, "reason_1_contribution"].isna().all()
    assert scored.explained == int(at_risk.sum())
    # they are the explainer's reasons for the same rows
    features = compute(data, model.spec, model.churn_definition(), [pd.Timestamp(AS_OF).date()], labels=False)
    top = frame[at_risk].head(50)
    rows = features.set_index("user_id").loc[top["user_id"]].reset_index()
    expected = ChurnExplainer(model, top_k=3).reasons(rows)
    for column in ("reason_1", "reason_2_feature", "reason_3", "reason_1_family", "reason_3_family"):
        assert top[column].tolist() == expected[column].tolist()
    np.testing.assert_allclose(top["reason_1_contribution"], expected["reason_1_contribution"], rtol=1e-6)
    assert (top["reason_1_contribution"] > 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        everyone = score(model, data, as_of=AS_OF, reasons="all", top_k=1).frame
        nobody = score(model, data, as_of=AS_OF, reasons="none").frame
    assert list(everyone.columns)[-4:] == ["reason_1", "reason_1_feature", "reason_1_contribution", "reason_1_family"]
    assert everyone["reason_1"].notna().sum() > at_risk.sum()
    assert everyone.loc[everyone["reason_1"].isna(), "reason_1_contribution"].isna().all()
    assert nobody["reason_1"].isna().all()


@pytest.mark.parametrize("reasons", ["tiers", "all"])
def test_the_file_holds_what_the_plain_pieces_give(fitted, tmp_path, reasons):
    """Every column and value of the scores file (read back) as the public pieces compute them in one
    DataFrame: the engine's features, predict_proba, the tiers, the explainer's reasons, sorted by hand."""
    import pyarrow.parquet as pq

    model, data, _ = fitted
    path = tmp_path / "scores.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        result = write_scores(model, data, path, as_of=AS_OF, batch_rows=700, reasons=reasons)  # several chunks
    written = pq.read_table(path)
    assert [(f.name, str(f.type)) for f in written.schema][:6] == [
        ("user_id", "int64"), ("as_of", "date32[day]"), ("churn_probability", "double"), ("risk_tier", "string"),
        ("rank", "int64"), ("revenue_at_risk", "double")]
    assert {str(f.type) for f in written.schema if f.name.startswith("reason_")} == {"string", "double"}

    features = compute(data, model.spec, model.churn_definition(), [pd.Timestamp(AS_OF).date()], labels=False)
    p = model.predict_proba(features)
    cuts = model.info["tiers"]
    monthly = features["mrr"].fillna(features["value_sum_90d"].fillna(0.0) * 30.0 / 90).to_numpy()
    expected = pd.DataFrame({"user_id": features["user_id"].to_numpy(), "as_of": pd.Timestamp(AS_OF).date(),
                             "churn_probability": p,
                             "risk_tier": np.where(p >= cuts["high"], "high", np.where(p >= cuts["medium"], "medium",
                                                                                       "low")),
                             "revenue_at_risk": p * monthly})
    wanted = expected["risk_tier"] != "low" if reasons == "tiers" else np.ones(len(expected), dtype=bool)
    given = ChurnExplainer(model, top_k=3).reasons(features[wanted.to_numpy() if reasons == "tiers" else wanted])
    for i in (1, 2, 3):
        for suffix in ("", "_feature", "_contribution", "_family"):
            column = f"reason_{i}{suffix}"
            expected[column] = given[column].reindex(expected.index)
    expected = expected.sort_values(["churn_probability", "user_id"], ascending=[False, True], kind="stable")
    expected.insert(4, "rank", np.arange(1, len(expected) + 1))
    expected = expected.reset_index(drop=True)

    back = written.to_pandas()
    assert list(back.columns) == list(expected.columns) == result.columns
    assert back["as_of"].tolist() == expected["as_of"].tolist()
    for column in expected.columns.drop("as_of"):
        if expected[column].dtype.kind == "f":
            np.testing.assert_array_equal(back[column].to_numpy(dtype="float64"),
                                          expected[column].to_numpy(dtype="float64"), err_msg=column)
        else:
            left = back[column].astype("object").where(back[column].notna(), None).tolist()
            right = expected[column].astype("object").where(expected[column].notna(), None).tolist()
            assert left == right, column
    assert result.explained == int(np.asarray(wanted).sum())
    assert result.tier_counts == expected["risk_tier"].value_counts().reindex(["high", "medium", "low"],
                                                                              fill_value=0).to_dict()


def test_same_inputs_give_byte_identical_files(fitted, tmp_path):
    model, data, _ = fitted
    for suffix in (".parquet", ".csv"):
        first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DriftWarning)
            write_scores(model, data, first, as_of=AS_OF, batch_rows=500)
            write_scores(model, data, second, as_of=AS_OF, batch_rows=900)
        assert first.read_bytes() == second.read_bytes()
    back = pd.read_csv(tmp_path / "a.csv")
    assert back["rank"].tolist() == list(range(1, len(back) + 1))


def test_refuses_to_overwrite_without_the_option(fitted, tmp_path):
    model, data, _ = fitted
    target = tmp_path / "scores.parquet"
    target.write_bytes(b"previous")
    with pytest.raises(ConfigError, match="already exists"):
        write_scores(model, data, target, as_of=AS_OF)
    assert target.read_bytes() == b"previous"
    with pytest.raises(ConfigError, match=r"\.parquet or \.csv"):
        write_scores(model, data, tmp_path / "scores.xlsx", as_of=AS_OF)


_KILLED_RUN = textwrap.dedent("""
    import sys, time, pathlib
    import churnml.scoring._scoring as scoring
    from churnml import AccountSource, EventSource, SubscriptionSource, load
    from churnml.modeling._model import load_model

    folder, events, subscriptions, accounts, out, marker, stage = sys.argv[1:]
    if stage == "scoring":
        import churnml.explain._explainer as explain
        real = explain.ChurnExplainer.reason_columns  # what each scored chunk's reasons come from
        def slow(self, *args, **kwargs):
            pathlib.Path(marker).write_text("scoring")
            time.sleep(120)
            return real(self, *args, **kwargs)
        explain.ChurnExplainer.reason_columns = slow
    else:
        real_write = scoring._write_batches
        def slow_write(reader, handle, **options):
            handle.write(b"partial bytes of the new output")
            handle.flush()
            pathlib.Path(marker).write_text("writing")
            time.sleep(120)
        scoring._write_batches = slow_write
    data = load(EventSource(events), SubscriptionSource(subscriptions), AccountSource(accounts))
    scoring.write_scores(load_model(folder), data, out, overwrite=True, as_of="2024-12-01")
""")


@pytest.mark.parametrize("stage", ["scoring", "writing"])
def test_sigkill_mid_run_leaves_the_previous_output_and_no_temporary_file(fitted, small_product, tmp_path, stage):
    _, _, folder = fitted
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "scores.parquet"
    target.write_bytes(b"the previous scores")
    marker = tmp_path / "marker"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    process = subprocess.Popen([sys.executable, str(script), str(folder), str(small_product["events"]),
                                str(small_product["subscriptions"]), str(small_product["accounts"]), str(target),
                                str(marker), stage], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the scoring process never reached the kill point"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert marker.read_text() == stage
    assert target.read_bytes() == b"the previous scores"
    assert sorted(p.name for p in out_dir.iterdir()) == ["scores.parquet"]


def test_drift_warning_names_the_shifted_features(fitted, small_product):
    model, data, _ = fitted
    training_date = model.info["split"]["dates"]["test"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)  # the unshifted value features must not warn
        try:
            control = score(model, data, as_of=training_date, reasons="none")
        except DriftWarning as warning:
            assert "value_" not in str(warning), warning
            control = None
    shifted_data = _load(small_product, value="value * 20")
    with pytest.warns(DriftWarning, match=r"value_sum_30d \(\d") as caught:
        shifted = score(model, shifted_data, as_of=training_date, reasons="none")
    psi = shifted.drift.set_index("feature")["psi"]
    assert psi["value_sum_30d"] > 0.25 and "value_sum_30d" in shifted.drifted
    assert "drifted since training" in str(caught[0].message)
    if control is not None:
        assert control.drift.set_index("feature")["psi"]["value_sum_30d"] < 0.1


def test_missing_inputs_are_refused_with_a_clear_error(fitted, small_product, tmp_path):
    model, data, _ = fitted
    all_null = _load(small_product, value="CAST(NULL AS DOUBLE)")
    with pytest.raises(MissingFeatureError, match=r"all [\d,]+ events before 2024-12-01 have none") as caught:
        score(model, all_null, as_of=AS_OF)
    assert caught.value.column == "value" and caught.value.n_bad > 0
    no_logins = _load(small_product, where="event_type <> 'login'")
    with pytest.raises(MissingFeatureError, match="'login'") as caught:
        score(model, no_logins, as_of=AS_OF)
    assert caught.value.column == "event_type"
    # a feature present for most training accounts and missing for every scored one
    table_model = ChurnModel(booster=model.booster, calibrator=model.calibrator, columns=model.columns,
                             info=model.info)
    rows = compute(data, model.spec, model.churn_definition(), [pd.Timestamp(AS_OF).date()],
                   labels=False).assign(days_since_last_event=np.nan)
    with pytest.raises(MissingFeatureError, match=r"missing for all [\d,]+ scored accounts.*'days_since_last_event'"):
        score(table_model, rows, id_col="user_id")
    no_subscriptions = load(EventSource(small_product["events"]), accounts=AccountSource(small_product["accounts"]))
    with pytest.raises(ConfigError, match="subscriptions"):
        score(model, no_subscriptions, as_of=AS_OF)


def test_cli_score_writes_the_file_and_exits_1_on_bad_input(fitted, small_product, tmp_path):
    from typer.testing import CliRunner

    from churnml.cli import app, main

    _, _, folder = fitted
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", "--model", str(folder), "--as-of", AS_OF, "--out", str(out),
                                      "--high", "0.3", *_sources(small_product)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    high = int((frame["churn_probability"] >= 0.3).sum())
    assert f"│ high   │            0.300 │ {high:>8,} │" in result.output
    assert f"scored {len(frame):,} accounts as of {AS_OF}" in result.output
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--model", str(folder), "--as-of", AS_OF, "--out", str(out), *_sources(small_product)])
    assert exit_info.value.code == 1  # exists, no --overwrite
    assert pd.read_csv(out).equals(frame)


def test_scoring_run_is_logged_to_mlflow(fitted, tmp_path):
    from mlflow.tracking import MlflowClient

    from churnml.tracking._runs import log_scoring

    model, data, _ = fitted
    uri = f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        result = write_scores(model, data, tmp_path / "scores.parquet", as_of=AS_OF)
    run_id = log_scoring(result, model_uri="models/churn", model=model, tracking_uri_=uri)
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.params["as_of"] == AS_OF
    assert run.data.tags["churnml.kind"] == "scoring"
    for tier, count in result.tier_counts.items():
        assert run.data.metrics[f"tier.{tier}"] == count
    assert run.data.metrics["accounts"] == result.accounts
    assert run.data.metrics["drift.max_psi"] == pytest.approx(result.drift["psi"].max())


def test_table_models_score_rows_of_the_table(shared_data, tmp_path):
    from churnml.contract._labelled import LabelledTableSource

    path = shared_data / "telco_ibm" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    table = LabelledTableSource(path, label="Churn", id="customerID").load()
    model = ChurnTrainer(random_state=0).fit(table).model_
    rows = LabelledTableSource(path, label=None, id="customerID").load()
    frame = rows.X.assign(customerID=rows.ids)
    result = score(model, frame, id_col="customerID", reasons="none")
    assert result.accounts == len(result.frame) == len(frame)
    assert result.frame["as_of"].isna().all()
    assert set(result.frame["user_id"]) == set(rows.ids)
    np.testing.assert_allclose(result.frame.sort_values("user_id")["churn_probability"],
                               model.predict_proba(frame.sort_values("customerID")), atol=1e-12)
    with pytest.raises(ConfigError, match="id_col"):
        score(model, frame, reasons="none")


def test_the_input_matrix_is_the_prepared_frame_and_back():
    """Scoring predicts and explains on one float matrix: the same numbers as prepare() then matrix_of(), and
    frame_of() gives back what prepare() gives (unseen levels and text numbers included)."""
    from churnml.explain._treeshap import matrix_of
    from churnml.modeling._model import FeatureColumn, frame_of, input_matrix, prepare

    columns = [FeatureColumn("days"), FeatureColumn("count"), FeatureColumn("plan", ("basic", "pro"))]
    raw = pd.DataFrame({"days": [1.5, np.nan, 3.0], "count": pd.array([1, None, 4], dtype="Int64"),
                        "plan": ["pro", "enterprise", None]})
    prepared = prepare(raw, columns)
    matrix = input_matrix(raw, columns, len(raw))
    np.testing.assert_array_equal(matrix, matrix_of(prepared))
    assert np.isnan(matrix[1, 2]) and matrix[0, 2] == 1.0  # 'enterprise' unseen: missing; 'pro' is level 1
    pd.testing.assert_frame_equal(frame_of(matrix, columns), prepared.reset_index(drop=True))
    by_name = {"days": raw["days"].to_numpy(), "count": np.array([1.0, np.nan, 4.0]),
               "plan": pd.Categorical(["pro", None, None], categories=["basic", "pro"])}
    np.testing.assert_array_equal(input_matrix(by_name, columns, 3), matrix)
