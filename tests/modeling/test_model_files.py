"""Model folders are data: they round-trip exactly, and an altered or truncated file is refused."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from churnml.errors import ConfigError, ModelFileError
from churnml.modeling._model import IsotonicCalibrator, PlattCalibrator, load_model
from churnml.modeling._trainer import ChurnTrainer


@pytest.fixture(scope="module")
def trainer():
    rng = np.random.default_rng(4)
    n = 3_000
    X = pd.DataFrame({"days_since_last_event": rng.exponential(20, n), "count_events_30d": rng.poisson(5, n),
                      "plan": pd.Categorical(rng.choice(["basic", "pro", "other"], n),
                                             categories=["basic", "pro", "other"])})
    logit = 0.08 * X["days_since_last_event"] - 0.3 * X["count_events_30d"] + (X["plan"] == "basic") * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    dates = np.repeat(pd.date_range("2024-01-01", periods=6, freq="MS"), n // 6)
    return ChurnTrainer(n_estimators=200).fit(X, y, observation_dates=dates)


@pytest.fixture()
def folder(trainer, tmp_path):
    return trainer.model_.save(tmp_path / "model")


def test_round_trip_gives_identical_predictions(trainer, folder):
    loaded = load_model(folder)
    rows = trainer.test_features_
    np.testing.assert_array_equal(loaded.predict_proba(rows), trainer.model_.predict_proba(rows))
    assert loaded.columns == trainer.model_.columns
    assert loaded.info["best_iteration"] == trainer.best_iteration_


def test_folder_holds_only_data_files_with_hashes(folder):
    assert sorted(p.name for p in folder.iterdir()) == [
        "booster.ubj", "calibrator.json", "features.json", "manifest.json", "model.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"booster.ubj", "calibrator.json", "features.json", "model.json"}
    assert all(len(digest) == 64 for digest in manifest["files"].values())


def test_loading_never_unpickles(folder, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert load_model(folder).feature_names == ["days_since_last_event", "count_events_30d", "plan"]


@pytest.mark.parametrize("name", ["booster.ubj", "calibrator.json", "features.json", "model.json"])
def test_a_tampered_file_is_refused(folder, name):
    path = folder / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=rf"{name}.*does not match its manifest"):
        load_model(folder)


def test_a_truncated_file_is_refused(folder):
    path = folder / "booster.ubj"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="altered or truncated"):
        load_model(folder)


def test_missing_manifest_or_file(folder, tmp_path):
    with pytest.raises(ModelFileError, match="no manifest.json"):
        load_model(tmp_path)
    (folder / "calibrator.json").unlink()
    with pytest.raises(ModelFileError, match="'calibrator.json' is missing"):
        load_model(folder)


def test_a_manifest_that_lies_about_a_bad_booster_still_fails_clearly(folder):
    import hashlib

    junk = b"not a booster"
    (folder / "booster.ubj").write_bytes(junk)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["booster.ubj"] = hashlib.sha256(junk).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="not an XGBoost UBJSON model"):
        load_model(folder)


def test_save_refuses_to_overwrite_unless_asked(trainer, folder):
    with pytest.raises(ConfigError, match="already exists"):
        trainer.model_.save(folder)
    assert trainer.model_.save(folder, overwrite=True) == folder
    load_model(folder)


def test_unseen_category_and_missing_column(trainer):
    rows = trainer.test_features_.head(3).copy()
    rows["plan"] = ["basic", "enterprise", None]  # 'enterprise' was never seen: treated as missing
    assert np.isfinite(trainer.model_.predict_proba(rows)).all()
    with pytest.raises(ConfigError, match="'plan'"):
        trainer.model_.predict_proba(rows.drop(columns="plan"))


def test_calibrators_by_hand():
    # Platt with slope 1 and intercept 0 is the identity on probabilities
    np.testing.assert_allclose(PlattCalibrator(1.0, 0.0).transform([0.1, 0.9]), [0.1, 0.9])
    # isotonic interpolates between knots and is flat outside them
    iso = IsotonicCalibrator(x=(0.2, 0.6), y=(0.1, 0.5))
    np.testing.assert_allclose(iso.transform([0.0, 0.4, 1.0]), [0.1, 0.3, 0.5])
