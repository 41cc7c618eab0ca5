"""Why each account is at risk: exact TreeSHAP from XGBoost, and the top drivers as sentences.

Contributions come from the booster itself (``pred_contribs``: exact TreeSHAP,
multi-threaded, on the GPU when the model was trained there), in log-odds,
with the base value, so ``base + sum(contributions)`` is the booster's margin.
The calibrated probability is a monotone map of that margin, so a driver that
raises the margin raises the probability.

Each reason is a sentence made from the feature's metadata, the account's value
and a reference value (the median among retained accounts of the training
slice), e.g. "No activity for 45 days (retained accounts: 3)".

Examples
--------
>>> _plurals(pd.Series([1.0, 3.0]), "support ticket").tolist(), _changes(pd.Series([-0.8])).tolist()
(['1 support ticket', '3 support tickets'], ['fell 80%'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnml.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnml.features import FeatureInfo
    from churnml.model import ChurnModel

__all__ = ["ChurnExplainer", "Explanation", "reference_values"]


@dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP values in log-odds: ``values`` (accounts x features), ``base_value``, the model inputs."""

    values: np.ndarray
    base_value: float
    data: pd.DataFrame  # the model's input rows, as prepared
    feature_names: list[str]

    @property
    def margin(self) -> np.ndarray:
        return self.base_value + self.values.sum(axis=1)

    def to_shap(self) -> Any:
        """A ``shap.Explanation`` for the ``shap`` package's plots."""
        import shap

        data = self.data.copy()
        for column in data.columns:
            if isinstance(data[column].dtype, pd.CategoricalDtype):
                data[column] = data[column].cat.codes.where(data[column].notna(), np.nan).astype("float64")
        return shap.Explanation(values=self.values, base_values=np.full(len(data), self.base_value),
                                data=data.to_numpy(dtype="float64"), feature_names=self.feature_names)


def reference_values(frame: pd.DataFrame, columns: list[Any]) -> dict[str, Any]:
    """Median (numbers) or most common level (categories) of each feature among ``frame``'s rows."""
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


ENGINES = ("auto", "fast", "xgboost")


