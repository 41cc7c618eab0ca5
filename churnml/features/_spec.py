"""Recency, frequency and friends, as of observation dates, without looking ahead.

:class:`FeatureBuilder` follows the scikit-learn contract: ``fit`` fixes the
event types (rare ones grouped as ``other``), the windows and the categories of
account attributes into a :class:`FeatureSpec`; ``transform`` computes the
features as of given dates with an engine (DuckDB here; the spec is plain data,
so other engines compile the same spec).

The point-in-time rule: a feature at ``t`` uses only events with
``timestamp < t``. Appending any event at or after ``t`` leaves every feature at
``t`` unchanged (tested property).

Feature families and names (``<w>`` a window in days, ``<type>`` an event type):

============  ================================================================
recency       ``days_since_last_event``, ``days_since_last_<type>``
frequency     ``count_events_<w>d``, ``count_<type>_<w>d``, ``active_days_<w>d``
monetary      ``value_sum_<w>d``, ``value_mean_<w>d`` (when events carry a value)
tenure        ``tenure_days`` (since signup, else since the first event)
whole history ``lifetime_events``, ``lifetime_<type>_events``, ``lifetime_active_days``,
              ``lifetime_value_sum``, ``lifetime_value_mean``, ``activity_rate`` (active days per
              day since the first one), ``active_span_days`` (first to last active day),
              ``first_repeat_days`` (first to second active day)
buy-till-you-die ``p_alive`` and ``expected_active_days_<h>d``: a BG/NBD model (daily grain)
              fitted at each date on every user's history before it (inactivity churn, ``h``
              its horizon)
trend         ``trend_count_<w>d``, ``trend_count_<type>_<w>d``: relative change of
              the last ``w`` days against the ``w`` before (-0.8 = fell 80%)
rhythm        ``mean_gap_days`` between active days in the lookback,
              ``overdue_ratio`` = days since last event / mean gap
breadth       ``distinct_types_<w>d``
activation    ``activated``, ``days_to_activation`` (an activation event within N
              days of signup, and before ``t``)
subscription  ``plan``, ``mrr``, ``subscription_tenure_days``, ``mrr_change_<L>d``,
              ``downgrades_<L>d`` (``L`` the lookback)
attributes    account columns as given (text as categories fixed at fit)
============  ================================================================

Each feature also names the fact about the customer it states, its *reason family*
(:data:`REASON_FAMILIES`): features of one family say the same thing in other forms
(``activated`` and ``days_to_activation``; the days since the last event and since
the last purchase; active days in all and a first repeat that never came), so an
account's reasons take at most one of them (:mod:`churnml.explain`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from churnml.contract import ChurnDefinition, InactivityChurn, parse_dates
from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from churnml.contract import UsageData

__all__ = ["FeatureBuilder", "FeatureSpec", "FeatureInfo", "REASON_FAMILIES", "UnseenEventTypeWarning"]

#: The facts an account's reasons can state, each with what it covers. Every feature of a spec belongs
#: to one (``FeatureInfo.reason_family``); the report maps them to suggested actions.
REASON_FAMILIES: dict[str, str] = {
    "inactivity": "gone quiet: days since the last activity (any type, or one engagement type), and the "
                  "BG/NBD chance of still being a customer",
    "engagement": "uses the product less lately: counts, active days, breadth and trends in the windows, and "
                  "the BG/NBD expected active days",
    "rhythm": "comes back rarely: the usual gap between active days and how overdue against it, repeat visits, "
              "and activity over the whole history",
    "value": "spends or pays less: money in the windows and in all, MRR and its changes, downgrades, the plan",
    "tenure": "a new customer: days since signup (or the first event), days subscribed",
    "activation": "did not activate: the activation event within the days allowed after signup",
    "payment_failure": "payment failures: how recent, how many, their trend",
    "friction": "trouble: support tickets, complaints, errors, refunds, cancellations",
    "account": "who the account is: account attributes as given",
}

# Event types whose events signal trouble rather than engagement, and the family they belong to.
_TROUBLE_TYPES = {"payment_failure": "payment_failure", "support_ticket": "friction", "complaint": "friction",
                  "error": "friction", "refund": "friction", "cancellation": "friction"}


class UnseenEventTypeWarning(UserWarning):
    """Event types not seen at fit time are counted as ``other``."""


@dataclass(frozen=True)
class FeatureInfo:
    """What a feature means, how it is computed and how it reads: a unit, a direction, its SQL, its words.

    ``family`` is how the feature is computed (recency, frequency, ...);
    ``reason_family`` the fact about the customer it states (a key of
    :data:`REASON_FAMILIES`; None: a fact of its own, under its name).
    ``direction`` is +1 when a higher value usually means more churn risk, -1 when
    it means less, 0 when it depends; ``missing_direction`` the same for a missing
    value (+1: missing is the risky state, e.g. no repeat visit yet; -1: the safe
    one, e.g. never a payment failure).
    """

    name: str
    family: str
    description: str
    unit: str
    direction: int
    event_type: str | None = None
    window_days: int | None = None
    reason_family: str | None = None
    missing_direction: int = 0
    # The feature's SQL over an engine's aggregates, from a churnml.engines.FeatureSQL: the one definition
    # both engines compute it by.
    sql: Callable[[Any], str] | None = dataclasses.field(default=None, compare=False, repr=False)
    # How its values read, from a churnml.features._wording.Phrases over them: (the sentence of each value, the
    # sentence of a missing one); and, optionally, how the retained accounts' median reads (else by its
    # unit). None: the value is stated as it is, under the feature's name.
    words: Callable[[Any], tuple[Any, str]] | None = dataclasses.field(default=None, compare=False, repr=False)
    retained: Callable[[Any], Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # The SQL and the words are code (closures over the spec), not data: a pickle or copy keeps what the
        # feature means and leaves them out. Engines and the explainer never read them from a copy: they take
        # FeatureSpec.features() afresh.
        return {k: v for k, v in self.__dict__.items() if k not in _CODE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in _CODE:
            object.__setattr__(self, key, None)
        for key, value in state.items():
            object.__setattr__(self, key, value)


_CODE = ("sql", "words", "retained")


_GROWS_WITH_AGE = re.compile(r"(tenure_days|subscription_tenure_days|lifetime_(\w+_)?events|lifetime_active_days|"
                             r"lifetime_value_sum|active_span_days)")


def grows_with_age(name: str) -> bool:
    """Whether a feature grows as accounts age, by construction (tenure, whole-history counts and sums).

    Its distribution shifts between training and any later scoring date even when nothing
    changed, so drift warnings leave it out (the drift table still reports it).

    >>> grows_with_age("tenure_days"), grows_with_age("lifetime_purchase_events"), grows_with_age("activity_rate")
    (True, True, False)
    """
    return _GROWS_WITH_AGE.fullmatch(name) is not None


@dataclass(frozen=True)
class FeatureSpec:
    """Everything ``transform`` needs, fixed at fit time; plain data, JSON round-trips.

    ``event_types`` maps each kept source event type to its name in features;
    every other non-null type (rare at fit, or unseen) is counted as ``other``.
    """

    windows: tuple[int, ...]
    trend_windows: tuple[int, ...]
    event_types: dict[str, str]
    known_types: tuple[str, ...]  # every type seen at fit, kept or grouped
    has_value: bool
    activation_events: tuple[str, ...]
    activation_days: int
    has_signup: bool
    has_subscriptions: bool
    plan_levels: list[str] | None  # None: no plan column
    attributes: dict[str, list[str] | None]  # None: numeric; list: category levels
    lookback_days: int
    # Fields added after the first model files: defaults keep older specs loadable as they were.
    lifetime: bool = False
    bgnbd_horizon_days: int | None = None  # None: no BG/NBD features

    @property
    def type_names(self) -> list[str]:
        """Per-type feature names; ``other`` takes rare and unseen types. Empty without event types."""
        return list(self.event_types.values()) + ["other"] if self.known_types else []

    def attribute_names(self) -> dict[str, str]:
        """Account column -> feature name; ``account_<column>`` where a column's own name is taken."""
        taken = {f.name for f in self._event_features()}
        return {column: f"account_{column}" if column in taken else column for column in self.attributes}

    def categorical_levels(self) -> dict[str, list[str]]:
        """Levels of each categorical feature; values outside them read as ``other``."""
        names = self.attribute_names()
        levels = {names[column]: lv for column, lv in self.attributes.items() if lv is not None}
        if self.plan_levels is not None:
            levels["plan"] = self.plan_levels
        return levels

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        raw = json.loads(text)
        for key in ("windows", "trend_windows", "activation_events", "known_types"):
            raw[key] = tuple(raw[key])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"The feature spec has fields this version does not know: {unknown!r}. "
                              "Fix: upgrade churnml to the version that wrote the model.")
        return cls(**raw)

    def features(self) -> list[FeatureInfo]:
        """The features this spec computes, in output order, with their metadata."""
        names = self.attribute_names()
        return self._event_features() + [
            FeatureInfo(names[column], "attribute", f"{column}: {{value}}",
                        "category" if levels is not None else "value", 0, reason_family="account",
                        sql=lambda x, column=column, levels=levels: x.attribute(column, levels))
            for column, levels in self.attributes.items()]

    def type_role(self, name: str) -> tuple[str | None, int]:
        """The trouble family of a per-type feature name (None for an engagement type), and its sign: +1 when
        more of its events means more risk (trouble), -1 when less (engagement), 0 when it depends (``other``
        grouping rare trouble and rare engagement types together)."""
        if name != "other":
            family = _TROUBLE_TYPES.get(name)
            return family, +1 if family else -1
        rare = {_TROUBLE_TYPES.get(slug(t)) for t in self.known_types if t not in self.event_types}
        if None in rare or not rare:
            return None, 0 if len(rare) > 1 else -1
        return (rare.pop() if len(rare) == 1 else "friction"), +1

    def _event_features(self) -> list[FeatureInfo]:
        # Each feature once: its name, what it means, and its SQL over an engine's aggregates
        # (``x``: a :class:`churnml.engines.FeatureSQL`; both engines run the same expression).
        roles = {name: self.type_role(name) for name in self.type_names}
        L = self.lookback_days
        out = [FeatureInfo("days_since_last_event", "recency", "No activity for {value} days",
                           "days", +1, reason_family="inactivity", missing_direction=+1,
                           sql=lambda x: x.since(x.a.last(None)),
                           words=lambda s: (s.either(s.rounds_to(0), "Last active less than a day ago",
                                                     "No activity for " + s.days()), "No activity before this date"))]
        for name in self.type_names:
            trouble, sign = roles[name]
            out.append(FeatureInfo(f"days_since_last_{name}", "recency",
                                   f"Last {_words(name)} {{value}} days ago", "days", -sign, event_type=name,
                                   reason_family=trouble or "inactivity", missing_direction=-sign,
                                   sql=lambda x, n=name: x.since(x.a.last(n)),
                                   words=lambda s: (f"Last {s.kind} " + s.ago(), f"No {s.nouns} so far"),
                                   retained=lambda s: s.ago()))
        for w in self.windows:
            out.append(FeatureInfo(f"count_events_{w}d", "frequency",
                                   f"{{value}} events in the last {w} days", "events", -1, window_days=w,
                                   reason_family="engagement", sql=lambda x, w=w: x.number(x.zero(x.a.count(None, w))),
                                   words=_counted_in_window))
            for name in self.type_names:
                trouble, sign = roles[name]
                out.append(FeatureInfo(f"count_{name}_{w}d", "frequency",
                                       f"{{value}} {_words(name)} events in the last {w} days", "events",
                                       sign, event_type=name, window_days=w, reason_family=trouble or "engagement",
                                       sql=lambda x, n=name, w=w: x.number(x.zero(x.a.count(n, w))),
                                       words=_counted_in_window))
            out.append(FeatureInfo(f"active_days_{w}d", "frequency",
                                   f"Active on {{value}} of the last {w} days", "days", -1, window_days=w,
                                   reason_family="engagement", sql=lambda x, w=w: x.number(x.zero(x.a.active(w))),
                                   words=lambda s: ("Active on " + s.counted("day") + f" of the last {s.w}",
                                                    f"No activity in the last {s.w} days")))
            if self.has_value:
                out.append(FeatureInfo(f"value_sum_{w}d", "monetary",
                                       f"Spent {{value}} in the last {w} days", "value", -1, window_days=w,
                                       reason_family="value", sql=lambda x, w=w: x.number(x.zero(x.a.value_sum(w))),
                                       words=lambda s: (s.unless_zero(s.money(
                                           "Spent ", f"Nothing spent in the last {s.w} days",
                                           "Returns exceeded purchases by "), f" in the last {s.w} days"),
                                           f"Nothing spent in the last {s.w} days"),
                                       retained=_spent))
                out.append(FeatureInfo(f"value_mean_{w}d", "monetary",
                                       f"Average value {{value}} per event in the last {w} days", "value", -1,
                                       window_days=w, reason_family="value", missing_direction=+1,
                                       sql=lambda x, w=w: x.ratio(x.a.value_sum(w), x.a.value_n(w)),
                                       words=lambda s: (s.unless_zero(s.money(
                                           "Average value ", f"Average value 0 per event in the last {s.w} days",
                                           "Returns exceeded purchases by "), f" per event in the last {s.w} days"),
                                           f"No valued events in the last {s.w} days"),
                                       retained=_average))
            if self.type_names:
                types = self.type_names
                out.append(FeatureInfo(f"distinct_types_{w}d", "breadth",
                                       f"Used {{value}} kinds of events in the last {w} days", "types", -1,
                                       window_days=w, reason_family="engagement",
                                       sql=lambda x, w=w: x.number(" + ".join(
                                           f"CAST({x.zero(x.a.count(n, w))} > 0 AS INT)" for n in types)),
                                       words=lambda s: ("Used " + s.counted("kind") + f" of event in the last {s.w} days",
                                                        f"No events in the last {s.w} days")))
        for w in self.trend_windows:
            out.append(FeatureInfo(f"trend_count_{w}d", "trend",
                                   f"Activity changed {{value}} vs the previous {w} days", "fraction", -1,
                                   window_days=w, reason_family="engagement", sql=lambda x, w=w: x.trend(None, w),
                                   words=_trend, retained=lambda s: s.changes()))
            for name in self.type_names:
                trouble, sign = roles[name]
                out.append(FeatureInfo(f"trend_count_{name}_{w}d", "trend",
                                       f"{_words(name).capitalize()} changed {{value}} vs the previous {w} days",
                                       "fraction", sign, event_type=name, window_days=w,
                                       reason_family=trouble or "engagement", sql=lambda x, n=name, w=w: x.trend(n, w),
                                       words=_trend, retained=lambda s: s.changes()))
        out.append(FeatureInfo("tenure_days", "tenure", "Customer for {value} days", "days", -1,
                               reason_family="tenure", sql=lambda x: x.number(x.days(x.signup, "k.observation_date")),
                               words=lambda s: (s.either(s.rounds_to(0), "Customer for less than a day",
                                                         "Customer for " + s.days()), "Tenure unknown")))
        if self.lifetime:
            out.append(FeatureInfo("lifetime_events", "lifetime", "{value} events in all", "events", -1,
                                   reason_family="rhythm", sql=lambda x: x.number(x.zero(x.a.life_events(None))),
                                   words=_counted_in_all))
            for name in self.type_names:
                trouble, sign = roles[name]
                out.append(FeatureInfo(f"lifetime_{name}_events", "lifetime",
                                       f"{{value}} {_words(name)} events in all", "events", sign, event_type=name,
                                       reason_family=trouble or "rhythm",
                                       sql=lambda x, n=name: x.number(x.zero(x.a.life_events(n))),
                                       words=_counted_in_all))
            out.append(FeatureInfo("lifetime_active_days", "lifetime", "Active on {value} days in all", "days", -1,
                                   reason_family="rhythm", sql=lambda x: x.number(x.zero(x.a.life("active"))),
                                   words=lambda s: (s.either(s.is_(1), "Active on only 1 day so far",
                                                             "Active on " + s.counted("day") + " in all"),
                                                    "No activity before this date")))
            if self.has_value:
                out.append(FeatureInfo("lifetime_value_sum", "lifetime", "Spent {value} in all", "value", -1,
                                       reason_family="value", sql=lambda x: x.number(x.zero(x.a.life("value_sum"))),
                                       words=lambda s: (s.unless_zero(s.money(
                                           "Spent ", "Nothing spent so far", "Returns exceeded purchases by "),
                                           " in all"), "Nothing spent before this date"),
                                       retained=_spent))
                out.append(FeatureInfo("lifetime_value_mean", "lifetime", "Average value {value} per event in all",
                                       "value", -1, reason_family="value", missing_direction=+1,
                                       sql=lambda x: x.ratio(x.a.life("value_sum"), x.a.life("value_n")),
                                       words=lambda s: (s.unless_zero(s.money(
                                           "Average value ", "Average value 0 per event in all",
                                           "Returns exceeded purchases by "), " per event in all"),
                                           "No valued events before this date"),
                                       retained=_average))
            out.append(FeatureInfo("activity_rate", "lifetime", "Active on {value} of the days since the first",
                                   "fraction", -1, reason_family="rhythm",
                                   sql=lambda x: x.ratio(x.a.life("active"), x.a.life("age_days")),
                                   words=lambda s: ("Active on " + s.percent() + " of the days since the first",
                                                    "No history before this date")))
            out.append(FeatureInfo("active_span_days", "lifetime", "Active over {value} days, first to last",
                                   "days", -1, reason_family="rhythm", sql=lambda x: x.number(x.a.life("span_days")),
                                   words=lambda s: (s.either(s.rounds_to(0), "Active on a single day so far",
                                                             "Active over " + s.days()
                                                             + " from the first to the last active day"),
                                                    "No activity before this date")))
            # Missing until the second active day, which must be before the date.
            out.append(FeatureInfo("first_repeat_days", "lifetime", "Came back {value} days after the first day",
                                   "days", +1, reason_family="rhythm", missing_direction=+1,
                                   sql=lambda x: f"CASE WHEN {x.a.life('second_day')} < k.observation_date THEN "
                                                 f"{x.number(x.days(x.a.life('first_day'), x.a.life('second_day')))} "
                                                 "END",
                                   words=lambda s: ("Came back " + s.days() + " after the first active day",
                                                    "Never came back after the first active day")))
        if self.bgnbd_horizon_days is not None:
            h = self.bgnbd_horizon_days
            # Placeholders in SQL: each engine fills them from the BG/NBD helper columns (churnml.engines._lifetime).
            out.append(FeatureInfo("p_alive", "bgnbd", "{value} likely still a customer (BG/NBD)", "fraction", -1,
                                   reason_family="inactivity", sql=lambda x: "CAST(NULL AS DOUBLE)",
                                   words=lambda s: (s.percent() + " likely to still be a customer (BG/NBD)",
                                                    "Too little history to estimate (BG/NBD)")))
            out.append(FeatureInfo(f"expected_active_days_{h}d", "bgnbd",
                                   f"Expected active on {{value}} days of the next {h} (BG/NBD)", "days", -1,
                                   window_days=h, reason_family="engagement", sql=lambda x: "CAST(NULL AS DOUBLE)",
                                   words=lambda s: ("Expected active on " + s.counted("day", rounded=1)
                                                    + f" of the next {s.w} (BG/NBD)",
                                                    "Too little history to estimate (BG/NBD)"),
                                   retained=lambda s: s.counted("day", rounded=1)))
        # both read the lookback; missing where it holds a single active day (no gap to measure)
        out.append(FeatureInfo("mean_gap_days", "rhythm", "Usually active every {value} days", "days", +1,
                               window_days=L, reason_family="rhythm", missing_direction=+1,
                               sql=lambda x: x.mean_gap(L),
                               words=lambda s: ("Usually active " + s.every(), _single_day(s)),
                               retained=lambda s: s.every()))
        out.append(FeatureInfo("overdue_ratio", "rhythm", "{value} times the usual gap since the last event",
                               "ratio", +1, window_days=L, reason_family="rhythm", missing_direction=+1,
                               sql=lambda x: f"{x.since(x.a.last(None))} / nullif({x.mean_gap(L)}, 0)",
                               words=lambda s: (s.number() + "x the usual gap since the last event", _single_day(s))))
        if self.activation_events:
            days = self.activation_days
            out.append(FeatureInfo("activated", "activation",
                                   f"Activated within {days} days of signup: {{value}}",
                                   "flag", -1, window_days=days, reason_family="activation",
                                   sql=lambda x: f"CASE WHEN {x.activated(days)} THEN CAST(1 AS DOUBLE) "
                                                 "ELSE CAST(0 AS DOUBLE) END",
                                   words=lambda s: (s.either(s.v == 1, f"Activated within {s.w} days of signup",
                                                             _not_activated(s)), "Activation unknown"),
                                   retained=lambda s: s.either(s.v >= 0.5, "activated", "not activated")))
            out.append(FeatureInfo("days_to_activation", "activation", "Activated {value} days after signup",
                                   "days", +1, window_days=days, reason_family="activation",
                                   missing_direction=+1,
                                   sql=lambda x: f"CASE WHEN {x.activated(days)} THEN "
                                                 f"{x.number(x.days(x.signup, x.a.activation_day))} END",
                                   words=lambda s: ("Activated " + s.days() + " after signup", _not_activated(s)),
                                   retained=lambda s: "activated after " + s.days()))
        if self.has_subscriptions:
            # Over the subscription joins (churnml.engines._sql.subscription_joins): the subscription running
            # at the date (cur) and a lookback before it (past), its coverage (cov), the downgrades (dg).
            if self.plan_levels is not None:
                levels = self.plan_levels
                out.append(FeatureInfo("plan", "subscription", "On the {value} plan", "category", 0,
                                       reason_family="value", sql=lambda x: x.levelled("cur.plan", levels),
                                       words=lambda s: ("On the " + s.text() + " plan", "No running subscription")))
            out.append(FeatureInfo("mrr", "subscription", "Pays {value} per month", "value", 0,
                                   reason_family="value", sql=lambda x: x.number("cur.mrr"),
                                   words=lambda s: ("Pays " + s.number(2) + " per month", "No running subscription")))
            out.append(FeatureInfo("subscription_tenure_days", "subscription", "Subscribed for {value} days",
                                   "days", -1, reason_family="tenure",
                                   sql=lambda x: x.number(x.days("CAST(cov.cover_start AS DATE)",
                                                                 "k.observation_date")),
                                   words=lambda s: ("Subscribed for " + s.days(), "No running subscription")))
            out.append(FeatureInfo(f"mrr_change_{L}d", "subscription",
                                   f"Monthly revenue changed by {{value}} in the last {L} days", "value", -1,
                                   window_days=L, reason_family="value", sql=lambda x: x.number("cur.mrr - past.mrr"),
                                   words=lambda s: (s.money("Monthly revenue rose by ", "Monthly revenue did not change",
                                                            "Monthly revenue fell by ") + f" in the last {s.w} days",
                                                    f"No subscription {s.w} days ago to compare with"),
                                   retained=lambda s: s.money("rose by ", "no change", "fell by ")))
            out.append(FeatureInfo(f"downgrades_{L}d", "subscription", f"{{value}} downgrades in the last {L} days",
                                   "events", +1, window_days=L, reason_family="value",
                                   sql=lambda x: x.number(x.zero("dg.downgrades")),
                                   words=lambda s: (s.counted("downgrade") + f" in the last {s.w} days",
                                                    f"No downgrades in the last {s.w} days"),
                                   retained=lambda s: s.counted("downgrade")))
        return out


