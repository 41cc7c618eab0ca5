"""The words a feature's sentences are made of, vectorised over accounts.

Each :class:`churnml.features.FeatureInfo` says how its values read, beside its SQL:
``words`` takes a :class:`Phrases` over the values and returns the sentence for each
value and the sentence for a missing one; ``retained`` (optional) words the retained
accounts' median the sentence ends with, which otherwise follows the feature's unit.
So a feature is worded where it is defined, and :mod:`churnml.explain` only applies it.

Numbers are snapped to 9 decimals before they are rounded for print (:func:`snapped`),
counts of one are singular, money reads by its sign and less than half a day is "less
than a day".

>>> plurals(pd.Series([1.0, 3.0]), "rare event", " (payment failure)").tolist(), changes(pd.Series([-0.8])).tolist()
(['1 rare event (payment failure)', '3 rare events (payment failure)'], ['fell 80%'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churnml.features._spec import FeatureInfo

SNAP_DECIMALS = 9  # see snapped; the explainer compares values with references snapped the same way


def snapped(values: pd.Series) -> pd.Series:
    """Values rounded to 9 decimals before they are rounded for print: a sum taken in another order (another
    engine, another partitioning) differs in the last bits, and 19.114999999 and 19.115000001 must not print
    as 19.11 and 19.12."""
    return values.astype("float64").round(SNAP_DECIMALS)


def number(values: pd.Series, decimals: int = 1) -> pd.Series:
    """Whole numbers without decimals, others rounded; thousands separated."""
    v = snapped(values)
    whole = np.isclose(v, np.round(v))
    # + 0.0 turns a -0.0 left by rounding (-0.004 to 2 decimals) into 0.0: no "-0" in a sentence.
    return pd.Series(np.where(whole, (v.round() + 0.0).map("{:,.0f}".format), (v.round(decimals) + 0.0).map(
        ("{:,.%df}" % decimals).format)), index=values.index, dtype=object)


def plural(word: str) -> str:
    """The plural of an English noun (the nouns of churnml's sentences).

    >>> [plural(w) for w in ("event", "kind", "downgrade", "query", "day", "box", "status")]
    ['events', 'kinds', 'downgrades', 'queries', 'days', 'boxes', 'statuses']
    """
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "sh", "ch", "x", "z")) else "s")


def plurals(values: pd.Series, noun: str, detail: str = "") -> pd.Series:
    """Counts with their noun, singular for exactly one; ``detail`` (a parenthesis) follows the noun."""
    return number(values) + np.where(snapped(values) == 1, f" {noun}{detail}", f" {plural(noun)}{detail}")


def changes(values: pd.Series) -> pd.Series:
    """A relative change: 'fell 80%', 'rose 50%', 'did not change'."""
    v = snapped(values)
    percent = (v.abs() * 100).round().map("{:,.0f}%".format)
    verb = np.where(v < 0, "fell ", np.where(v > 0, "rose ", ""))
    return pd.Series(np.where(v == 0, "did not change", verb + percent), index=values.index, dtype=object)


def percent(values: pd.Series) -> pd.Series:
    return (snapped(values) * 100).round().map("{:,.0f}%".format)


def days(values: pd.Series) -> pd.Series:
    return plurals(snapped(values).round(), "day")


def ago(values: pd.Series) -> pd.Series:
    """'3 days ago', '1 day ago'; under half a day (the last event just before the date) 'less than a day ago'."""
    v = snapped(values).round()
    return pd.Series(np.where(v == 0, "less than a day ago", (days(values) + " ago").astype(object)),
                     index=values.index, dtype=object)


def money(values: pd.Series, spent: str, nothing: str, returned: str) -> pd.Series:
    """Money by its sign: ``spent`` + amount, ``nothing``, or ``returned`` + amount (returns exceeded
    purchases); ``spent`` and ``returned`` end where the amount goes."""
    v = snapped(values)
    amount = number(v.abs(), 2)
    return pd.Series(np.where(v > 0, spent + amount, np.where(v < 0, returned + amount, nothing)),
                     index=values.index, dtype=object)


def every(values: pd.Series) -> pd.Series:
    """'every day', 'every 2.5 days'."""
    v = snapped(values)
    return pd.Series(np.where(number(v) == "1", "every day", ("every " + number(v) + " days").astype(object)),
                     index=values.index, dtype=object)


def generic(name: str, column: pd.Series) -> pd.Series:
    """A value as it is, under the feature's name: account attributes, a labelled table's columns."""
    label = name.replace("_", " ")
    if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(column):
        text = f"{label}: " + column.astype("object").astype(str)
    else:
        text = f"{label}: " + number(column.astype("float64"), 2)
    return pd.Series(np.where(column.isna(), f"{label}: missing", text.astype(object)), index=column.index,
                     dtype=object)


def nouns(info: FeatureInfo, rare: str) -> tuple[str, str]:
    """The noun counting a feature's events and what follows it: 'event', 'login event', 'rare event' with
    ``rare`` (the rare types in a parenthesis)."""
    if info.event_type is None:
        return "event", ""
    if info.event_type == "other":
        return "rare event", rare
    return info.event_type.replace("_", " ") + " event", ""


class Phrases:
    """One feature's values and the phrases its sentences are built from (what ``FeatureInfo.words`` gets).

    ``w`` is the feature's window; ``noun`` counts its events ('login event', 'rare event') and ``detail``
    follows it (the rare types, for ``other``); ``nouns`` is the plural with the detail; ``kind`` the event
    type as a subject ('purchase', 'rare event (refund)'); ``subject`` the events of a trend ('Activity',
    'Login events'). Every method returns a Series aligned with the values.
    """

    def __init__(self, info: FeatureInfo, values: pd.Series, *, rare: str = "") -> None:
        self.info = info
        self.values = values
        self.v = values.astype("float64") if info.unit != "category" else values
        self.w = info.window_days
        self.noun, self.detail = nouns(info, rare)
        self.nouns = plural(self.noun) + self.detail
        self.kind = self.noun + self.detail if info.event_type == "other" else self.noun.removesuffix(" event")
        self.subject = "Activity" if info.event_type is None else f"{plural(self.noun).capitalize()}{self.detail}"

    # the value in words
    def number(self, decimals: int = 1) -> pd.Series:
        return number(self.v, decimals)

    def counted(self, noun: str | None = None, *, rounded: int | None = None) -> pd.Series:
        """The value as a count of the feature's own noun, or of ``noun`` ('day', 'kind'), rounded first."""
        values = self.v if rounded is None else self.v.round(rounded)
        return plurals(values, self.noun, self.detail) if noun is None else plurals(values, noun)

    def days(self) -> pd.Series:
        return days(self.v)

    def ago(self) -> pd.Series:
        return ago(self.v)

    def percent(self) -> pd.Series:
        return percent(self.v)

    def changes(self) -> pd.Series:
        return changes(self.v)

    def every(self) -> pd.Series:
        return every(self.v)

    def money(self, spent: str, nothing: str, returned: str) -> pd.Series:
        return money(self.v, spent, nothing, returned)

    def text(self) -> pd.Series:
        """A category's value as text."""
        return self.values.astype("object").astype(str)

    # choosing between words by the value
    def rounds_to(self, value: float) -> np.ndarray:
        return (snapped(self.v).round() == value).to_numpy()

    def is_(self, value: float) -> np.ndarray:
        return (snapped(self.v) == value).to_numpy()

    def either(self, mask: Any, yes: Any, no: Any) -> pd.Series:
        """``yes`` where ``mask`` holds, else ``no`` (each a string or a Series of the values)."""
        return pd.Series(np.where(mask, _array(yes), _array(no)), index=self.values.index, dtype=object)

    def unless_zero(self, text: pd.Series, suffix: str) -> pd.Series:
        """``text`` followed by ``suffix`` except where the value is zero (its words say it all)."""
        return text.where(snapped(self.v) == 0, text + suffix)

    def reference(self) -> pd.Series:
        """The value as its unit reads, for a feature without ``retained`` words."""
        unit = self.info.unit
        if unit == "fraction":
            return self.percent()
        if unit == "days":
            return self.days()
        if unit == "events":
            return self.counted()
        return self.number(2 if unit == "value" else 1)


def _array(value: Any) -> Any:
    return value.astype(object).to_numpy() if isinstance(value, pd.Series) else value


def describe(info: FeatureInfo, column: pd.Series, *, rare: str = "") -> pd.Series:
    """One feature's sentence for each value, from its ``words``; missing values get their own wording.

    ``rare`` names the types of the ``other`` event type (too rare to keep at fit), e.g. " (payment failure)".
    A feature without words (an account attribute, a labelled table's column) states its value as it is.
    """
    if info.words is None:
        return generic(info.name, column)
    text, absent = info.words(Phrases(info, column, rare=rare))
    return pd.Series(np.where(column.isna().to_numpy(), absent, _array(text)), index=column.index, dtype=object)


def format_reference(info: FeatureInfo | None, reference: Any, *, rare: str = "") -> str:
    """The retained accounts' median in the feature's own words (its ``retained``, else its unit)."""
    if isinstance(reference, str):
        return reference
    value = pd.Series([float(reference)])
    if info is None:
        return number(value, 2)[0]
    phrases = Phrases(info, value, rare=rare)
    return str((phrases.reference() if info.retained is None else info.retained(phrases))[0])
