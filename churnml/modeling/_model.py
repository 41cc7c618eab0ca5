"""A trained churn model as data: the booster, its calibrator and the feature columns.

A model folder holds only data formats: the booster in XGBoost's UBJSON, the
calibrator and the feature description in JSON, and ``manifest.json`` with the
SHA-256 of every file. :func:`load_model` checks each hash before it parses a
byte, and nothing is ever unpickled, so a model folder from anywhere is safe to
open: the worst a tampered one can do is fail with :class:`ModelFileError`.

Examples
--------
>>> calibrator = PlattCalibrator(slope=1.0, intercept=0.0)   # the identity on probabilities
>>> calibrator.transform([0.25, 0.5]).round(3).tolist()
[0.25, 0.5]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from churnml.errors import ConfigError, ModelFileError

if TYPE_CHECKING:
    import pandas as pd
    import xgboost

    from churnml.contract import ChurnDefinition
    from churnml.features import FeatureSpec

__all__ = ["ChurnModel", "FeatureColumn", "IdentityCalibrator", "IsotonicCalibrator", "PlattCalibrator",
           "load_model"]

FORMAT = "churnml-model"
FORMAT_VERSION = 1
_FILES = ("booster.ubj", "calibrator.json", "features.json", "model.json")
_EPS = 1e-12


# ----------------------------------------------------------------- calibrators


class Calibrator(Protocol):
    method: str

    def transform(self, p: Any) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class IdentityCalibrator:
    """No calibration: the booster's probability as it is."""

    method = "none"

    def transform(self, p: Any) -> np.ndarray:
        return np.asarray(p, dtype="float64")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method}


@dataclass(frozen=True)
class PlattCalibrator:
    """Platt scaling on the log-odds: ``1 / (1 + exp(-(slope * logit(p) + intercept)))``."""

    slope: float
    intercept: float
    method = "platt"

    @classmethod
    def fit(cls, p: Any, y: Any) -> PlattCalibrator:
        """Maximum likelihood by Newton's method on the two parameters (a tiny ridge keeps
        perfectly separated scores finite)."""
        x, target = _logit(p), np.asarray(y, dtype="float64")
        design = np.column_stack([x, np.ones_like(x)])
        theta = np.zeros(2)
        for _ in range(100):
            q = 1.0 / (1.0 + np.exp(-(design @ theta)))
            gradient = design.T @ (q - target) + 1e-6 * theta
            hessian = (design * (q * (1 - q))[:, None]).T @ design + 1e-6 * np.eye(2)
            step = np.linalg.solve(hessian, gradient)
            theta -= step
            if np.abs(step).max() < 1e-10:
                break
        return cls(slope=float(theta[0]), intercept=float(theta[1]))

    def transform(self, p: Any) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(p) + self.intercept)))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept}


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Isotonic regression: a non-decreasing step-and-ramp map, linear between knots, flat outside."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    method = "isotonic"

    @classmethod
    def fit(cls, p: Any, y: Any) -> IsotonicCalibrator:
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(np.asarray(p), np.asarray(y))
        return cls(x=tuple(map(float, model.X_thresholds_)), y=tuple(map(float, model.y_thresholds_)))

    def transform(self, p: Any) -> np.ndarray:
        return np.interp(np.asarray(p, dtype="float64"), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}


def _logit(p: Any) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def _finite(raw: dict[str, Any], key: str) -> float:
    """``raw[key]`` as a finite float, or a ModelFileError naming calibrator.json and the field."""
    if key not in raw:
        raise ModelFileError(f"calibrator.json lacks the field {key!r} of its {raw.get('method')!r} calibration. "
                             "Fix: export the model again.")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelFileError(f"calibrator.json: the field {key!r} must be a finite number. Got {value!r} instead. "
                             "Fix: export the model again.")
    return float(value)


def _finite_list(raw: dict[str, Any], key: str) -> tuple[float, ...]:
    if key not in raw:
        raise ModelFileError(f"calibrator.json lacks the field {key!r} of its isotonic calibration. "
                             "Fix: export the model again.")
    values = raw[key]
    if not isinstance(values, list) or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                           or not math.isfinite(v) for v in values):
        raise ModelFileError(f"calibrator.json: the field {key!r} must be a list of finite numbers. Got "
                             f"{str(values)[:80]!r} instead. Fix: export the model again.")
    return tuple(map(float, values))