def _words(name: str) -> str:
    return name.replace("_", " ")


# Words several features share (``s``: a churnml.features._wording.Phrases over their values).
def _counted_in_window(s: Any) -> tuple[Any, str]:
    return s.counted() + f" in the last {s.w} days", f"No {s.nouns} in the last {s.w} days"


def _counted_in_all(s: Any) -> tuple[Any, str]:
    return s.counted() + " in all", "No events before this date"


def _trend(s: Any) -> tuple[Any, str]:
    return (f"{s.subject} " + s.changes() + f" vs the previous {s.w} days",
            f"{s.subject}: none in the previous {s.w} days to compare with")


def _spent(s: Any) -> Any:
    return s.money("spent ", "nothing spent", "returns exceeded purchases by ")  # words: a return is not misread


def _average(s: Any) -> Any:
    return s.money("average ", "average 0", "average returns of ")


def _single_day(s: Any) -> str:
    # Rhythm is missing with at most one active day in its lookback; the explainer words it from the row's
    # other features where the model has them ("Active on only 1 day so far").
    return f"Active on only 1 day of the last {s.w}"


def _not_activated(s: Any) -> str:
    return f"Not activated within {s.w} days of signup"


def reason_family_of(feature: str, sentence: str | None = None) -> str | None:
    """The reason family a spec gives the feature of this name, read back from the name alone; None when no
    spec names a feature so (an account attribute, a column of another tool).

    For a scores file written before ``reason_<i>_family`` was recorded. Each name pattern is that of a
    spec's own feature (a spec with every option on, one placeholder event type), so a feature keeps the
    family its metadata gives it; a per-type feature takes its type's trouble family (``_TROUBLE_TYPES``),
    and the pooled ``other`` type the trouble family its sentence names.

    >>> reason_family_of("count_payment_failure_30d"), reason_family_of("trend_count_login_7d")
    ('payment_failure', 'engagement')
    >>> reason_family_of("count_other_30d", "1 rare event (support ticket) in the last 30 days")
    'friction'
    >>> reason_family_of("country") is None
    True
    """
    name = str(feature)
    for pattern, family in _name_patterns():
        match = pattern.fullmatch(name)
        if match is None:
            continue
        kind = match.groupdict().get("type")
        if kind is None:
            return family
        if kind != "other":
            return _TROUBLE_TYPES.get(kind, family)
        text = (sentence or "").lower()
        named = {_TROUBLE_TYPES[t] for t in _TROUBLE_TYPES if _words(t) in text}
        return named.pop() if len(named) == 1 else ("friction" if named else family)
    return None