class ChurnExplainer:
    """Per-account drivers and global SHAP views of a :class:`~churnml.model.ChurnModel`.

    Parameters
    ----------
    model : ChurnModel
    top_k : int, default 3
        Reasons per account.
    engine : 'auto', 'fast' or 'xgboost'
        Exact TreeSHAP by churnml's CPU engine (Fast TreeSHAP v2, several times
        faster than XGBoost's on CPU; :mod:`churnml._treeshap`) or by XGBoost's
        ``pred_contribs``. 'auto' takes XGBoost on the GPU when the model was trained
        with ``device='cuda'``, the fast engine otherwise. Both give the same values.
    """

    def __init__(self, model: ChurnModel, *, top_k: int = 3, engine: str = "auto") -> None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"The 'top_k' parameter of ChurnExplainer must be a positive int. Got {top_k!r} instead.")
        if engine not in ENGINES:
            raise ConfigError(f"The 'engine' parameter of ChurnExplainer must be one of {', '.join(ENGINES)}. "
                              f"Got {engine!r} instead.")
        self.model = model
        self.top_k = top_k
        self._on_gpu = str(model.info.get("params", {}).get("device", "cpu")).startswith("cuda")
        self.engine = ("xgboost" if self._on_gpu else "fast") if engine == "auto" else engine
        self._requested = engine
        self._fast: Any = None
        self.info: dict[str, FeatureInfo] = {f.name: f for f in model.spec.features()} if model.spec else {}
        self.reference: dict[str, Any] = dict(model.info.get("reference", {}))
        # 'other' holds the event types too rare to keep at fit: name them in sentences
        rare = sorted(set(model.spec.known_types) - set(model.spec.event_types)) if model.spec else []
        self.other_words = "rare event" + (f" ({', '.join(t.replace('_', ' ') for t in rare[:2])}"
                                           f"{', ...' if len(rare) > 2 else ''})" if rare else "")

    def explain(self, frame: pd.DataFrame) -> Explanation:
        """Exact TreeSHAP contributions of each feature to each row's log-odds."""
        import xgboost as xgb

        from churnml.model import prepare

        prepared = prepare(frame, self.model.columns)
        if self.engine == "fast":
            from churnml._treeshap import matrix_of

            try:
                fast = self.fast_engine()
            except MemoryError:  # tables too large for this model (very deep trees): XGBoost's own engine
                if self._requested == "fast":
                    raise
                self.engine = "xgboost"
                return self.explain(frame)
            return Explanation(values=fast.shap_values(matrix_of(prepared)), base_value=fast.base_value,
                               data=prepared, feature_names=self.model.feature_names)
        booster = self.model.booster
        if self._on_gpu:
            booster.set_param({"device": "cuda"})
        contributions = booster.predict(xgb.DMatrix(prepared, enable_categorical=True), pred_contribs=True,
                                        iteration_range=self.model._iterations(), validate_features=False)
        values = np.asarray(contributions[:, :-1], dtype="float64")
        base = float(contributions[0, -1]) if len(contributions) else float("nan")
        return Explanation(values=values, base_value=base, data=prepared, feature_names=self.model.feature_names)

    def fast_engine(self) -> Any:
        """The fast engine's tables for this model (built on first use, then kept)."""
        if self._fast is None:
            from churnml._treeshap import FastTreeShap

            rounds = self.model._iterations()[1] or None
            self._fast = FastTreeShap.from_booster(self.model.booster, rounds=rounds)
        return self._fast

    def reasons(self, frame: pd.DataFrame, *, explanation: Explanation | None = None,
                top_k: int | None = None) -> pd.DataFrame:
        """The drivers that raise each account's risk, strongest first.

        Returns one row per input row (same index) with ``churn_probability`` and, for
        ``i`` in ``1..k``: ``reason_<i>`` (a sentence), ``reason_<i>_feature``,
        ``reason_<i>_value`` and ``reason_<i>_contribution`` (log-odds). An account with
        fewer than ``k`` risk-raising features gets empty reasons after the last one.
        """
        k = top_k or self.top_k
        explanation = explanation or self.explain(frame)
        values = explanation.values
        names = np.array(explanation.feature_names, dtype=object)
        k = min(k, values.shape[1])
        order = np.argsort(-values, axis=1, kind="stable")[:, :k]
        rows = np.arange(values.shape[0])[:, None]
        top = values[rows, order]
        out = pd.DataFrame(index=frame.index)
        out["churn_probability"] = self.model._calibrated(_sigmoid(explanation.margin))
        for i in range(k):
            chosen, strength = order[:, i], top[:, i]
            raising = strength > 0
            sentences = np.full(len(chosen), None, dtype=object)
            shown_values = np.full(len(chosen), None, dtype=object)
            for j in np.unique(chosen[raising]):
                picked = raising & (chosen == j)
                column = explanation.data.iloc[np.flatnonzero(picked), j]
                sentences[picked] = self._sentences(str(names[j]), column)
                shown_values[picked] = column.to_numpy(dtype=object)
            out[f"reason_{i + 1}"] = sentences
            out[f"reason_{i + 1}_feature"] = np.where(raising, names[chosen], None)
            out[f"reason_{i + 1}_value"] = shown_values
            out[f"reason_{i + 1}_contribution"] = np.where(raising, strength, np.nan)
        return out

    def global_importance(self, explanation: Explanation) -> pd.Series:
        """Mean |SHAP| per feature, highest first."""
        return pd.Series(np.abs(explanation.values).mean(axis=0), index=explanation.feature_names,
                         name="mean_abs_shap").sort_values(ascending=False)

    # ------------------------------------------------------------- sentences

    def _sentences(self, name: str, column: pd.Series) -> np.ndarray:
        """Sentences for one feature over many accounts, built with vectorised string operations."""
        info = self.info.get(name)
        reference = self.reference.get(name)
        if info is None:
            text = _generic(name, column)
        else:
            text = _describe(info, column, other=self.other_words)
        if reference is not None:
            text = text + f" (retained accounts: {_format_reference(info, reference, other=self.other_words)})"
        return text.to_numpy(dtype=object)

    # ------------------------------------------------------------- plots

    def beeswarm_figure(self, explanation: Explanation, *, max_display: int = 15) -> Figure:
        """The ``shap`` package's beeswarm of the strongest features."""
        return _shap_plot(lambda shap, e: shap.plots.beeswarm(e, max_display=max_display, show=False),
                          explanation.to_shap())

    def dependence_figure(self, explanation: Explanation, feature: str) -> Figure:
        """The ``shap`` package's dependence (scatter) plot of one feature."""
        e = explanation.to_shap()
        return _shap_plot(lambda shap, _: shap.plots.scatter(e[:, feature], show=False), e)

    def waterfall_figure(self, explanation: Explanation, row: int, *, max_display: int = 10) -> Figure:
        """The ``shap`` package's waterfall for one account (log-odds)."""
        e = explanation.to_shap()
        return _shap_plot(lambda shap, _: shap.plots.waterfall(e[row], max_display=max_display, show=False), e)


