"""What churn means, who can churn at a date, and which dates can be labelled.

Observation dates are midnights. At an observation date ``t``:

- features use only events with ``timestamp < t``;
- the label window is ``[t + lead_time, t + lead_time + horizon)``;
- a date is labelled only if its label window (plus the gap tolerance, for
  subscriptions) ends on or before the last fully observed day, so right-censored
  dates never get a label.

Examples
--------
>>> churn = InactivityChurn(horizon_days=30, active_window_days=30)
>>> grid = observation_grid(first_event=dt.datetime(2024, 1, 1, 9), last_event=dt.datetime(2024, 12, 31, 17),
...                         lookback_days=90, definition=churn, step_days=30)
>>> grid[0], grid[-1], len(grid)
(datetime.date(2024, 4, 5), datetime.date(2024, 12, 1), 9)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from churnml.errors import ConfigError, NoEligibleUsersError

__all__ = ["InactivityChurn", "SubscriptionChurn", "ChurnDefinition", "definition_from_dict", "describe_probability", "observation_grid",
           "parse_dates", "INVOLUNTARY_REASONS"]

INVOLUNTARY_REASONS = ("payment_failed", "payment_failure", "failed_payment", "dunning", "involuntary",
                       "card_declined", "chargeback")


def _check_days(owner: str, name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "positive int" if minimum == 1 else "non-negative int"
        raise ConfigError(f"The {name!r} parameter of {owner} must be a {kind}. Got {value!r} instead.")


# One default for every command, the analytics and the report: active = an event in the last 90 days.
DEFAULT_ACTIVE_WINDOW_DAYS = 90


@dataclass(frozen=True)
class InactivityChurn:
    """Non-contractual churn: no event at all in the label window.

    Parameters
    ----------
    horizon_days : int, default 90
        Length of the label window.
    active_window_days : int, default 90
        A user is eligible at ``t`` if they signed up before ``t`` and had an
        event in ``[t - active_window_days, t)``.
    lead_time_days : int, default 0
        Gap between the features' cutoff and the label window.
    """

    horizon_days: int = 90
    active_window_days: int = DEFAULT_ACTIVE_WINDOW_DAYS
    lead_time_days: int = 0

    kind = "inactivity"

    def __post_init__(self) -> None:
        _check_days("InactivityChurn", "horizon_days", self.horizon_days, 1)
        _check_days("InactivityChurn", "active_window_days", self.active_window_days, 1)
        _check_days("InactivityChurn", "lead_time_days", self.lead_time_days, 0)

    @property
    def label_span_days(self) -> int:
        """Days after ``t`` that must be observed for a label."""
        return self.lead_time_days + self.horizon_days


@dataclass(frozen=True)
class SubscriptionChurn:
    """Contractual churn: every subscription has ended by the end of the label window.

    Subscriptions of a user that follow each other within ``gap_tolerance_days``
    count as one continuous coverage. A user is eligible at ``t`` if a coverage
    started before ``t`` and is still running at ``t``; they churn if that
    coverage ends before ``t + lead_time_days + horizon_days``. The churn is
    involuntary when the last subscription's ``end_reason`` is one of
    ``involuntary_reasons`` (case-insensitive), voluntary otherwise.

    Parameters
    ----------
    horizon_days : int, default 30
    gap_tolerance_days : int, default 0
    lead_time_days : int, default 0
    involuntary_reasons : tuple of str
    """

    horizon_days: int = 30
    gap_tolerance_days: int = 0
    lead_time_days: int = 0
    involuntary_reasons: tuple[str, ...] = field(default=INVOLUNTARY_REASONS)

    kind = "subscription"

    def __post_init__(self) -> None:
        _check_days("SubscriptionChurn", "horizon_days", self.horizon_days, 1)
        _check_days("SubscriptionChurn", "gap_tolerance_days", self.gap_tolerance_days, 0)
        _check_days("SubscriptionChurn", "lead_time_days", self.lead_time_days, 0)

    @property
    def active_window_days(self) -> int:
        return 0

    @property
    def label_span_days(self) -> int:
        # A restart within the gap tolerance after the window must be observable too.
        return self.lead_time_days + self.horizon_days + self.gap_tolerance_days


ChurnDefinition = InactivityChurn | SubscriptionChurn


def definition_from_dict(raw: dict[str, object]) -> ChurnDefinition:
    """A definition from its stored form (``{"kind": "inactivity" | "subscription", ...its fields}``), as
    model files and scores files record it.

    >>> definition_from_dict({"kind": "inactivity", "horizon_days": 90, "active_window_days": 90})
    InactivityChurn(horizon_days=90, active_window_days=90, lead_time_days=0)
    """
    fields = dict(raw)
    kind = fields.pop("kind")
    return InactivityChurn(**fields) if kind == "inactivity" else SubscriptionChurn(**fields)  # type: ignore[arg-type]


def observation_grid(*, first_event: dt.datetime, last_event: dt.datetime, lookback_days: int,
                     definition: ChurnDefinition, step_days: int = 30) -> list[dt.date]:
    """Every ``step_days`` from the first date with a full lookback to the last labelled date.

    The first date is the day after the first event's day plus ``lookback_days``;
    the last is the last fully observed midnight (the last event's day) minus the
    definition's label span. The grid is anchored at its last date, so the most
    recent labelled date is always in it.

    Raises
    ------
    churnml.errors.ConfigError
        The history is too short for one labelled date.
    """
    _check_days("observation_grid", "step_days", step_days, 1)
    first = first_event.date() + dt.timedelta(days=1 + lookback_days)
    last = last_event.date() - dt.timedelta(days=definition.label_span_days)
    if first > last:
        span = (last_event.date() - first_event.date()).days
        raise ConfigError(
            f"The history spans {span} days ({first_event.date()} .. {last_event.date()}), too short "
            f"for a {lookback_days}-day lookback plus a {definition.label_span_days}-day label window. "
            "Fix: shorten the windows or the horizon.")
    count = (last - first).days // step_days
    return [last - dt.timedelta(days=step_days * k) for k in range(count, -1, -1)]


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_date(text: str, what: str = "Date") -> dt.date:
    """One date written as YYYY-MM-DD; anything else is refused with the part that is wrong.

    >>> parse_date("2024-12-01")
    datetime.date(2024, 12, 1)
    >>> parse_date("2024-13-01")
    Traceback (most recent call last):
    ...
    churnml.errors.ConfigError: Date '2024-13-01' has month 13; months are 01 to 12. Write dates as YYYY-MM-DD.
    """
    value = str(text).strip()
    match = _ISO_DATE.fullmatch(value)
    if match is None:
        if re.fullmatch(r"\d{8}", value):
            problem = f"has no dashes; write it as {value[:4]}-{value[4:6]}-{value[6:]}"
        elif re.fullmatch(r"\d{4}[/.]\d{1,2}[/.]\d{1,2}", value):
            problem = "separates its parts with '/' or '.'; use '-'"
        elif re.fullmatch(r"\d{4}-\d{1,2}", value):
            problem = "has no day"
        elif re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{4}", value):
            problem = "puts the year last; put it first"
        elif re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value):
            problem = "needs two digits for the month and the day"
        elif re.match(r"\d{4}-\d{2}-\d{2}[T ]", value):
            problem = "has a time; pass the date alone (features use the events before its midnight)"
        else:
            problem = "is not a date"
        raise ConfigError(f"{what} {value!r} {problem}. Write dates as YYYY-MM-DD.")
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        raise ConfigError(f"{what} {value!r} has month {month}; months are 01 to 12. Write dates as YYYY-MM-DD.")
    try:
        return dt.date(year, month, day)
    except ValueError:
        last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
        raise ConfigError(f"{what} {value!r} has day {day}; {dt.date(year, month, 1):%B %Y} has days 01 to "
                          f"{last}.") from None


def parse_dates(values: Iterable[str | dt.date | dt.datetime]) -> list[dt.date]:
    """Observation dates from text (YYYY-MM-DD) or date objects, sorted and unique.

    >>> parse_dates(["2024-02-01", dt.date(2024, 1, 1), "2024-02-01"])
    [datetime.date(2024, 1, 1), datetime.date(2024, 2, 1)]
    """
    out: set[dt.date] = set()
    for value in values:
        if isinstance(value, dt.datetime):
            if value.time() != dt.time(0):
                raise ConfigError(f"Observation dates are midnights; got {value!r}. Pass a date.")
            out.add(value.date())
        elif isinstance(value, dt.date):
            out.add(value)
        else:
            out.add(parse_date(value, "Observation date"))
    if not out:
        raise ConfigError("No observation dates given.")
    return sorted(out)


def last_labelled_date(last_event: dt.datetime, definition: ChurnDefinition) -> dt.date:
    """The latest observation date whose label window is fully observed."""
    return last_event.date() - dt.timedelta(days=definition.label_span_days)


def check_labelled(dates: Sequence[dt.date], last_event: dt.datetime, definition: ChurnDefinition) -> None:
    """Refuse right-censored dates: their label window is not fully observed."""
    limit = last_labelled_date(last_event, definition)
    late = [d for d in dates if d > limit]
    if late:
        raise ConfigError(
            f"{len(late)} observation date(s) are right-censored, e.g. {late[0].isoformat()!r}: the data "
            f"ends {last_event.date()} and a label needs {definition.label_span_days} observed days after "
            f"the date, so the last labelled date is {limit.isoformat()}. Fix: use earlier dates, or "
            "`features` (no labels) for scoring.")


def eligibility_rule(definition: ChurnDefinition) -> str:
    """The definition's eligibility rule in words, for messages."""
    if isinstance(definition, SubscriptionChurn):
        return ("a user is eligible at a date when a subscription that started before it is still running at it "
                "(and they signed up before it)")
    return (f"a user is eligible at a date when they had an event in the {definition.active_window_days} days "
            "before it (and signed up before it)")


def describe_probability(definition: ChurnDefinition, as_of: str | dt.date | dt.datetime | None = None) -> str:
    """What a churn probability of this definition means, in one sentence for people (report, ``explain``).

    It names the event (no activity, or the subscription ending without renewal), the horizon, the
    dates it covers when ``as_of`` is known, and who is scored.

    >>> describe_probability(InactivityChurn(horizon_days=90), "2024-12-01")
    'Churn probability: the probability of no activity in the next 90 days (2024-12-01 to 2025-02-28), as of 2024-12-01, for an account active in the 90 days before (inactivity churn).'
    >>> describe_probability(SubscriptionChurn(horizon_days=30, gap_tolerance_days=7))
    'Churn probability: the probability that the subscription ends without renewal within the next 30 days (a restart within 7 days counts as a renewal), for an account with a running subscription (subscription churn).'
    """
    day = None if as_of is None else parse_dates([as_of.date() if isinstance(as_of, dt.datetime) else as_of])[0]
    h, lead = definition.horizon_days, definition.lead_time_days
    window = f"next {h} days" if not lead else f"{h} days starting {lead} days after the date"
    if day is not None:
        start = day + dt.timedelta(days=lead)
        window += f" ({start.isoformat()} to {(start + dt.timedelta(days=h - 1)).isoformat()}), as of {day.isoformat()}"
    if isinstance(definition, SubscriptionChurn):
        renewal = (f" (a restart within {definition.gap_tolerance_days} days counts as a renewal)"
                   if definition.gap_tolerance_days else "")
        return (f"Churn probability: the probability that the subscription ends without renewal within the "
                f"{window}{renewal}, for an account with a running subscription (subscription churn).")
    return (f"Churn probability: the probability of no activity in the {window}, for an account active in the "
            f"{definition.active_window_days} days before (inactivity churn).")


def no_eligible_users(what: str, dates: Sequence[dt.date], first_event: dt.datetime | None,
                      last_event: dt.datetime | None, definition: ChurnDefinition) -> NoEligibleUsersError:
    """The error for dates at which nothing can be computed: no user is eligible there."""
    shown = ", ".join(d.isoformat() for d in list(dates)[:3]) + (", ..." if len(dates) > 3 else "")
    span = (f"the events span {first_event:%Y-%m-%d} .. {last_event:%Y-%m-%d}"
            if first_event is not None and last_event is not None else "there are no events")
    return NoEligibleUsersError(
        f"No user is eligible at {what} {shown}, so there is nothing to compute: {span}, and "
        f"{eligibility_rule(definition)}. Fix: choose dates after the first event and within the data.")


def check_after_first_event(what: str, dates: Sequence[dt.date], first_event: dt.datetime | None,
                            last_event: dt.datetime | None, definition: ChurnDefinition) -> None:
    """Refuse dates on or before the first event's day: no user can be eligible there."""
    if first_event is None:
        return
    early = [d for d in dates if d <= first_event.date()]
    if early:
        raise no_eligible_users(what, early, first_event, last_event, definition)