_PROBE_TYPE = "zzprobe"


@functools.cache
def _name_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    # The spec's features with every option on and one placeholder type, as name patterns: windows of any
    # length, the placeholder any type. Names without a type come first: ``count_events_30d`` is not the
    # type ``events``.
    probe = FeatureSpec(windows=(11,), trend_windows=(11,), event_types={_PROBE_TYPE: _PROBE_TYPE},
                        known_types=(_PROBE_TYPE,), has_value=True, activation_events=(_PROBE_TYPE,),
                        activation_days=11, has_signup=True, has_subscriptions=True, plan_levels=["a"],
                        attributes={}, lookback_days=11, lifetime=True, bgnbd_horizon_days=11)
    plain, typed = [], []
    for info in probe.features():
        if info.reason_family is None:
            continue
        pattern = re.escape(info.name).replace("11", r"\d+")
        if info.event_type is None:
            plain.append((re.compile(pattern), info.reason_family))
        else:
            pattern = pattern.replace(_PROBE_TYPE, r"(?P<type>[0-9a-z_]+?)")
            typed.append((re.compile(pattern), info.reason_family))
    return tuple(plain + typed)


def slug(text: str) -> str:
    """A feature-name-safe form of an event type.

    >>> slug("Feature Run Clicked"), slug("3D view"), slug("!!")
    ('feature_run_clicked', 't_3d_view', 'type')
    """
    out = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "type"
    return f"t_{out}" if out[0].isdigit() else out


