"""Calibrated XGBoost churn models with out-of-time validation, and the baselines they must beat.

The rows of a training set are split by observation date, earliest first:
``train`` fits the booster, ``validation`` stops it early, ``calibration`` fits
the map from its scores to probabilities, ``test`` is scored once at the end.
A user's rows at later dates therefore never sit in an earlier slice. A table
without dates (one row per customer) is split at random, stratified by label.

Examples
--------
>>> split = split_by_date(pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01",
...                                                 "2024-04-01", "2024-05-01"]).repeat(2)))
>>> {name: [d.isoformat() for d in days] for name, days in split.dates.items()}
... # doctest: +NORMALIZE_WHITESPACE
{'train': ['2024-01-01', '2024-02-01'], 'validation': ['2024-03-01'], 'calibration': ['2024-04-01'],
 'test': ['2024-05-01']}
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from churnml import _progress as progress
from churnml.errors import ConfigError, LabelError
from churnml.modeling import metrics
from churnml.modeling._model import (ChurnModel, FeatureColumn, IdentityCalibrator, IsotonicCalibrator,
                                     PlattCalibrator, columns_of, prepare)

if TYPE_CHECKING:
    from churnml.contract import LabelledTable
    from churnml.features import FeatureSpec, TrainingSet

__all__ = ["ChurnTrainer", "Split", "split_by_date", "split_at_random"]

SLICES = ("train", "validation", "calibration", "test")
# Risk tiers: the probability cut-offs that put these shares of the test slice in each tier.
TIER_SHARES = {"high": 0.1, "medium": 0.2}
BASELINES = ("recency", "logistic", "bgnbd")


@dataclass(frozen=True)
class Split:
    """Boolean row masks of the four slices; ``dates`` per slice for an out-of-time split."""

    masks: dict[str, np.ndarray]
    dates: dict[str, list[dt.date]] | None

    def rows(self) -> dict[str, int]:
        return {name: int(mask.sum()) for name, mask in self.masks.items()}


def _sizes(n: int, validation_size: float, calibration_size: float, test_size: float) -> list[int]:
    for name, value in (("validation_size", validation_size), ("calibration_size", calibration_size),
                        ("test_size", test_size)):
        if not 0 < value < 1:
            raise ConfigError(f"The {name!r} parameter of ChurnTrainer must be in (0, 1). Got {value!r} instead.")
    later = [max(1, round(size * n)) for size in (validation_size, calibration_size, test_size)]
    return [n - sum(later), *later]


def tier_cutoffs(probability: Any) -> dict[str, float]:
    """The probabilities that put :data:`TIER_SHARES` of these accounts in the high and medium tiers."""
    p = pd.Series(np.asarray(probability, dtype="float64"))
    return {"high": float(p.quantile(1 - TIER_SHARES["high"])),
            "medium": float(p.quantile(1 - TIER_SHARES["high"] - TIER_SHARES["medium"]))}


def _held_masks(n: int, splits: Any) -> list[np.ndarray]:
    """Boolean masks of the held-out rows of a scikit-learn splitter's ``(fit, held)`` index pairs."""
    out = []
    for _, held in splits:
        mask = np.zeros(n, dtype=bool)
        mask[held] = True
        out.append(mask)
    return out


def held_out_users(users: pd.Series, share: float) -> np.ndarray:
    """True for the users set aside from training: a hash of each id, so a user's side never changes
    with the rows or the dates a set happens to hold."""
    hashed = pd.util.hash_pandas_object(pd.Series(np.asarray(users)).astype(str), index=False).to_numpy()
    return (hashed % np.uint64(10_000)).astype("int64") < round(share * 10_000)


def split_by_date(observation_dates: pd.Series, *, validation_size: float = 0.15, calibration_size: float = 0.15,
                  test_size: float = 0.2, users: pd.Series | None = None, held_out_share: float = 0.3) -> Split:
    """Slices of whole observation dates in time order: train, validation, calibration, test.

    Sizes are shares of the dates (each slice gets at least one), not of the rows. With ``users``,
    a ``held_out_share`` of the users (by a hash of the id) never trains: the later slices hold
    only them and the train slice only the others. A row's label window overlaps the next dates'
    rows of the same user (a 90-day horizon spans thirteen weekly dates), so a booster trained on
    a user's earlier rows would otherwise meet near-copies of them, with overlapping labels, in
    validation: early stopping would reward memorising users, and the test metrics would flatter.
    """
    days = pd.to_datetime(observation_dates).to_numpy().astype("datetime64[D]")
    unique = np.unique(days)
    counts = _sizes(len(unique), validation_size, calibration_size, test_size)
    if counts[0] < 1:
        raise ConfigError(f"An out-of-time split needs at least 4 observation dates (train, validation, "
                          f"calibration, test); the training set has {len(unique)}. Fix: a smaller --step-days, "
                          "a longer history, or smaller slice sizes.")
    bounds = np.cumsum([0, *counts])
    chosen = {name: unique[bounds[i]:bounds[i + 1]] for i, name in enumerate(SLICES)}
    masks = {name: np.isin(days, part) for name, part in chosen.items()}
    if users is not None:
        if not 0 < held_out_share < 1:
            raise ConfigError(f"The 'held_out_share' parameter of ChurnTrainer must be in (0, 1). "
                              f"Got {held_out_share!r} instead.")
        held = held_out_users(users, held_out_share)
        masks = {name: mask & (~held if name == "train" else held) for name, mask in masks.items()}
    dates = {name: [d.astype(dt.date) for d in part] for name, part in chosen.items()}
    return Split(masks=masks, dates=dates)