def calibrator_from_dict(raw: dict[str, Any]) -> Calibrator:
    method = raw.get("method")
    if method == "none":
        return IdentityCalibrator()
    if method == "platt":
        return PlattCalibrator(slope=_finite(raw, "slope"), intercept=_finite(raw, "intercept"))
    if method == "isotonic":
        x, y = _finite_list(raw, "x"), _finite_list(raw, "y")
        if len(x) != len(y) or not x or any(b < a for a, b in zip(x, x[1:])):
            raise ModelFileError("calibrator.json: the isotonic knots are not a non-decreasing map.")
        if any(not 0.0 <= v <= 1.0 for v in y):
            raise ModelFileError("calibrator.json: the field 'y' of the isotonic calibration must hold "
                                 "probabilities in [0, 1]. Fix: export the model again.")
        return IsotonicCalibrator(x=x, y=y)
    raise ModelFileError(f"calibrator.json: unknown calibration method {method!r}.")


# ----------------------------------------------------------------- feature columns


@dataclass(frozen=True)
class FeatureColumn:
    """One model input: numeric, or categorical with the levels fixed at training."""

    name: str
    levels: tuple[str, ...] | None = None  # None: numeric

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "levels": list(self.levels) if self.levels is not None else None}


def columns_of(frame: pd.DataFrame, names: list[str]) -> list[FeatureColumn]:
    """Numeric columns stay numeric; categorical, text and boolean-as-text columns keep their observed levels."""
    import pandas as pd

    out = []
    for name in names:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            out.append(FeatureColumn(name, tuple(str(c) for c in column.cat.categories)))
        elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            out.append(FeatureColumn(name))
        else:
            levels = sorted({str(v) for v in column.dropna().unique()})
            out.append(FeatureColumn(name, tuple(levels)))
    return out


def prepare(frame: pd.DataFrame, columns: list[FeatureColumn]) -> pd.DataFrame:
    """The model's input matrix: its columns in its order, numbers as float64, categories on fixed levels.

    A category level not seen at training becomes missing (XGBoost routes it down
    the branch learnt for missing values).
    """
    import pandas as pd

    _check_present([c.name for c in columns if c.name not in frame.columns])
    out = {}
    for c in columns:
        values = frame[c.name]
        if c.levels is None:
            if values.dtype == "float64":
                out[c.name] = values  # already what XGBoost gets; copy-on-write keeps the caller's frame safe
                continue
            try:
                out[c.name] = pd.to_numeric(values, errors="raise").astype("float64")
            except (TypeError, ValueError) as error:
                raise ConfigError(f"Feature column {c.name!r} must be numeric: {error}") from error
        elif (isinstance(values.dtype, pd.CategoricalDtype) and not values.cat.ordered
              and values.cat.categories.tolist() == list(c.levels)):
            out[c.name] = values  # already on the model's levels (a prepared frame): nothing to redo
        else:
            text = values.astype("object").where(values.notna(), None)
            text = text.map(lambda v: None if v is None else str(v))
            known = text.isin(c.levels)
            out[c.name] = pd.Categorical(text.where(known, None), categories=list(c.levels))
    return pd.DataFrame(out, index=frame.index)


def input_matrix(values: Any, columns: list[FeatureColumn], rows: int) -> np.ndarray:
    """The model's input as one float64 matrix (``rows`` x its columns, in its order): what :func:`prepare`
    then :func:`churnml.explain._treeshap.matrix_of` make, with categories as their codes on the model's levels and
    missing values as NaN. ``values`` maps each column's name to its values (a DataFrame, or what
    :func:`churnml.engines.typed_columns` gives)."""
    import pandas as pd

    _check_present([c.name for c in columns if c.name not in values])
    out = np.empty((rows, len(columns)), dtype="float64")
    for j, c in enumerate(columns):
        column = values[c.name]
        if c.levels is not None:
            if not (isinstance(column, pd.Categorical) and not column.ordered
                    and column.categories.tolist() == list(c.levels)):
                column = prepare(pd.DataFrame({c.name: column}), [c])[c.name].array
            codes = np.asarray(column.codes, dtype="float64")
            codes[codes < 0] = np.nan
            out[:, j] = codes
        elif isinstance(column, np.ndarray) and column.dtype == np.float64:
            out[:, j] = column
        else:
            out[:, j] = prepare(pd.DataFrame({c.name: column}), [c])[c.name].to_numpy(dtype="float64",
                                                                                       na_value=np.nan)
    return out