def _shap_plot(draw: Any, explanation: Any) -> Figure:
    """Run a ``shap`` plot (which draws on pyplot's current figure) and hand the figure over, closed in
    pyplot so nothing stays open (headless machines get matplotlib's Agg backend by themselves)."""
    import matplotlib.pyplot as plt
    import shap

    before = set(plt.get_fignums())
    plt.figure()
    draw(shap, explanation)
    figure = plt.gcf()
    for number in set(plt.get_fignums()) - before:  # detach from pyplot (the figure object stays usable),
        plt.close(number)                           # including any empty one a shap plot left behind
    return figure


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-margin))


# ----------------------------------------------------------------- formatting (vectorised)


def _snapped(values: pd.Series) -> pd.Series:
    """Values rounded to 9 decimals before they are rounded for print: a sum taken in another order (another
    engine, another partitioning) differs in the last bits, and 19.114999999 and 19.115000001 must not print
    as 19.11 and 19.12."""
    return values.astype("float64").round(9)


def _number(values: pd.Series, decimals: int = 1) -> pd.Series:
    """Whole numbers without decimals, others rounded; thousands separated."""
    v = _snapped(values)
    whole = np.isclose(v, np.round(v))
    # + 0.0 turns a -0.0 left by rounding (-0.004 to 2 decimals) into 0.0: no "-0" in a sentence.
    text = pd.Series(np.where(whole, (v.round() + 0.0).map("{:,.0f}".format), (v.round(decimals) + 0.0).map(
        ("{:,.%df}" % decimals).format)), index=values.index, dtype=object)
    return text


def _plurals(values: pd.Series, word: str) -> pd.Series:
    counts = _number(values)
    plural = word + ("es" if word.endswith(("s", "sh", "ch")) else "s")
    return counts + np.where(_snapped(values) == 1, f" {word}", f" {plural}")


def _changes(values: pd.Series) -> pd.Series:
    v = _snapped(values)
    percent = (v.abs() * 100).round().map("{:,.0f}%".format)
    verb = np.where(v < 0, "fell ", np.where(v > 0, "rose ", ""))
    return pd.Series(np.where(v == 0, "did not change", verb + percent), index=values.index, dtype=object)


def _percent(values: pd.Series) -> pd.Series:
    return (_snapped(values) * 100).round().map("{:,.0f}%".format)


def _days(values: pd.Series) -> pd.Series:
    return _plurals(_snapped(values).round(), "day")


def _type_words(info: FeatureInfo, other: str) -> str:
    if info.event_type == "other":
        return other
    return (info.event_type or "event").replace("_", " ")