def split_at_random(y: pd.Series, *, validation_size: float = 0.15, calibration_size: float = 0.15,
                    test_size: float = 0.2, random_state: int = 0) -> Split:
    """For tables without dates: a stratified random split into the same four slices (shares of rows)."""
    from sklearn.model_selection import train_test_split

    _sizes(4, validation_size, calibration_size, test_size)
    positions = np.arange(len(y))
    labels = np.asarray(y)
    rest, test = train_test_split(positions, test_size=test_size, stratify=labels, random_state=random_state)
    later = validation_size + calibration_size
    train, held = train_test_split(rest, test_size=later / (1 - test_size), stratify=labels[rest],
                                   random_state=random_state)
    validation, calibration = train_test_split(held, test_size=calibration_size / later, stratify=labels[held],
                                               random_state=random_state)
    masks = {}
    for name, chosen in zip(SLICES, (train, validation, calibration, test)):
        mask = np.zeros(len(y), dtype=bool)
        mask[chosen] = True
        masks[name] = mask
    return Split(masks=masks, dates=None)


# ----------------------------------------------------------------- baselines


class RecencyBaseline:
    """Score = days since the last event; a Platt map on its logarithm, fitted on the training slice,
    turns it into a probability without changing the order. No event before the date counts as
    one day longer than the longest gap seen in training."""

    column = "days_since_last_event"

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> RecencyBaseline:
        days = frame[self.column].to_numpy(dtype="float64")
        self.fill_ = float(np.nanmax(days)) + 1 if np.isfinite(days).any() else 1.0
        score = np.log1p(self._days(frame))
        self.platt_ = PlattCalibrator.fit(1 / (1 + np.exp(-score)), y)
        return self

    def _days(self, frame: pd.DataFrame) -> np.ndarray:
        days = frame[self.column].to_numpy(dtype="float64")
        return np.where(np.isnan(days), self.fill_, days)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.platt_.transform(1 / (1 + np.exp(-np.log1p(self._days(frame)))))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "recency", "fill": self.fill_, "platt": self.platt_.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], columns: list[FeatureColumn]) -> RecencyBaseline:
        out = cls()
        out.fill_ = float(raw["fill"])
        out.platt_ = PlattCalibrator(slope=float(raw["platt"]["slope"]), intercept=float(raw["platt"]["intercept"]))
        return out


class BGNBDBaseline:
    """BG/NBD (Fader, Hardie & Lee 2005) as a churn score: fewer expected active days in the horizon,
    from the model fitted point in time at each date (the ``expected_active_days_<h>d`` feature),
    means more risk. A Platt map on ``-log(1 + expected)``, fitted on the training slice, turns the
    ranking into a probability without changing the order."""

    def __init__(self, column: str) -> None:
        self.column = column

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        expected = frame[self.column].to_numpy(dtype="float64")
        return 1 / (1 + np.exp(np.log1p(np.where(np.isnan(expected), 0.0, expected))))

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> BGNBDBaseline:
        self.platt_ = PlattCalibrator.fit(self._score(frame), y)
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.platt_.transform(self._score(frame))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bgnbd", "column": self.column, "platt": self.platt_.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], columns: list[FeatureColumn]) -> BGNBDBaseline:
        out = cls(str(raw["column"]))
        out.platt_ = PlattCalibrator(slope=float(raw["platt"]["slope"]), intercept=float(raw["platt"]["intercept"]))
        return out


