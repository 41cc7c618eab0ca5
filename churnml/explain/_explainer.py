"""Why each account is at risk: exact TreeSHAP from XGBoost, and the top drivers as sentences.

Contributions come from the booster itself (``pred_contribs``: exact TreeSHAP,
multi-threaded, on the GPU when the model was trained there), in log-odds,
with the base value, so ``base + sum(contributions)`` is the booster's margin.
The calibrated probability is a monotone map of that margin, so a driver that
raises the margin raises the probability.

Each reason is a sentence made from the feature's metadata, the account's value
and a reference value (the median among retained accounts of the training
slice), e.g. "No activity for 45 days (retained accounts: 3 days)".

How reasons are chosen
----------------------
*One fact, one reason.* Every feature states a fact about the customer, its reason
family (:data:`churnml.features.REASON_FAMILIES`: inactivity, engagement, rhythm,
value, tenure, activation, payment_failure, friction, account; a feature without
metadata, such as a labelled table's column, is a family of its own). An account's
contributions are summed per family, so a reason weighs what its fact weighs
(``reason_<i>_contribution``), and the families whose sum raises the risk are its
reasons, strongest first, each named in ``reason_<i>_family``.

*Sentences that read the right way round.* A family's reason is phrased from its
strongest member whose own contribution raises the risk and whose value lies on
the risky side of the reference, by the direction in the feature's metadata:

- ``direction`` +1 (more means riskier): the value is above the retained accounts'
  median; -1: below it (a trend without a reference compares with no change);
- a missing value: its ``missing_direction`` is not -1 ("never a payment failure"
  does not explain risk; "never came back after the first day" does);
- direction 0 (it depends: the plan, MRR, account attributes) or no reference: the
  sentence states the value and the reference without a judgement, so it is kept.

When the model's contribution goes against that direction (an interaction: "login
events rose 200%" raising the risk), the sentence would read backwards, so the
member is passed over for the family's next one; a family with no member left is
passed over for the next family. Sentences follow the sign and unit of the value:
negative money is returns exceeding purchases, less than half a day is "less than a
day ago", counts of one are singular. A missing value is said in words that describe
the customer, reading the row's other features where it needs them: no usual rhythm
(a single active day in the lookback) is "Active on only 1 day so far" with the
retained accounts' lifetime active days.

Each feature's words are defined with it (``FeatureInfo.words`` and ``.retained`` in
:mod:`churnml.features`, over the phrases of :mod:`churnml.features._wording`); this module
chooses the reasons and applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnml.errors import ConfigError
from churnml.features import Phrases, SNAP_DECIMALS, days, describe, format_reference, generic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnml.features import FeatureInfo
    from churnml.modeling import ChurnModel

__all__ = ["ChurnExplainer", "Explanation"]


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


ENGINES = ("auto", "fast", "xgboost")
_WORDS_KEPT = 10_000  # sentences kept per feature, by value, between calls


class ChurnExplainer:
    """Per-account drivers and global SHAP views of a :class:`~churnml.modeling.ChurnModel`.

    Parameters
    ----------
    model : ChurnModel
    top_k : int, default 3
        Reasons per account.
    engine : 'auto', 'fast' or 'xgboost'
        Exact TreeSHAP by churnml's CPU engine (Fast TreeSHAP v2, several times
        faster than XGBoost's on CPU; :mod:`churnml.explain._treeshap`) or by XGBoost's
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
        self._shown: dict[str, str] = {}  # each feature's reference, worded
        self._words: dict[str, dict[Any, str]] = {}  # each feature's sentences by value, up to _WORDS_KEPT
        self._members: tuple[tuple[str, ...], list[str], list[np.ndarray]] | None = None  # see _families
        self.info: dict[str, FeatureInfo] = {f.name: f for f in model.spec.features()} if model.spec else {}
        self.reference: dict[str, Any] = dict(model.info.get("reference", {}))
        # 'other' holds the event types too rare to keep at fit: name them in sentences
        rare = sorted(set(model.spec.known_types) - set(model.spec.event_types)) if model.spec else []
        self.rare_detail = (f" ({', '.join(t.replace('_', ' ') for t in rare[:2])}{', ...' if len(rare) > 2 else ''})"
                            if rare else "")

    def explain(self, frame: pd.DataFrame, *, matrix: np.ndarray | None = None) -> Explanation:
        """Exact TreeSHAP contributions of each feature to each row's log-odds.

        ``matrix``: the same rows as :func:`churnml.modeling.input_matrix` gives them, when the caller has it
        (the fast engine reads it instead of converting ``frame`` again).
        """
        import xgboost as xgb

        from churnml.modeling import prepare

        prepared = prepare(frame, self.model.columns)
        if self.engine == "fast":
            from churnml.explain._treeshap import matrix_of

            try:
                fast = self.fast_engine()
            except MemoryError:  # tables too large for this model (very deep trees): XGBoost's own engine
                if self._requested == "fast":
                    raise
                self.engine = "xgboost"
                return self.explain(frame)
            values = fast.shap_values(matrix_of(prepared) if matrix is None else matrix)
            return Explanation(values=values, base_value=fast.base_value, data=prepared,
                               feature_names=self.model.feature_names)
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
            from churnml.explain._treeshap import FastTreeShap

            rounds = self.model._iterations()[1] or None
            self._fast = FastTreeShap.from_booster(self.model.booster, rounds=rounds)
        return self._fast

    def family(self, name: str) -> str:
        """The reason family of a feature (its own name where the model has no metadata for it)."""
        info = self.info.get(name)
        return info.reason_family if info is not None and info.reason_family else name

    def reasons(self, frame: pd.DataFrame, *, explanation: Explanation | None = None,
                top_k: int | None = None) -> pd.DataFrame:
        """The facts that raise each account's risk, strongest first, one per reason family.

        Returns one row per input row (same index) with ``churn_probability`` and, for
        ``i`` in ``1..k``: ``reason_<i>`` (a sentence), ``reason_<i>_feature`` (the feature
        it is phrased from), ``reason_<i>_value`` (that feature's value),
        ``reason_<i>_contribution`` (the family's summed log-odds) and ``reason_<i>_family``.
        An account with fewer than ``k`` risk-raising families gets empty reasons after
        the last one. The module docstring gives the rules.
        """
        out = pd.DataFrame(index=frame.index)
        for column, values in self.reason_columns(frame, explanation=explanation, top_k=top_k).items():
            out[column] = values
        return out

    def reason_columns(self, frame: pd.DataFrame, *, explanation: Explanation | None = None,
                       top_k: int | None = None) -> dict[str, np.ndarray]:
        """What :meth:`reasons` returns, as one array per column (no DataFrame; batch scoring writes these)."""
        k = top_k or self.top_k
        explanation = explanation or self.explain(frame)
        values = explanation.values
        names = np.array(explanation.feature_names, dtype=object)
        n = values.shape[0]
        keys, members = self._families(tuple(explanation.feature_names))
        # the member each family is phrased from: the strongest one that raises the risk and reads right
        speaking = np.where((values > 0) & self._reads_right(explanation.data), values, -np.inf)
        weights = np.empty((n, len(keys)))  # each family's summed contribution
        voice = np.empty((n, len(keys)), dtype=np.intp)
        heard = np.empty((n, len(keys)), dtype=bool)
        for i, m in enumerate(members):
            if len(m) == 1:  # most families: the feature alone
                weights[:, i], voice[:, i], heard[:, i] = values[:, m[0]], m[0], np.isfinite(speaking[:, m[0]])
                continue
            weights[:, i] = values[:, m].sum(axis=1)
            said = speaking[:, m]
            voice[:, i] = m[np.argmax(said, axis=1)]
            heard[:, i] = np.isfinite(said.max(axis=1))
        ranked = np.where((weights > 0) & heard, weights, -np.inf)
        k = min(k, len(keys))
        order = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
        rows = np.arange(n)[:, None]
        out: dict[str, np.ndarray] = {"churn_probability": self.model._calibrated(_sigmoid(explanation.margin))}
        family_names = np.array(keys, dtype=object)
        raising = np.isfinite(ranked[rows, order])  # (accounts, k)
        feature = voice[rows, order]
        sentences = np.full((n, k), None, dtype=object)
        shown_values = np.full((n, k), None, dtype=object)
        # one pass per feature over every account it speaks for, whatever the reason's place: a feature
        # belongs to one family, so an account has it at one place at most (and the rows come out sorted)
        data = explanation.data
        cells = np.flatnonzero(raising)  # row-major: by account, then place
        speakers = feature.ravel()[cells]
        cells = cells[np.argsort(speakers, kind="stable")]
        features, starts = np.unique(np.sort(speakers), return_index=True)
        for j, start, stop in zip(features, starts, [*starts[1:], len(cells)]):
            where, place = np.divmod(cells[start:stop], k)
            name = str(names[j])
            inputs = data[self._sentence_inputs(name, data.columns)].iloc[where]
            sentences[where, place] = self._sentences(name, inputs)
            shown_values[where, place] = inputs[name].to_numpy(dtype=object)
        for i in range(k):
            out[f"reason_{i + 1}"] = sentences[:, i]
            out[f"reason_{i + 1}_feature"] = np.where(raising[:, i], names[feature[:, i]], None)
            out[f"reason_{i + 1}_value"] = shown_values[:, i]
            out[f"reason_{i + 1}_contribution"] = np.where(raising[:, i], weights[rows, order][:, i], np.nan)
            out[f"reason_{i + 1}_family"] = np.where(raising[:, i], family_names[order[:, i]], None)
        return out

    def _families(self, names: tuple[str, ...]) -> tuple[list[str], list[np.ndarray]]:
        """The reason families of these features, in first-seen order, and each one's member positions."""
        if self._members is None or self._members[0] != names:
            families = np.array([self.family(name) for name in names], dtype=object)
            keys = list(dict.fromkeys(families))
            self._members = (names, keys, [np.flatnonzero(families == key) for key in keys])
        return self._members[1], self._members[2]

    def _reads_right(self, data: pd.DataFrame) -> np.ndarray:
        """Whether each value's sentence would explain a higher risk: on the risky side of the reference by
        the feature's direction (missing values by ``missing_direction``); True where the direction is 0 or
        unknown, or there is no reference to compare with."""
        out = np.ones(data.shape, dtype=bool)
        for j, name in enumerate(data.columns):
            info = self.info.get(name)
            if info is None or info.unit == "category":
                continue
            column = data.iloc[:, j].to_numpy(dtype="float64", na_value=np.nan)
            reference = self.reference.get(name)
            if reference is None and info.family == "trend":
                reference = 0.0
            if info.direction != 0 and isinstance(reference, int | float):
                out[:, j] = info.direction * (np.round(column, SNAP_DECIMALS) - float(reference)) > 0
            missing = np.isnan(column)
            out[missing, j] = info.missing_direction >= 0
            recent = _trend_count(info)
            if info.family == "trend" and info.direction != 0 and recent in data:
                # none in the window before: events that began are a rise, none in either window a fall
                began = data[recent].fillna(0).to_numpy() > 0
                out[missing, j] = np.where(began, info.direction > 0, info.direction < 0)[missing]
        return out

    def global_importance(self, explanation: Explanation) -> pd.Series:
        """Mean |SHAP| per feature, highest first."""
        return pd.Series(np.abs(explanation.values).mean(axis=0), index=explanation.feature_names,
                         name="mean_abs_shap").sort_values(ascending=False)

    def global_family_importance(self, explanation: Explanation) -> pd.Series:
        """Mean |sum of SHAP| per reason family, highest first: how much each fact moves the risk."""
        names = explanation.feature_names
        sums = pd.DataFrame(explanation.values, columns=names).T.groupby([self.family(n) for n in names]).sum().T
        return sums.abs().mean(axis=0).rename("mean_abs_shap").sort_values(ascending=False)

    # ------------------------------------------------------------- sentences

    def _sentences(self, name: str, rows: pd.DataFrame) -> np.ndarray:
        """Sentences for one feature over many accounts (``rows``: their model inputs), vectorised."""
        info = self.info.get(name)
        column = rows[name]
        # A sentence depends on the value alone (but for the missing values of rhythm and trend, below): each
        # distinct value is worded once, and kept for the next chunks (counts and days repeat a lot) up to a
        # bound, so a feature with endless distinct values (money) costs no memory.
        codes, distinct = pd.factorize(column)
        keys = [*distinct.tolist(), None]  # None: missing
        known = self._words.setdefault(name, {})
        fresh = [i for i, key in enumerate(keys) if key not in known]
        worded: dict[Any, str] = {}
        if fresh:
            values = pd.Series(distinct).reindex(fresh)  # the last position, past the distinct values: missing
            text = generic(name, values) if info is None else describe(info, values, rare=self.rare_detail)
            worded = dict(zip((keys[i] for i in fresh), np.asarray(text, dtype=object) + self._shown_of(name)))
            if len(known) + len(worded) <= _WORDS_KEPT:
                known.update(worded)
        words = np.array([known[key] if key in known else worded[key] for key in keys], dtype=object)
        out = words[np.where(codes < 0, len(keys) - 1, codes)]
        missing = codes < 0
        if info is not None and info.family == "rhythm" and missing.any():  # no rhythm yet: how little activity
            text, shown = self._single_day(info, rows[missing])
            out[missing] = text + shown
        if info is not None and info.family == "trend" and missing.any() and _trend_count(info) in rows:
            text, shown = self._no_trend(info, rows[missing])
            out[missing] = text + shown
        return out

    def _shown_of(self, name: str) -> str:
        """The reference a feature's sentences end with, worded once."""
        if name not in self._shown:
            info, reference = self.info.get(name), self.reference.get(name)
            self._shown[name] = ("" if reference is None else
                                 f" (retained accounts: {format_reference(info, reference, rare=self.rare_detail)})")
        return self._shown[name]

    def _sentence_inputs(self, name: str, columns: pd.Index) -> list[str]:
        """The columns a feature's sentences read: its own, and what its missing values are worded from."""
        info = self.info.get(name)
        wanted = [name]
        if info is not None and info.family == "rhythm":
            wanted += [f"active_days_{info.window_days}d", "lifetime_active_days"]
        if info is not None and info.family == "trend":
            wanted.append(_trend_count(info))
        return [c for c in dict.fromkeys(wanted) if c in columns]

    def _no_trend(self, info: FeatureInfo, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Words for a trend with nothing in the window before: the events began, or there were none in either
        window (with the retained accounts' count in the window)."""
        w, recent = info.window_days, _trend_count(info)
        phrases = Phrases(info, rows[recent], rare=self.rare_detail)
        began = rows[recent].fillna(0).to_numpy() > 0
        count = self.reference.get(recent)
        retained = "" if count is None else (
            f" (retained accounts: {format_reference(self.info.get(recent), count, rare=self.rare_detail)} "
            f"in the last {w} days)")
        text = np.where(began, f"{phrases.subject} began in the last {w} days, none in the {w} before",
                        f"No {phrases.nouns} in the last {2 * w} days").astype(object)
        return text, np.where(began, "", retained).astype(object)

    def _single_day(self, info: FeatureInfo, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Words for no usual rhythm (at most one active day in the lookback), from the row's whole history
        where the model has it, with the matching reference."""
        lookback = info.window_days
        recent, lifetime = f"active_days_{lookback}d", "lifetime_active_days"

        def retained(name: str) -> str:
            value = self.reference.get(name)
            return "" if value is None else f" (retained accounts: {days(pd.Series([value]))[0]})"

        # by default the feature's own words for a missing value ("Active on only 1 day of the last 90")
        text = np.full(len(rows), describe(info, pd.Series([np.nan]))[0], dtype=object)
        shown = np.full(len(rows), retained(recent), dtype=object)
        if recent in rows:
            text[rows[recent].fillna(0).to_numpy() < 1] = f"No activity in the last {lookback} days"
        if lifetime in rows:
            once = rows[lifetime].fillna(0).to_numpy() <= 1
            text[once], shown[once] = "Active on only 1 day so far", retained(lifetime)
        return text, shown

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


def _trend_count(info: FeatureInfo) -> str:
    """The count in the recent window that a trend feature compares with the window before."""
    return f"count_{info.event_type or 'events'}_{info.window_days}d"