def _describe(info: FeatureInfo, column: pd.Series, *, other: str = "rare event") -> pd.Series:
    """One family's sentence for each value; missing values get their own wording.

    ``other`` names the ``other`` event type (the types too rare to keep at fit).
    """
    v = column.astype("float64") if info.unit != "category" else column
    missing = column.isna().to_numpy()
    w = info.window_days
    name = info.name
    kind = _type_words(info, other)
    if info.family == "recency":
        if info.event_type is None:
            text = "No activity for " + _days(v)
            absent = "No activity before this date"
        else:
            text = f"Last {kind} " + _days(v) + " ago"
            absent = f"Never a {kind} event" if info.event_type != "other" else f"Never a {kind}"
    elif info.family == "frequency" and name.startswith("active_days_"):
        text = "Active on " + _plurals(v, "day") + f" of the last {w}"
        absent = f"No activity in the last {w} days"
    elif info.family == "frequency":
        word = "event" if info.event_type is None else kind
        text = _plurals(v, word) + f" in the last {w} days"
        absent = f"No {word}s in the last {w} days"
    elif info.family == "monetary" and name.startswith("value_sum_"):
        text = "Spent " + _number(v, 2) + f" in the last {w} days"
        absent = f"Nothing spent in the last {w} days"
    elif info.family == "monetary":
        text = "Average value " + _number(v, 2) + f" per event in the last {w} days"
        absent = f"No valued events in the last {w} days"
    elif info.family == "breadth":
        text = "Used " + _plurals(v, "kind") + f" of event in the last {w} days"
        absent = f"No events in the last {w} days"
    elif info.family == "trend":
        subject = "Activity" if info.event_type is None else f"{kind.capitalize()} events"
        text = f"{subject} " + _changes(v) + f" vs the previous {w} days"
        absent = f"{subject}: none in the previous {w} days to compare with"
    elif info.family == "lifetime" and name.endswith("_events"):
        word = "event" if info.event_type is None else kind
        text = _plurals(v, word) + " in all"
        absent = "No events before this date"
    elif name == "lifetime_active_days":
        text = "Active on " + _plurals(v, "day") + " in all"
        absent = "No activity before this date"
    elif name == "lifetime_value_sum":
        text = "Spent " + _number(v, 2) + " in all"
        absent = "Nothing spent before this date"
    elif name == "lifetime_value_mean":
        text = "Average value " + _number(v, 2) + " per event in all"
        absent = "No valued events before this date"
    elif name == "activity_rate":
        text = "Active on " + _percent(v) + " of the days since the first"
        absent = "No history before this date"
    elif name == "active_span_days":
        text = pd.Series(np.where(_snapped(v) == 0, "Active on a single day so far",
                                  ("Active over " + _days(v) + " from the first to the last active day").astype(object)),
                         index=column.index, dtype=object)
        absent = "No activity before this date"
    elif name == "first_repeat_days":
        text = "Came back " + _days(v) + " after the first active day"
        absent = "Never came back after the first active day"
    elif name == "p_alive":
        text = _percent(v) + " likely to still be a customer (BG/NBD)"
        absent = "Too little history to estimate (BG/NBD)"
    elif info.family == "bgnbd":
        text = "Expected active on " + _plurals(v.round(1), "day") + f" of the next {w} (BG/NBD)"
        absent = "Too little history to estimate (BG/NBD)"
    elif name == "tenure_days":
        text = "Customer for " + _days(v)
        absent = "Tenure unknown"
    elif name == "mean_gap_days":
        text = "Usually active every " + _number(v) + " days"
        absent = "Active on a single day of the lookback, no usual rhythm yet"
    elif name == "overdue_ratio":
        text = _number(v) + "x the usual gap since the last event"
        absent = "No usual rhythm yet to be overdue against"
    elif name == "activated":
        days = info.description.split("within ")[1].split(" of")[0] if "within " in info.description else ""
        text = pd.Series(np.where(v == 1, f"Activated within {days} of signup", f"Not activated within {days} of "
                                  "signup"), index=column.index, dtype=object)
        absent = "Activation unknown"
    elif name == "days_to_activation":
        text = "Activated " + _days(v) + " after signup"
        absent = "Not activated in time"
    elif name == "plan":
        text = "On the " + column.astype("object").astype(str) + " plan"
        absent = "No running subscription"
    elif name == "mrr":
        text = "Pays " + _number(v, 2) + " per month"
        absent = "No running subscription"
    elif name == "subscription_tenure_days":
        text = "Subscribed for " + _days(v)
        absent = "No running subscription"
    elif name.startswith("mrr_change_"):
        text = "Monthly revenue changed by " + _number(v, 2) + f" in the last {w} days"
        absent = f"No subscription {w} days ago to compare with"
    elif name.startswith("downgrades_"):
        text = _plurals(v, "downgrade") + f" in the last {w} days"
        absent = f"No downgrades in the last {w} days"
    else:  # account attributes and anything else: the value as it is
        return _generic(info.name, column)
    return pd.Series(np.where(missing, absent, text.astype(object)), index=column.index, dtype=object)


def _generic(name: str, column: pd.Series) -> pd.Series:
    label = name.replace("_", " ")
    if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(column):
        text = f"{label}: " + column.astype("object").astype(str)
    else:
        text = f"{label}: " + _number(column.astype("float64"), 2)
    return pd.Series(np.where(column.isna(), f"{label}: missing", text.astype(object)), index=column.index,
                     dtype=object)


def _format_reference(info: FeatureInfo | None, reference: Any, *, other: str = "rare event") -> str:
    """The retained accounts' median in the feature's own unit."""
    if isinstance(reference, str):
        return reference
    value = pd.Series([float(reference)])
    if info is None:
        return _number(value, 2)[0]
    if info.family == "trend":
        return _changes(value)[0]
    if info.unit == "flag":
        return "activated" if reference >= 0.5 else "not activated"
    if info.unit == "fraction":
        return _percent(value)[0]
    if info.name == "mean_gap_days":
        return "every " + _number(value)[0] + " days"
    if info.unit == "days":
        return _days(value)[0]
    if info.unit == "events":
        word = "event" if info.event_type is None else _type_words(info, other)
        return _plurals(value, word)[0]
    return _number(value, 2 if info.unit == "value" else 1)[0]