class LogisticBaseline:
    """Logistic regression on scaled log features: numbers as ``sign(x) log(1 + |x|)``, missing values
    imputed by the training median with a missing flag, then standardised; categories one-hot."""

    def __init__(self, columns: list[FeatureColumn], *, class_weight: str | None, random_state: int) -> None:
        self.columns = columns
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> LogisticBaseline:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

        numeric = [c.name for c in self.columns if c.levels is None]
        categorical = [c.name for c in self.columns if c.levels is not None]
        signed_log = FunctionTransformer(lambda x: np.sign(x) * np.log1p(np.abs(x)), feature_names_out="one-to-one")
        transformers = []
        if numeric:
            transformers.append(("numbers", make_pipeline(
                signed_log, SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler()), numeric))
        if categorical:
            transformers.append(("categories", make_pipeline(
                SimpleImputer(strategy="constant", fill_value="missing"),
                OneHotEncoder(handle_unknown="ignore")), categorical))
        pipeline = make_pipeline(
            ColumnTransformer(transformers),
            LogisticRegression(max_iter=2000, class_weight=self.class_weight, random_state=self.random_state))
        pipeline.fit(self._input(frame), y)
        self.pipeline_ = pipeline  # kept in memory only; the files keep its parameters
        self.params_ = _logistic_params(pipeline, numeric, categorical)
        return self

    def _input(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for c in self.columns:
            if c.levels is not None:
                out[c.name] = out[c.name].astype("object").where(out[c.name].notna(), np.nan)
        return out

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The fitted pipeline's probability, from its parameters (what the model files keep): signed log,
        median imputation and missing flags, standardisation, one-hot categories, then the logistic."""
        params = self.params_
        blocks = []
        if params["numeric"]:
            x = frame[params["numeric"]].to_numpy(dtype="float64", na_value=np.nan)
            x = np.sign(x) * np.log1p(np.abs(x))
            missing = np.isnan(x)
            filled = np.where(missing, np.asarray(params["medians"], dtype="float64"), x)
            flags = missing[:, np.asarray(params["flagged"], dtype="int64")].astype("float64")
            numbers = np.column_stack([filled, flags])
            blocks.append((numbers - np.asarray(params["means"])) / np.asarray(params["scales"]))
        for name, levels in zip(params["categorical"], params["levels"]):
            text = frame[name].astype("object").where(frame[name].notna(), "missing").to_numpy()
            blocks.append((text[:, None] == np.asarray(levels, dtype="object")[None, :]).astype("float64"))
        design = np.column_stack(blocks) if blocks else np.zeros((len(frame), 0))
        margin = design @ np.asarray(params["coef"], dtype="float64") + float(params["intercept"])
        return 1.0 / (1.0 + np.exp(-margin))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "logistic", **self.params_}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], columns: list[FeatureColumn]) -> LogisticBaseline:
        out = cls(columns, class_weight=None, random_state=0)
        out.params_ = {key: raw[key] for key in ("numeric", "medians", "flagged", "means", "scales", "categorical",
                                                 "levels", "coef", "intercept")}
        return out


def _logistic_params(pipeline: Any, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    """A fitted LogisticBaseline pipeline as plain numbers (JSON-ready)."""
    transformer, regression = pipeline[0], pipeline[-1]
    out: dict[str, Any] = {"numeric": numeric, "medians": [], "flagged": [], "means": [], "scales": [],
                           "categorical": categorical, "levels": []}
    if numeric:
        _, imputer, scaler = (step for _, step in transformer.named_transformers_["numbers"].steps)
        medians = np.asarray(imputer.statistics_, dtype="float64")
        out["medians"] = [0.0 if np.isnan(m) else float(m) for m in medians]  # an all-missing column is imputed by 0
        flagged = imputer.indicator_.features_ if imputer.indicator_ is not None else []
        out["flagged"] = [int(i) for i in flagged]
        out["means"] = [float(v) for v in scaler.mean_]
        out["scales"] = [float(v) for v in scaler.scale_]
    if categorical:
        encoder = transformer.named_transformers_["categories"].steps[-1][1]
        out["levels"] = [[str(v) for v in levels] for levels in encoder.categories_]
    out["coef"] = [float(v) for v in regression.coef_[0]]
    out["intercept"] = float(regression.intercept_[0])
    return out


_BASELINE_KINDS: dict[str, Any] = {"recency": RecencyBaseline, "bgnbd": BGNBDBaseline, "logistic": LogisticBaseline}


def model_baselines(model: ChurnModel) -> dict[str, Any]:
    """The baselines a model carries in its files (fitted beside it on the same rows), ready to predict
    on the model's prepared features; empty for a model trained without baselines."""
    from churnml.errors import ModelFileError

    out = {}
    for name, raw in (model.info.get("baselines") or {}).items():
        kind = _BASELINE_KINDS.get(raw.get("kind")) if isinstance(raw, dict) else None
        if kind is None:
            raise ModelFileError(f"model.json: the baseline {name!r} has an unknown kind "
                                 f"{raw.get('kind') if isinstance(raw, dict) else raw!r}. Fix: export the model again.")
        try:
            out[name] = kind.from_dict(raw, model.columns)
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"model.json: the baseline {name!r} lacks a field or has a bad value: {error}. "
                                 "Fix: export the model again.") from error
    return out