class FeatureBuilder(BaseEstimator):
    """Point-in-time features from usage histories.

    Parameters
    ----------
    windows : tuple of int, default (7, 30, 90)
        Windows in days for counts, active days, values and breadth.
    trend_windows : tuple of int, default (7, 30)
        Windows whose last ``w`` days are compared with the ``w`` before.
    min_type_share : float, default 0.005
        Event types with a smaller share of events at fit time are grouped as ``other``.
    max_types : int, default 20
        At most this many types keep their own features (the most frequent).
    activation_events : tuple of str, optional
        Event types that mark activation; none disables the activation features.
    activation_days : int, default 14
        Activation counts only within this many days of signup.
    max_levels : int, default 30
        Text attributes keep at most this many levels (the most frequent); the
        rest, and levels unseen at fit, become ``other``.
    lifetime : bool, default True
        Whole-history features (lifetime counts, value, activity rate, span, first repeat).
    bgnbd : {'auto', True, False}, default 'auto'
        BG/NBD features (``p_alive``, ``expected_active_days_<h>d``), fitted at each date on the
        history before it; 'auto' adds them for inactivity churn (the definition given to
        ``fit``, else ``InactivityChurn()``), whose horizon ``h`` they predict.
    engine : {'auto', 'duckdb', 'spark'}, default 'auto'
        Where the features are computed: 'auto' follows the data (:func:`churnml.load`
        gives DuckDB, :func:`churnml.spark.load` gives Spark); naming one refuses the other.

    Attributes
    ----------
    spec_ : FeatureSpec
    feature_names_out_ : ndarray of str
    feature_info_ : dict of str to FeatureInfo
    """

    def __init__(self, *, windows: Sequence[int] = (7, 30, 90), trend_windows: Sequence[int] = (7, 30),
                 min_type_share: float = 0.005, max_types: int = 20,
                 activation_events: Sequence[str] | None = None, activation_days: int = 14,
                 max_levels: int = 30, lifetime: bool = True, bgnbd: bool | str = "auto",
                 engine: str = "auto") -> None:
        self.windows = windows
        self.trend_windows = trend_windows
        self.min_type_share = min_type_share
        self.max_types = max_types
        self.activation_events = activation_events
        self.activation_days = activation_days
        self.max_levels = max_levels
        self.lifetime = lifetime
        self.bgnbd = bgnbd
        self.engine = engine

    def _validate_params(self) -> None:
        def positive_ints(name: str, value: Any) -> tuple[int, ...]:
            try:
                values = tuple(value)
            except TypeError:
                values = ()
            if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
                raise ConfigError(f"The {name!r} parameter of FeatureBuilder must be a tuple of positive ints. "
                                  f"Got {value!r} instead.")
            return tuple(sorted(set(values)))

        positive_ints("windows", self.windows)
        if tuple(self.trend_windows):
            positive_ints("trend_windows", self.trend_windows)
        if not 0 <= self.min_type_share < 1:
            raise ConfigError("The 'min_type_share' parameter of FeatureBuilder must be in [0, 1). "
                              f"Got {self.min_type_share!r} instead.")
        for name in ("max_types", "activation_days", "max_levels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"The {name!r} parameter of FeatureBuilder must be a positive int. "
                                  f"Got {value!r} instead.")
        if not isinstance(self.lifetime, bool):
            raise ConfigError(f"The 'lifetime' parameter of FeatureBuilder must be a bool. Got {self.lifetime!r} instead.")
        if self.bgnbd not in ("auto", True, False):
            raise ConfigError(f"The 'bgnbd' parameter of FeatureBuilder must be 'auto', True or False. "
                              f"Got {self.bgnbd!r} instead.")
        from churnml.engines import engine_names

        if self.engine not in ("auto", *engine_names()):
            *names, last = [repr(n) for n in ("auto", *engine_names())]
            raise ConfigError(f"The 'engine' parameter of FeatureBuilder must be {', '.join(names)} or {last}. "
                              f"Got {self.engine!r} instead.")

    def _engine(self, data: Any) -> Any:
        """The engine that computes features of ``data`` (the one named, if one is)."""
        from churnml.engines import engine_for, engine_named

        engine = engine_for(data)
        if self.engine not in ("auto", engine.name):
            raise ConfigError(f"FeatureBuilder(engine={self.engine!r}) got data loaded for {engine.name}. Fix: load "
                              f"it with {engine_named(self.engine).loader}, or pass engine={engine.name!r}.")
        return engine

    def _lookback_days(self) -> int:
        """Days of history before a date that the windows and trends read."""
        return max(max(self.windows), 2 * max(self.trend_windows, default=0))

    def fit(self, data: UsageData, y: None = None, *,
            observation_dates: Iterable[str | dt.date] | None = None,
            definition: ChurnDefinition | None = None) -> FeatureBuilder:
        """Fix event types, windows and attribute categories from ``data``.

        Only events before the last observation date (when given) are looked at,
        so even the choice of types does not peek past the training period.
        ``definition`` (default ``InactivityChurn()``) decides the BG/NBD features' horizon.
        """
        self._validate_params()
        fit_statistics = self._engine(data).fit_statistics
        windows = tuple(sorted(set(self.windows)))
        trend_windows = tuple(sorted(set(self.trend_windows)))
        until = max(parse_dates(observation_dates)) if observation_dates is not None else None
        stats = fit_statistics(data, until=until, max_levels=self.max_levels)

        total = sum(stats.type_counts.values())
        ranked = sorted(stats.type_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [t for t, n in ranked if total and n / total >= self.min_type_share][: self.max_types]
        names: dict[str, str] = {}
        used: set[str] = {"other", "event", "events"}
        for source_type in kept:
            base = name = slug(source_type)
            k = 2
            while name in used:
                name, k = f"{base}_{k}", k + 1
            used.add(name)
            names[source_type] = name

        activation = tuple(self.activation_events or ())
        unknown = [a for a in activation if a not in stats.type_counts]
        if unknown:
            raise ConfigError(f"activation_events {unknown!r} never occur in the events; known types: "
                              f"{sorted(stats.type_counts)[:20]!r}.")
        self.spec_ = FeatureSpec(
            windows=windows, trend_windows=trend_windows, event_types=names,
            known_types=tuple(sorted(stats.type_counts)), has_value=stats.has_value,
            activation_events=activation, activation_days=self.activation_days,
            has_signup=stats.has_signup, has_subscriptions=stats.has_subscriptions,
            plan_levels=stats.plan_levels, attributes=stats.attributes, lookback_days=self._lookback_days(),
            lifetime=self.lifetime, bgnbd_horizon_days=self._bgnbd_horizon(definition or InactivityChurn()))
        self.feature_info_ = {f.name: f for f in self.spec_.features()}
        import numpy as np

        self.feature_names_out_ = np.array(list(self.feature_info_), dtype=object)
        return self

    def _bgnbd_horizon(self, definition: ChurnDefinition) -> int | None:
        if self.bgnbd is False or (self.bgnbd == "auto" and not isinstance(definition, InactivityChurn)):
            return None
        return definition.horizon_days

    def get_feature_names_out(self, input_features: None = None) -> Any:
        check_is_fitted(self, "spec_")
        return self.feature_names_out_

    def transform(self, data: UsageData, observation_dates: Iterable[str | dt.date], *,
                  definition: ChurnDefinition | None = None) -> pd.DataFrame:
        """Features of every user eligible at each date: ``user_id``, ``observation_date``, features.

        A pandas DataFrame for DuckDB data; a Spark DataFrame (same columns) for Spark data.

        Parameters
        ----------
        data : UsageData
        observation_dates : dates
        definition : InactivityChurn or SubscriptionChurn, optional
            Decides who is eligible; default ``InactivityChurn()`` (active in the
            last 90 days).
        """
        check_is_fitted(self, "spec_")
        self._validate_params()
        engine = self._engine(data)
        dates = parse_dates(observation_dates)
        warn_unseen_types(self.spec_, data)
        return engine.compute(data, self.spec_, definition or InactivityChurn(), dates, labels=False)



def warn_unseen_types(spec: FeatureSpec, data: UsageData) -> None:
    """Warn when ``data`` has event types the spec was not fitted on (they are counted as 'other')."""
    from churnml.engines import engine_for

    unseen = sorted(set(engine_for(data).event_types(data)) - set(spec.known_types))
    if unseen:
        warnings.warn(f"{len(unseen)} event type(s) not seen at fit time, e.g. {unseen[0]!r}, are "
                      "counted as 'other'.", UnseenEventTypeWarning, stacklevel=3)