def frame_of(matrix: np.ndarray, columns: list[FeatureColumn]) -> pd.DataFrame:
    """The prepared DataFrame (as :func:`prepare` gives it) of rows of :func:`input_matrix`."""
    import pandas as pd

    out: dict[str, Any] = {}
    for j, c in enumerate(columns):
        if c.levels is None:
            out[c.name] = matrix[:, j]
        else:
            codes = matrix[:, j]
            out[c.name] = pd.Categorical.from_codes(np.where(np.isnan(codes), -1, codes).astype("int64"),
                                                    categories=list(c.levels))
    return pd.DataFrame(out)


def _check_present(missing: list[str]) -> None:
    if missing:
        raise ConfigError(f"The model needs {len(missing)} feature column(s) this data lacks, e.g. "
                          f"{missing[0]!r}. Fix: compute the features with the model's feature spec.")


# ----------------------------------------------------------------- the model


@dataclass(eq=False)
class ChurnModel:
    """Booster + calibrator + feature columns (+ the feature spec and churn definition when
    the model was trained on an event log). ``predict_proba`` takes raw feature rows."""

    booster: xgboost.Booster
    calibrator: Calibrator
    columns: list[FeatureColumn]
    spec: FeatureSpec | None = None
    definition: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def raw_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's uncalibrated probability."""
        return self._raw(prepare(frame, self.columns))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability of each row, shape ``(n,)``."""
        return self._calibrated(self.raw_probability(frame))

    def _raw(self, prepared: pd.DataFrame) -> np.ndarray:
        # inplace_predict reads the DataFrame directly: no DMatrix, so no prediction cache either
        return self.booster.inplace_predict(prepared, iteration_range=self._iterations())

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(self.calibrator.transform(raw), 0.0, 1.0)

    def risk_tier(self, probability: Any) -> np.ndarray:
        """'high', 'medium' or 'low' by the cut-offs fixed on the test slice at training."""
        p = np.asarray(probability, dtype="float64")
        tiers = self.info.get("tiers") or {"high": 0.5, "medium": 0.2}
        return np.where(p >= tiers["high"], "high", np.where(p >= tiers["medium"], "medium", "low"))

    def _iterations(self) -> tuple[int, int]:
        """Trees up to early stopping's best round; ``(0, 0)`` (all trees, XGBoost's faster path) when
        that is every tree."""
        best = self.info.get("best_iteration")
        if best is None or int(best) + 1 >= self.booster.num_boosted_rounds():
            return (0, 0)
        return (0, int(best) + 1)

    def churn_definition(self) -> ChurnDefinition | None:
        from churnml.contract import definition_from_dict

        return None if self.definition is None else definition_from_dict(self.definition)

    # ------------------------------------------------------------- files

    def files(self) -> dict[str, bytes]:
        """The model's files as bytes (data only: UBJSON and JSON), as :meth:`save` writes them and
        :func:`model_from_files` reads them (how Spark ships a model to its executors)."""
        return {
            "booster.ubj": bytes(self.booster.save_raw(raw_format="ubj")),
            "calibrator.json": _json_bytes(self.calibrator.to_dict()),
            "features.json": _json_bytes({
                "columns": [c.to_dict() for c in self.columns],
                "spec": json.loads(self.spec.to_json()) if self.spec is not None else None}),
            "model.json": _json_bytes({"definition": self.definition, **self.info}),
        }

    def save(self, folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model folder through a temporary folder and a rename."""
        target = check_model_folder(folder, overwrite=overwrite)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            contents = self.files()
            for name, data in contents.items():
                (staging / name).write_bytes(data)
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                        "files": {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}}
            (staging / "manifest.json").write_bytes(_json_bytes(manifest))
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def check_model_folder(folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Refuse an existing model folder unless ``overwrite``; the check ``save`` makes, callable before work."""
    target = Path(folder)
    if target.exists() and not overwrite:
        raise ConfigError(f"{str(target)!r} already exists. Fix: pass overwrite=True (--overwrite) "
                          "or choose another folder.")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{str(target)!r} is a file, not a model folder. Fix: choose another folder.")
    return target


def load_model(folder: str | os.PathLike[str]) -> ChurnModel:
    """Open a model folder written by :meth:`ChurnModel.save`, checking every file's SHA-256 first.

    Raises
    ------
    ModelFileError
        A file is missing, truncated, altered, or not what it claims to be.
    """
    root = Path(folder)
    if not (root / "manifest.json").is_file():
        raise ModelFileError(f"{str(root)!r} is not a churnml model folder: it has no manifest.json.")
    manifest = _parse_json((root / "manifest.json").read_bytes(), "manifest.json")
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ModelFileError(f"{str(root / 'manifest.json')!r} is not a churnml model manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"Model format version {manifest.get('format_version')!r} is not supported "
                             f"(this churnml reads version {FORMAT_VERSION}).")
    verified: dict[str, bytes] = {}
    for name in _FILES:
        expected = manifest["files"].get(name)
        path = root / name
        if expected is None or not path.is_file():
            raise ModelFileError(f"Model file {name!r} is missing from {str(root)!r} or its manifest.")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            raise ModelFileError(f"Model file {str(path)!r} does not match its manifest (SHA-256 {digest[:12]}... "
                                 f"instead of {str(expected)[:12]}...): it was altered or truncated. "
                                 "Fix: export the model again.")
        verified[name] = data
    return model_from_files(verified)


def model_from_files(files: dict[str, bytes]) -> ChurnModel:
    """A model from the bytes of its files (:meth:`ChurnModel.files`); parses data only, never code."""
    import xgboost as xgb

    from churnml.features import FeatureSpec

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(files["booster.ubj"]))
    except xgb.core.XGBoostError as error:
        raise ModelFileError(f"booster.ubj is not an XGBoost UBJSON model: {error}") from error
    features = _parse_json(files["features.json"], "features.json")
    info = _parse_json(files["model.json"], "model.json")
    unknown = sorted(set(features) - {"columns", "spec"}) if isinstance(features, dict) else []
    if unknown:
        raise ModelFileError(f"features.json has fields this version does not know: {unknown!r}. Fix: upgrade "
                             "churnml to the version that wrote the model, or export it again.")
    try:
        columns = [FeatureColumn(c["name"], tuple(c["levels"]) if c["levels"] is not None else None)
                   for c in features["columns"]]
        spec = FeatureSpec.from_json(json.dumps(features["spec"])) if features["spec"] is not None else None
    except (KeyError, TypeError) as error:
        raise ModelFileError(f"features.json lacks a field the model needs: {error}") from error
    names = [c.name for c in columns]
    booster_names = booster.feature_names
    if booster_names is not None and list(booster_names) != names:
        if sorted(booster_names) == sorted(names):
            i = next(k for k, (a, b) in enumerate(zip(names, booster_names)) if a != b)
            detail = (f"the same names in another order (position {i}: {names[i]!r} in features.json, "
                      f"{booster_names[i]!r} in booster.ubj)")
        else:
            only = sorted(set(names) ^ set(booster_names))
            detail = f"other names ({len(names)} vs {len(booster_names)}; e.g. {only[0]!r} is only in one)"
        raise ModelFileError(f"features.json field 'columns' does not match booster.ubj's feature names: {detail}. "
                             "Fix: export the model again.")
    definition = info.pop("definition", None)
    return ChurnModel(booster=booster, calibrator=calibrator_from_dict(_parse_json(
        files["calibrator.json"], "calibrator.json")), columns=columns, spec=spec,
        definition=definition, info=info)


def _parse_json(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{name} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise ModelFileError(f"{name} must hold a JSON object.")
    return value


def reference_values(frame: pd.DataFrame, columns: list[Any]) -> dict[str, Any]:
    """Median (numbers) or most common level (categories) of each feature among ``frame``'s rows: the
    reference values a model file keeps for its explanations (the retained training accounts')."""
    import pandas as pd

    out: dict[str, Any] = {}
    for c in columns:
        values = frame[c.name]
        if c.levels is None:
            median = values.median()
            out[c.name] = None if pd.isna(median) else float(median)
        else:
            counts = values.value_counts()
            out[c.name] = str(counts.index[0]) if len(counts) else None
    return out