# ----------------------------------------------------------------- inputs


@dataclass(frozen=True)
class TrainingInputs:
    """What a trainer fits on, whichever engine built it (an engine's trainer builds its own)."""

    X: pd.DataFrame  # the model's feature columns, prepared
    y: np.ndarray
    keys: pd.DataFrame  # user_id / observation_date where known (for predictions and per-date metrics)
    dates: pd.Series | None
    columns: list[FeatureColumn]
    spec: FeatureSpec | None
    definition: dict[str, Any] | None


def definition_dict(definition: Any) -> dict[str, Any]:
    """A churn definition as model files and training runs record it (``kind`` and its fields)."""
    raw = asdict(definition)
    return {"kind": definition.kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}}


def _inputs(data: Any, y: Any, observation_dates: Any) -> TrainingInputs:
    from churnml.contract import LabelledTable
    from churnml.features import TrainingSet

    if isinstance(data, TrainingSet):
        frame = data.frame
        names = data.feature_names
        levels = data.builder.spec_.categorical_levels()
        columns = [FeatureColumn(n, tuple(levels[n]) if n in levels else None) for n in names]
        keys = frame[["user_id", "observation_date"]].reset_index(drop=True)
        return TrainingInputs(X=prepare(frame, columns).reset_index(drop=True), y=_labels(frame["label"]), keys=keys,
                       dates=keys["observation_date"], columns=columns, spec=data.builder.spec_,
                       definition=definition_dict(data.definition))
    if isinstance(data, LabelledTable):
        if data.y is None:
            raise ConfigError("This table has no label column: training needs one (label=..., --label).")
        X = data.X.reset_index(drop=True)
        columns = columns_of(X, list(X.columns))
        keys = (pd.DataFrame({"user_id": data.ids.reset_index(drop=True)}) if data.ids is not None
                else pd.DataFrame(index=X.index))
        return TrainingInputs(X=prepare(X, columns), y=_labels(data.y), keys=keys, dates=None, columns=columns,
                       spec=None, definition=None)
    if isinstance(data, pd.DataFrame):
        if y is None:
            raise ConfigError("ChurnTrainer.fit(X, y): y is required when X is a DataFrame.")
        X = data.reset_index(drop=True)
        columns = columns_of(X, list(X.columns))
        dates = pd.Series(pd.to_datetime(np.asarray(observation_dates)), name="observation_date") \
            if observation_dates is not None else None
        keys = pd.DataFrame({"observation_date": dates}) if dates is not None else pd.DataFrame(index=X.index)
        return TrainingInputs(X=prepare(X, columns), y=_labels(pd.Series(np.asarray(y))), keys=keys, dates=dates,
                       columns=columns, spec=None, definition=None)
    raise ConfigError(f"ChurnTrainer.fit takes a TrainingSet, a LabelledTable or a DataFrame with y. "
                      f"Got {type(data).__name__} instead.")


def _labels(label: pd.Series) -> np.ndarray:
    values = pd.to_numeric(label, errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        example = label[bad].iloc[0]
        raise LabelError(f"The label must be 0 or 1 in every row; {int(bad.sum()):,} rows are not, "
                         f"e.g. {example!r}.", column="label", n_bad=int(bad.sum()), example=example)
    return values.astype("int8")


def fingerprint(X: pd.DataFrame, y: np.ndarray, keys: pd.DataFrame) -> dict[str, Any]:
    """Hash, rows, users, date range and label rate of a training matrix (what MLflow records)."""
    hashed = pd.util.hash_pandas_object(pd.concat([keys, X, pd.Series(y, name="label")], axis=1), index=False)
    out: dict[str, Any] = {"sha256": hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest(), "rows": int(len(X)),
                           "features": int(X.shape[1]), "label_rate": float(np.mean(y))}
    if "user_id" in keys:
        out["users"] = int(keys["user_id"].nunique())
    if "observation_date" in keys:
        out["first_date"] = str(pd.Timestamp(keys["observation_date"].min()).date())
        out["last_date"] = str(pd.Timestamp(keys["observation_date"].max()).date())
    return out


# ----------------------------------------------------------------- the trainer



def _callbacks(what: str) -> list[Any] | None:
    """XGBoost callbacks: the boosting round told to the progress listener, when there is one."""
    callback = progress.rounds_callback(what)
    return None if callback is None else [callback]

class ChurnTrainer(BaseEstimator):
    """Fit a calibrated XGBoost churn classifier with an out-of-time split, and its baselines.

    Parameters
    ----------
    n_estimators : int, default 2000
        Most boosting rounds; early stopping on the validation slice usually stops far sooner.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda
        XGBoost parameters (``hist`` trees, native categoricals).
    early_stopping_rounds : int, default 50
    calibration : {'auto', 'isotonic', 'platt', 'none'}, default 'auto'
        'auto' picks isotonic or Platt by 5-fold cross-validated log loss on the calibration slice.
    class_weight : {None, 'balanced'}, default None
        'balanced' up-weights churners (XGBoost ``scale_pos_weight``); the calibrator, fitted on the
        unweighted calibration slice, still returns probabilities. No resampling is ever done.
    validation_size, calibration_size, test_size : float
        Shares of the observation dates (or of the rows, for a table without dates).
    held_out_share : float, default 0.3
        Share of the users (training sets with user ids and dates) kept out of the train slice: the
        validation, calibration and test slices hold only them (see :func:`split_by_date`).
    device : {'cpu', 'cuda'}, default 'cpu'
        Passed to XGBoost.
    baselines : bool, default True
        Train the recency rule, the logistic regression and (with BG/NBD features) the BG/NBD
        ranking on the same split.
    refit : bool, default True
        After the evaluation (whose test metrics are the ones reported), refit the booster on
        every labelled row with the rounds early stopping found, calibrated on cross-fitted
        predictions (folds of users, each predicted by a booster that did not train on them); that is
        ``model_``, the model registered, exported and scored. False keeps the evaluated model.
    baseline_max_rows : int, default 100_000
        The logistic baseline trains on at most this many training rows (a seeded sample).
    n_jobs : int or None
        XGBoost threads (None: all cores).
    random_state : int, default 0

    Attributes
    ----------
    model_ : ChurnModel
        The shipped model: the refitted one (``refit=True``), else the evaluated one.
    evaluated_model_ : ChurnModel
        The model trained on the train slice and judged on the test slice.
    split_ : Split
    best_iteration_ : int
    validation_log_loss_ : float
        Log loss of the booster on the validation slice at the best iteration.
    calibration_method_ : str
    calibration_log_loss_ : dict
        Cross-validated log loss of each calibration method ('auto' only).
    evaluation_ : pandas.DataFrame
        One row per model ('model', 'recency', 'logistic'), metrics on the test slice.
    evaluation_by_date_ : pandas.DataFrame
        The same per observation date of the test slice (out-of-time splits only).
    test_predictions_ : pandas.DataFrame
        Keys, label and every model's probability on the test slice.
    test_features_ : pandas.DataFrame
        The model's input rows of the test slice.
    feature_importance_ : pandas.Series
        Total gain per feature, highest first.
    data_fingerprint_ : dict
    """

    def __init__(self, *, n_estimators: int = 2000, learning_rate: float = 0.05, max_depth: int = 4,
                 min_child_weight: float = 5.0, subsample: float = 0.8, colsample_bytree: float = 0.8,
                 reg_lambda: float = 1.0, early_stopping_rounds: int = 50,
                 calibration: Literal["auto", "isotonic", "platt", "none"] = "auto",
                 class_weight: Literal["balanced"] | None = None, validation_size: float = 0.15,
                 calibration_size: float = 0.15, test_size: float = 0.2, held_out_share: float = 0.3,
                 device: str = "cpu",
                 baselines: bool = True, baseline_max_rows: int = 100_000, refit: bool = True,
                 refit_rounds: Literal["same", "scaled"] = "same",
                 n_jobs: int | None = None, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.class_weight = class_weight
        self.validation_size = validation_size
        self.calibration_size = calibration_size
        self.test_size = test_size
        self.held_out_share = held_out_share
        self.device = device
        self.baselines = baselines
        self.baseline_max_rows = baseline_max_rows
        self.refit = refit
        self.refit_rounds = refit_rounds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _validate_params(self) -> None:
        def check(name: str, ok: bool, expected: str) -> None:
            if not ok:
                raise ConfigError(f"The {name!r} parameter of ChurnTrainer must be {expected}. "
                                  f"Got {getattr(self, name)!r} instead.")

        check("n_estimators", isinstance(self.n_estimators, int) and self.n_estimators >= 1, "a positive int")
        check("early_stopping_rounds", isinstance(self.early_stopping_rounds, int) and self.early_stopping_rounds >= 1,
              "a positive int")
        check("learning_rate", 0 < self.learning_rate <= 1, "in (0, 1]")
        check("calibration", self.calibration in ("auto", "isotonic", "platt", "none"),
              "one of 'auto', 'isotonic', 'platt', 'none'")
        check("class_weight", self.class_weight in (None, "balanced"), "None or 'balanced'")
        check("device", isinstance(self.device, str) and self.device.split(":")[0] in ("cpu", "cuda", "gpu"),
              "'cpu' or 'cuda'")

    def xgboost_params(self, y_train: np.ndarray | None = None) -> dict[str, Any]:
        """The parameters handed to ``xgboost.train``."""
        params: dict[str, Any] = {
            "objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist", "device": self.device,
            "learning_rate": self.learning_rate, "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight, "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree, "reg_lambda": self.reg_lambda, "seed": self.random_state}
        if self.n_jobs is not None:
            params["nthread"] = self.n_jobs
        if self.class_weight == "balanced" and y_train is not None and y_train.sum() > 0:
            params["scale_pos_weight"] = float((y_train == 0).sum() / y_train.sum())
        return params

    def fit(self, data: TrainingSet | LabelledTable | pd.DataFrame, y: Any = None, *,
            observation_dates: Any = None) -> ChurnTrainer:
        """Split, train with early stopping, calibrate, fit the baselines, evaluate on the test slice.

        Parameters
        ----------
        data : TrainingSet, LabelledTable, or a DataFrame of features
        y : labels, when ``data`` is a DataFrame
        observation_dates : dates of the rows, when ``data`` is a DataFrame (else a random split)
        """
        import xgboost as xgb

        self._validate_params()
        inputs = _inputs(data, y, observation_dates)
        sizes = {"validation_size": self.validation_size, "calibration_size": self.calibration_size,
                 "test_size": self.test_size}
        users = inputs.keys["user_id"] if "user_id" in inputs.keys else None
        self.split_ = (split_by_date(inputs.dates, users=users, held_out_share=self.held_out_share, **sizes)
                       if inputs.dates is not None
                       else split_at_random(pd.Series(inputs.y), random_state=self.random_state, **sizes))
        X, labels, masks = inputs.X, inputs.y, self.split_.masks
        for name in SLICES:
            if not masks[name].any() and users is not None and inputs.dates is not None:
                side = "the other users" if name == "train" else "the held-out users"
                raise LabelError(f"The {name} slice is empty: {side} ({self.held_out_share:.0%} of "
                                 f"{users.nunique():,} users are held out, by a hash of the id) have no rows at its "
                                 f"dates. Fix: more users or a longer history, or another held_out_share.",
                                 column="user_id", n_bad=0)
            present = np.unique(labels[masks[name]])
            if name != "test" and len(present) < 2:
                raise LabelError(f"The {name} slice has only label {present.tolist()!r} in its "
                                 f"{int(masks[name].sum()):,} rows; a model needs churners and non-churners. "
                                 "Fix: a longer history, a different horizon, or other slice sizes.",
                                 column="label", n_bad=int(masks[name].sum()))
        self.data_fingerprint_ = fingerprint(X, labels, inputs.keys)

        def matrix(name: str) -> xgb.DMatrix:
            return xgb.DMatrix(X[masks[name]], label=labels[masks[name]], enable_categorical=True)

        train, validation = matrix("train"), matrix("validation")
        params = self.xgboost_params(labels[masks["train"]])
        progress.step(f"boosting on {int(masks['train'].sum()):,} rows (early stopping on the validation slice)")
        booster = xgb.train(params, train, num_boost_round=self.n_estimators,
                            evals=[(validation, "validation")], early_stopping_rounds=self.early_stopping_rounds,
                            verbose_eval=False, callbacks=_callbacks("boosting"))
        self.best_iteration_ = int(booster.best_iteration)
        self.validation_log_loss_ = float(booster.best_score)
        iterations = (0, self.best_iteration_ + 1)
        progress.step("calibrating the probabilities")
        raw_calibration = booster.inplace_predict(X[masks["calibration"]], iteration_range=iterations)
        calibrator, self.calibration_log_loss_ = self._calibrate(raw_calibration, labels[masks["calibration"]])
        self.calibration_method_ = calibrator.method
        info = {"best_iteration": self.best_iteration_, "calibration": calibrator.method,
                "params": params, "trainer": self.get_params(),
                "data": self.data_fingerprint_, "split": self._split_summary()}
        from churnml._version import __version__

        info["churnml_version"] = __version__
        self.model_ = ChurnModel(booster=booster, calibrator=calibrator, columns=inputs.columns, spec=inputs.spec,
                                 definition=inputs.definition, info=info)
        # What retained accounts look like (sentences compare with it), and the risk tiers.
        from churnml.modeling._model import reference_values

        info["reference"] = reference_values(X[masks["train"] & (labels == 0)], inputs.columns)
        # Each feature's distribution at training: scoring measures drift (PSI) against it.
        from churnml.modeling._drift import drift_reference

        info["drift"] = drift_reference(X[masks["train"]], [c.name for c in inputs.columns])
        gain = booster.get_score(importance_type="total_gain")
        self.feature_importance_ = pd.Series({c.name: gain.get(c.name, 0.0) for c in inputs.columns},
                                             name="total_gain").sort_values(ascending=False)
        progress.step("fitting the baselines and judging every model on the test slice")
        self._evaluate(inputs, booster, iterations)
        self.evaluated_model_ = self.model_
        info["exported"] = "evaluated"
        info["baselines"] = {name: b.to_dict() for name, b in self.baselines_.items()}
        if self.refit:
            self.model_ = self._refit(inputs)
            self.model_.info["baselines"] = {name: b.to_dict() for name, b in self.baselines_.items()}
        return self

    def _refit(self, inputs: TrainingInputs) -> ChurnModel:
        """The booster refitted on every labelled row, calibrated on cross-fitted predictions."""
        import xgboost as xgb

        X, y = inputs.X, inputs.y
        rounds = self.best_iteration_ + 1
        if self.refit_rounds == "scaled":  # as many rounds per training row as early stopping found
            rounds = max(rounds, round(rounds * len(y) / max(int(self.split_.masks["train"].sum()), 1)))

        params = self.xgboost_params(y)  # class weights, if asked for, from every labelled row
        folds = self._refit_folds(inputs)
        raw = np.full(len(y), np.nan)
        for number, held in enumerate(folds, start=1):
            fit = ~held
            progress.step(f"refit: cross-fitting fold {number} of {len(folds)} for the calibration")
            booster = xgb.train(params, xgb.DMatrix(X[fit], label=y[fit], enable_categorical=True),
                                num_boost_round=rounds, verbose_eval=False)
            raw[held] = booster.inplace_predict(X[held])
        calibrator, self.refit_calibration_log_loss_ = self._calibrate(raw, y)
        progress.step(f"refit: {rounds} rounds on all {len(y):,} labelled rows")
        booster = xgb.train(params, xgb.DMatrix(X, label=y, enable_categorical=True), num_boost_round=rounds,
                            verbose_eval=False, callbacks=_callbacks("refit"))
        latest = self._latest_rows(inputs)
        probability = np.clip(calibrator.transform(raw), 0.0, 1.0)
        info = {**self.evaluated_model_.info, "best_iteration": rounds - 1, "calibration": calibrator.method,
                "exported": "refit"}
        info["refit"] = {"rows": int(len(y)), "rounds": rounds, "folds": len(folds),
                         "calibration": calibrator.method,
                         "calibrated_on": "cross-fitted predictions (each fold predicted by a booster that "
                                          "did not train on it): " + ("folds of users" if "user_id" in inputs.keys
                                                                      else "folds of dates" if inputs.dates is not None
                                                                      else "stratified folds of rows"),
                         "reference_rows": int(latest.sum())}
        from churnml.modeling._drift import drift_reference
        from churnml.modeling._model import reference_values

        # Retained accounts, the drift reference and the tiers come from the latest labelled date: the
        # population the model scores next.
        info["reference"] = reference_values(X[latest & (y == 0)], inputs.columns)
        info["drift"] = drift_reference(X[latest], [c.name for c in inputs.columns])
        info["tiers"] = tier_cutoffs(probability[latest])
        self.refit_predictions_ = inputs.keys.assign(label=y, churn_probability=probability)
        # The baselines too are refitted on every labelled row, so a backtest compares like with like.
        self.evaluated_baselines_ = self.baselines_
        self.baselines_ = self._fit_baselines(inputs, np.ones(len(y), dtype=bool)) if self.baselines else {}
        return ChurnModel(booster=booster, calibrator=calibrator, columns=inputs.columns, spec=inputs.spec,
                          definition=inputs.definition, info=info)

    def _refit_folds(self, inputs: TrainingInputs) -> list[np.ndarray]:
        """Boolean masks of the held-out rows: whole users (every date of a user in one fold, so no booster
        predicts a user it trained on), else whole observation dates, else stratified rows."""
        n_folds = 5
        if "user_id" in inputs.keys:
            from sklearn.model_selection import GroupKFold

            codes = pd.factorize(inputs.keys["user_id"])[0]
            folds = GroupKFold(n_splits=min(n_folds, int(codes.max()) + 1), shuffle=True,
                               random_state=self.random_state)
            return _held_masks(len(codes), folds.split(np.zeros(len(codes)), groups=codes))
        if inputs.dates is not None:
            days = pd.to_datetime(inputs.dates).to_numpy().astype("datetime64[D]")
            unique = np.unique(days)
            groups = np.array_split(unique, min(n_folds, len(unique)))
            return [np.isin(days, group) for group in groups if len(group)]
        from sklearn.model_selection import StratifiedKFold

        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=self.random_state)
        return _held_masks(len(inputs.y), folds.split(np.zeros(len(inputs.y)), inputs.y))

    @staticmethod
    def _latest_rows(inputs: TrainingInputs) -> np.ndarray:
        if inputs.dates is None:
            return np.ones(len(inputs.y), dtype=bool)
        days = pd.to_datetime(inputs.dates).to_numpy()
        return days == days.max()

    def _calibrate(self, raw: np.ndarray, y: np.ndarray) -> tuple[Any, dict[str, float]]:
        """The calibrator fitted on ``(raw, y)``, and each method's cross-validated log loss ('auto' only)."""
        losses: dict[str, float] = {}
        if self.calibration == "none":
            calibrator: Any = IdentityCalibrator()
        elif self.calibration == "platt":
            calibrator = PlattCalibrator.fit(raw, y)
        elif self.calibration == "isotonic":
            calibrator = IsotonicCalibrator.fit(raw, y)
        else:
            from sklearn.model_selection import StratifiedKFold

            folds = StratifiedKFold(n_splits=min(5, int(min(y.sum(), (1 - y).sum()))), shuffle=True,
                                    random_state=self.random_state)
            for kind in (PlattCalibrator, IsotonicCalibrator):
                losses[kind.method] = float(np.mean([
                    metrics.log_loss(y[held], kind.fit(raw[fit], y[fit]).transform(raw[held]))
                    for fit, held in folds.split(raw, y)]))
            best = min(losses, key=losses.__getitem__)
            calibrator = (IsotonicCalibrator if best == "isotonic" else PlattCalibrator).fit(raw, y)
        return calibrator, losses

    def _split_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "by_date" if self.split_.dates is not None else "random",
                               "rows": self.split_.rows()}
        if self.split_.dates is not None:
            out["dates"] = {name: [d.isoformat() for d in days] for name, days in self.split_.dates.items()}
        return out

    def _evaluate(self, inputs: TrainingInputs, booster: Any, iterations: tuple[int, int]) -> None:
        masks = self.split_.masks
        test = masks["test"]
        predictions = inputs.keys[test].reset_index(drop=True)
        predictions["label"] = inputs.y[test]
        predictions["churn_probability"] = self.model_._calibrated(self.model_._raw(inputs.X[test]))
        scores = {"model": ("churn_probability", True)}
        self.baselines_: dict[str, Any] = self._fit_baselines(inputs, masks["train"]) if self.baselines else {}
        if self.baselines:
            for name, baseline in self.baselines_.items():
                predictions[f"{name}_probability"] = baseline.predict_proba(inputs.X[test])
                scores[name] = (f"{name}_probability", True)
        rows, by_date = {}, []
        for name, (column, is_probability) in scores.items():
            rows[name] = metrics.evaluate(predictions["label"], predictions[column], probabilities=is_probability)
            if "observation_date" in predictions:
                per_date = metrics.evaluate_by_date(predictions, score=column, probabilities=is_probability)
                per_date.insert(0, "model", name)
                by_date.append(per_date)
        self.evaluation_ = pd.DataFrame.from_dict(rows, orient="index")
        self.evaluation_.index.name = "model"
        self.evaluation_by_date_ = pd.concat(by_date, ignore_index=True) if by_date else pd.DataFrame()
        self.test_predictions_ = predictions
        self.model_.info["tiers"] = tier_cutoffs(predictions["churn_probability"])
        self.test_features_ = inputs.X[test].reset_index(drop=True)

    def _fit_baselines(self, inputs: TrainingInputs, rows: np.ndarray) -> dict[str, Any]:
        """The recency rule, the BG/NBD ranking (with its feature) and the logistic regression, fitted on
        ``rows`` (at most ``baseline_max_rows`` of them, a seeded sample)."""
        chosen = np.flatnonzero(rows)
        if len(chosen) > self.baseline_max_rows:
            rng = np.random.default_rng(self.random_state)
            chosen = np.sort(rng.choice(chosen, self.baseline_max_rows, replace=False))
        X, y = inputs.X.iloc[chosen], inputs.y[chosen]
        out: dict[str, Any] = {}
        if RecencyBaseline.column in inputs.X:
            out["recency"] = RecencyBaseline().fit(X, y)
        expected = (f"expected_active_days_{inputs.spec.bgnbd_horizon_days}d"
                    if inputs.spec is not None and inputs.spec.bgnbd_horizon_days is not None else None)
        if expected is not None and expected in inputs.X:
            out["bgnbd"] = BGNBDBaseline(expected).fit(X, y)
        out["logistic"] = LogisticBaseline(inputs.columns, class_weight=self.class_weight,
                                           random_state=self.random_state).fit(X, y)
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: probability of staying, probability of churning (scikit-learn's layout)."""
        check_is_fitted(self, "model_")
        p = self.model_.predict_proba(X)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        """1 where the churn probability is at least ``threshold``."""
        return (self.predict_proba(X)[:, 1] >= threshold).astype("int8")
