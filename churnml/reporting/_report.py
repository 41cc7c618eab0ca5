"""The retention report: one self-contained HTML page for a retention team, from a scores file.

Everything is inside the file (styles, a little vanilla script, plots as embedded
PNG, the listed accounts' details as compact JSON), so it opens offline and can
be mailed. The scores are read with DuckDB, so a file of millions of accounts is
summarised without loading it: the page says what the probability means (the
churn definition, its horizon, the as-of date), then carries the headline
numbers, the risk distribution, the drivers across the at-risk accounts with a
suggested action per reason family, and the ranked at-risk list (the top ``top``
accounts; the scores file has them all). Clicking a listed account opens its
view: its reasons as a waterfall of their contributions and, with the event
log, its events per week before the as-of date. With the model, its test-slice
quality against the baselines and its calibration and gain charts from the
training run are added when the MLflow run can be reached.

Two populations appear, and each table says which it counts: the *scored
accounts* (those eligible at the as-of date under the churn definition: the
header, the at-risk list, inactive accounts and engagement segments) and the
*whole account base* (churn rate, revenue churn, activation and cohorts, which
follow accounts over past periods).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from churnml.contract import ChurnDefinition, UsageData
    from churnml.modeling import ChurnModel

__all__ = ["DEFAULT_ACTIONS", "FAMILY_LABELS", "ReportContext", "format_money", "format_percent", "format_value",
           "reason_family", "render_report", "write_report"]

_REQUIRED = ("user_id", "churn_probability", "risk_tier", "rank")
#: weeks of activity shown in an account's view, ending the day before the as-of date
ACTIVITY_WEEKS = 12
#: target width of a risk-histogram bin (each tier's range is cut into bins as close to this as fit)
_BIN_WIDTH = 0.02

#: what a retention team can do about each reason family; ``write_report(actions=...)`` overrides any of them
DEFAULT_ACTIONS: dict[str, str] = {  # keyed by churnml.features.REASON_FAMILIES, plus 'other'
    "activation": "Onboarding: a guided set-up (call or in-app checklist) to the first key action.",
    "inactivity": "Win-back: a personal check-in, then a win-back offer if there is no answer.",
    "payment_failure": "Payment recovery: ask for an updated card, retry the charge, hold dunning until it is "
                       "fixed.",
    "friction": "Service recovery: support follows up on the open issues and confirms they are solved.",
    "engagement": "Re-engagement: show the features they stopped using (tips email, in-app guide).",
    "rhythm": "Habit building: a reminder timed to their usual return, and a reason to come back sooner.",
    "value": "Value review: a targeted offer on the next order, or a check that the plan still fits.",
    "tenure": "Early-life nurture: welcome series and a check-in in the first months.",
    "account": "Account review: an account manager looks at who the account is before reaching out.",
    "other": "Account review: look at the account's activity and reasons before reaching out.",
}
#: how each family is named on the page
FAMILY_LABELS: dict[str, str] = {
    "activation": "not activated", "inactivity": "long inactivity", "payment_failure": "payment failures",
    "friction": "support issues", "engagement": "falling usage", "rhythm": "rare visits",
    "value": "lower spend or revenue", "tenure": "new account", "account": "account attributes",
    "other": "other",
}


@dataclass(frozen=True)
class ReportContext:
    """What the report knows beyond the scores (all optional)."""

    model_name: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # test-slice metrics of the run
    charts: dict[str, bytes] = field(default_factory=dict)  # PNG bytes: 'calibration', 'gain'
    thresholds: dict[str, float] | None = None
    analytics: str = ""  # HTML of the retention numbers (made by render_report when given the data)
    definition: ChurnDefinition | None = None  # the model's churn definition: what the probability means
    activation_events: tuple[str, ...] = ()
    currency: str | None = None  # shown with every amount of money; None: plain numbers
    actions: dict[str, str] = field(default_factory=dict)  # reason family -> suggested action, over the defaults
    realised: dict[str, Any] = field(default_factory=dict)  # the latest evaluated scoring run (monitoring)


def write_report(scores: str | os.PathLike[str], out: str | os.PathLike[str], *, model: ChurnModel | None = None,
                 model_uri: str | None = None, tracking_uri_: str | None = None, data: UsageData | None = None,
                 top: int = 1_000, overwrite: bool = False, currency: str | None = None,
                 actions: Mapping[str, str] | None = None) -> Path:
    """Render the report of a scores file (``.parquet`` or ``.csv``) to ``out`` atomically.

    Parameters
    ----------
    model : ChurnModel, optional
        The model that made the scores: its churn definition is stated at the top (what the
        probability means), its tier cut-offs split the histogram, and its training run's metrics
        and charts are added when the run can be reached.
    data : UsageData, optional
        The loaded event log, subscriptions and accounts: adds the retention numbers of
        :mod:`churnml.reporting.analytics`, the plan and MRR of the listed accounts, and their weekly activity.
    top : int
        At-risk accounts listed (only those carry per-account detail, so the page stays small).
    currency : str, optional
        Shown with every amount of money: a symbol (``"£"``, ``"€"``) before the number, a code
        (``"EUR"``) before it with a space. None (the default) shows plain numbers.
    actions : mapping, optional
        Reason family -> suggested action, merged over :data:`DEFAULT_ACTIONS` (keys of
        :data:`FAMILY_LABELS`, or the ``reason_<i>_family`` values of the scores file).
    """
    from churnml._io import check_output, write_text

    target = check_output(out, overwrite=overwrite, suffixes=(".html", ".htm"))
    context = ReportContext()
    if model is not None:
        context = _model_context(model, model_uri, tracking_uri_)
        activation = tuple(model.spec.activation_events) if model.spec is not None else ()
        context = dataclasses.replace(context, definition=model.churn_definition(), activation_events=activation)
    if context.definition is None:  # a Parquet scores file records the definition of the model that made it
        from churnml.scoring import scores_definition

        context = dataclasses.replace(context, definition=scores_definition(scores))
    context = dataclasses.replace(context, currency=currency, actions=dict(actions or {}))
    return write_text(render_report(scores, context=context, top=top, data=data), target, overwrite=overwrite)


# ----------------------------------------------------------------- formatting


def format_percent(share: Any) -> str:
    """A share (0.084) as the page writes every percentage: one decimal, '%'.

    >>> format_percent(0.0843), format_percent(1), format_percent(None)
    ('8.4%', '100.0%', '-')
    """
    if _missing(share):
        return "-"
    return f"{float(share):.1%}"


def format_money(value: Any, currency: str | None = None) -> str:
    """An amount as the page writes all money: thousands separators, two decimals, the currency if given
    (a symbol before the number, a code before it with a space).

    >>> format_money(1234.5), format_money(1234.5, "£"), format_money(-12, "€"), format_money(3, "EUR")
    ('1,234.50', '£1,234.50', '-€12.00', 'EUR 3.00')
    """
    if _missing(value):
        return "-"
    amount = float(value)
    if not currency:
        return f"{amount:,.2f}"
    if currency.isalpha():
        return f"{currency} {amount:,.2f}"
    return f"{'-' if amount < 0 else ''}{currency}{abs(amount):,.2f}"


def format_value(value: Any, *, percent: bool = False, money: bool = False, currency: str | None = None) -> str:
    """One table cell as text: missing as '-', a share as a percentage, money as :func:`format_money`,
    numbers with thousands separators.

    >>> format_value(0.1234, percent=True), format_value(1234.5), format_value(1234), format_value(None)
    ('12.3%', '1,234.50', '1,234', '-')
    """
    import numpy as np

    if _missing(value):
        return "-"
    if percent:
        return format_percent(value)
    if money:
        return format_money(value, currency)
    if isinstance(value, float | np.floating):
        return f"{value:,.2f}"
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _missing(value: Any) -> bool:
    import numpy as np
    import pandas as pd

    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float | np.floating) and bool(np.isnan(value)))


def _label(column: str) -> str:
    """A column's heading: words, 'MRR' spelled as such, a '_pct' column named without it (its values are
    percentages like any other)."""
    words = str(column).removesuffix("_pct").replace("_", " ")
    return " ".join("MRR" if w == "mrr" else w for w in words.split(" "))


def _frame_html(frame: pd.DataFrame, *, percent: set[str] | None = None, money: set[str] | None = None,
                currency: str | None = None) -> str:
    """A table; ``percent`` columns hold shares, columns ending in ``_pct`` hold percentages x 100 (both are
    written as '8.4%'); ``money`` columns are amounts."""
    percent, money = percent or set(), money or set()
    head = "".join(f"<th>{html.escape(_label(c))}</th>" for c in frame.columns)

    def cell(column: Any, value: Any) -> str:
        if isinstance(column, str) and column.endswith("_pct"):
            return format_percent(None if _missing(value) else float(value) / 100)
        return format_value(value, percent=column in percent, money=column in money, currency=currency)

    rows = "".join("<tr>" + "".join(f'<td class="num">{html.escape(cell(c, v))}</td>'
                                    for c, v in zip(frame.columns, row)) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="plain"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


# ----------------------------------------------------------------- reason families


def reason_family(feature: Any, sentence: Any = None, family: Any = None) -> str:
    """The family of one reason, which picks its suggested action.

    ``family`` (a scores file's ``reason_<i>_family``, from the feature's metadata) wins when given; for a
    scores file written before families were recorded, the feature spec reads it back from the name
    (:func:`churnml.features.reason_family_of`, which for the pooled rare types (``*_other*``) reads the
    sentence, which names them); a feature no spec names is 'other'.

    >>> reason_family("activated"), reason_family("days_since_last_event"), reason_family("count_payment_failure_30d")
    ('activation', 'inactivity', 'payment_failure')
    >>> reason_family("count_other_30d", "1 rare event (payment failure) in the last 30 days")
    'payment_failure'
    >>> reason_family("days_since_last_event", family="recency"), reason_family(None)
    ('recency', 'other')
    """
    if not _missing(family) and str(family):
        return str(family)
    if _missing(feature):
        return "other"
    from churnml.features import reason_family_of

    return reason_family_of(str(feature), None if _missing(sentence) else str(sentence)) or "other"


def _action(family: str, actions: Mapping[str, str], feature: Any = None, sentence: Any = None) -> str:
    """The suggested action of a family; a family the texts do not know falls back to the one its feature
    belongs to, then to 'other'."""
    return (actions.get(family) or actions.get(reason_family(feature, sentence)) or actions.get("other")
            or DEFAULT_ACTIONS["other"])


def _family_label(family: str) -> str:
    return FAMILY_LABELS.get(family, family.replace("_", " "))

# ----------------------------------------------------------------- retention numbers


def _analytics_html(data: UsageData, context: ReportContext, scores: Path, day: dt.date | None,
                    scored: int) -> str:
    """The retention numbers that apply to this data, as HTML (a part that does not apply is left out).

    Inactive accounts and segments count the scored accounts (as the header does); the rates over past
    periods follow the whole account base."""
    from churnml.errors import ChurnMLError
    from churnml.reporting import analytics

    definition = context.definition
    parts = []
    base = '<p class="population">Whole account base, month by month.</p>'
    among = f'<p class="population">Among the {scored:,} scored accounts, as of {_day(day)}.</p>'

    def attempt(title: str, make: Any) -> None:
        try:
            parts.append(f"<h3>{html.escape(title)}</h3>" + make())
        except ChurnMLError:
            pass

    def churn() -> str:
        frame = analytics.churn_rate(data, **analytics.definition_options(definition, data)).tail(12)
        rate = analytics.mean_churn_rate(frame)
        frame = frame[rate.kept]
        lead = (f"<p>Mean monthly churn rate {format_percent(rate.mean)} (annualised "
                f"{format_percent(rate.annualised)}): accounts lost during a month over those active at "
                "its start.</p>") if rate.periods else ""
        note = ""
        if not rate.kept.all():
            note = (f'<p class="note" id="churn-left-out">Left out, too few accounts active at the start: '
                    f"{rate.left_out_text()}. "
                    f"A month is shown when at least {analytics.MIN_PERIOD_ACCOUNTS} accounts, and a tenth of the "
                    "median month's, were active at its start; months the data does not cover whole are never "
                    "shown.</p>")
        if frame.empty:
            return base + note
        return base + lead + note + _img(analytics.rate_figure(frame, "churn_rate", "Monthly churn rate")) + \
            _frame_html(frame, percent={c for c in frame.columns if c.endswith("churn_rate")})

    def revenue() -> str:
        frame = analytics.revenue_churn(data).tail(12)
        steady = analytics.steady_periods(frame, "accounts_at_start")  # the churn rate's rule
        note = ""
        if not steady.all():
            note = (f'<p class="note" id="revenue-left-out">Left out, too few accounts with MRR at the start: '
                    f"{analytics.left_out_periods(frame, steady, 'accounts_at_start')}.</p>")
        frame = frame[steady]
        if frame.empty:
            return base + note
        return base + note + _frame_html(frame[["period", "mrr_start", "mrr_churned", "mrr_contraction", "mrr_expansion",
                                         "gross_mrr_churn_pct", "net_mrr_churn_pct"]],
                                  money={"mrr_start", "mrr_churned", "mrr_contraction", "mrr_expansion"},
                                  currency=context.currency)

    def activated() -> str:
        if not context.activation_events:
            raise ConfigError("no activation event")
        frame = analytics.activation(data, events=list(context.activation_events)).tail(12)
        return base.replace("month by month", "by signup month") + _frame_html(frame)

    def quiet() -> str:
        result = analytics.inactive(data, as_of=day, accounts=scores)
        return among + _frame_html(result.counts.rename(columns={"share_of_accounts": "share_of_scored_accounts"}),
                                   percent={"share_of_scored_accounts"})

    def engaged() -> str:
        horizon = definition.horizon_days if definition is not None else 30
        result = analytics.segments(data, as_of=day, accounts=scores, horizon_days=horizon)
        summary = result.summary
        note = ""
        if summary["churn_rate"].isna().all():
            summary = summary.drop(columns=["churn_rate"])
            note = (f'<p class="note" id="segment-churn-note">No churn rate per segment: it is the share of a '
                    f"segment with no event in the {horizon} days after {_day(result.as_of)}, and those days have "
                    "not passed in the data yet (score an earlier date to see it).</p>")
        else:
            summary = summary.rename(columns={"churn_rate": f"churn_rate_(no_event_in_{horizon}_days)"})
        return (among + _frame_html(summary, percent={"share", f"churn_rate_(no_event_in_{horizon}_days)"}) + note
                + f"<p>How the '{html.escape(result.least_engaged)}' segment differs from the rest (effect size = "
                "standardised mean difference):</p>" + _frame_html(result.profile.head(8)))

    def retention() -> str:
        return base.replace("month by month", "by signup month") + _img(
            analytics.cohort_figure(analytics.cohorts(data).tail(12)))

    attempt("Churn rate", churn)
    attempt("Revenue churn", revenue)
    attempt(f"Activation ({', '.join(context.activation_events)} within 7 days of signup)", activated)
    attempt("Inactive accounts", quiet)
    attempt("Engagement segments", engaged)
    attempt("Retention by signup month", retention)
    return "".join(parts)


# ----------------------------------------------------------------- the listed accounts' extras


def _ids_sql(ids: list[str]) -> str:
    from churnml._duckdb import quote_literal as ql

    return "(SELECT * FROM (VALUES " + ", ".join(f"({ql(i)})" for i in ids) + ") AS t(uid))"


def _plans(data: UsageData, ids: list[str], day: dt.date) -> pd.DataFrame:
    """Each listed account's plan and MRR on ``day``: its running subscription (the latest started), else the
    accounts table's plan column."""
    import pandas as pd

    from churnml._duckdb import quote_identifier as qi

    out = pd.DataFrame({"uid": ids})
    if not ids:
        return out
    subs = data.subscriptions
    if subs is not None and ({"plan", "mrr"} & set(subs.columns)):
        wanted = [c for c in ("plan", "mrr") if c in subs.columns]
        running = "AND (s.\"end\" IS NULL OR s.\"end\" > TIMESTAMP '{d}')".format(d=day) if "end" in subs.columns else ""
        picked = ", ".join(f"arg_max(s.{qi(c)}, s.start) AS {c}" for c in wanted)
        frame = data.backend.sql(
            f"SELECT CAST(s.user_id AS VARCHAR) AS uid, {picked} FROM {qi(subs.view)} s "
            f"WHERE s.start <= TIMESTAMP '{day}' {running} AND CAST(s.user_id AS VARCHAR) IN (SELECT uid FROM "
            f"{_ids_sql(ids)}) GROUP BY 1").df()
        out = out.merge(frame, on="uid", how="left")
    accounts = data.accounts
    if accounts is not None and "plan" in accounts.columns:
        frame = data.backend.sql(
            f"SELECT CAST(user_id AS VARCHAR) AS uid, any_value(CAST(plan AS VARCHAR)) AS account_plan "
            f"FROM {qi(accounts.view)} WHERE CAST(user_id AS VARCHAR) IN (SELECT uid FROM {_ids_sql(ids)}) "
            "GROUP BY 1").df()
        out = out.merge(frame, on="uid", how="left")
        out["plan"] = out["plan"].fillna(out["account_plan"]) if "plan" in out else out["account_plan"]
        out = out.drop(columns=["account_plan"])
    return out


def _weekly(data: UsageData, ids: list[str], day: dt.date, weeks: int = ACTIVITY_WEEKS) -> dict[str, list[int]]:
    """Each listed account's events per week over the ``weeks`` weeks before ``day`` (oldest first; a week
    is 7 days ending at ``day``)."""
    from churnml._duckdb import quote_identifier as qi

    if not ids:
        return {}
    frame = data.backend.sql(
        f"SELECT CAST(user_id AS VARCHAR) AS uid, "
        f"CAST(floor(epoch(TIMESTAMP '{day}' - \"timestamp\") / 604800) AS INTEGER) AS ago, count(*) AS events "
        f"FROM {qi(data.events.view)} WHERE \"timestamp\" < TIMESTAMP '{day}' "
        f"AND \"timestamp\" >= TIMESTAMP '{day}' - INTERVAL {7 * weeks} DAY "
        f"AND CAST(user_id AS VARCHAR) IN (SELECT uid FROM {_ids_sql(ids)}) GROUP BY ALL").df()
    out = {i: [0] * weeks for i in ids}
    for uid, ago, events in frame.itertuples(index=False):
        if 0 <= int(ago) < weeks:
            out[uid][weeks - 1 - int(ago)] = int(events)
    return out


# ----------------------------------------------------------------- reading the scores


def _summary(scores: str | os.PathLike[str], top: int, thresholds: dict[str, float] | None) -> dict[str, Any]:
    import duckdb

    from churnml._duckdb import quote_identifier as qi, read_path_sql

    path = Path(scores)
    source = read_path_sql(path)
    db = duckdb.connect()
    try:
        columns = db.sql(f"SELECT * FROM {source} LIMIT 0").columns
        missing = [c for c in _REQUIRED if c not in columns]
        if missing:
            raise ConfigError(f"{str(path)!r} is not a churnml scores file: it lacks the column(s) "
                              f"{', '.join(map(repr, missing))}. Fix: pass the output of `churnml score`.")
        revenue = "revenue_at_risk" in columns
        money = ("sum(revenue_at_risk), sum(revenue_at_risk) FILTER (WHERE risk_tier <> 'low')" if revenue
                 else "NULL, NULL")
        as_of = "min(as_of), max(as_of)" if "as_of" in columns else "NULL, NULL"
        head = db.sql(
            f"SELECT count(*), {as_of}, "
            f"count(*) FILTER (WHERE risk_tier = 'high'), count(*) FILTER (WHERE risk_tier = 'medium'), "
            f"count(*) FILTER (WHERE risk_tier = 'low'), {money}, avg(churn_probability), "
            f"min(churn_probability) FILTER (WHERE risk_tier = 'high'), "
            f"min(churn_probability) FILTER (WHERE risk_tier = 'medium'), "
            f"max(churn_probability) FILTER (WHERE risk_tier = 'medium'), "
            f"max(churn_probability) FILTER (WHERE risk_tier = 'low'), max(churn_probability) "
            f"FROM {source}").fetchall()[0]
        reasons = sorted({int(c.split("_")[1]) for c in columns
                          if c.startswith("reason_") and c.split("_")[1].isdigit() and f"{c}_feature" in columns})
        families = [i for i in reasons if f"reason_{i}_family" in columns]
        drivers = combos = None
        sentences: dict[str, str] = {}
        if reasons:
            unions = " UNION ALL ".join(
                f"SELECT reason_{i}_feature AS feature, reason_{i}_contribution AS contribution, "
                f"reason_{i} AS sentence FROM {source} WHERE reason_{i}_feature IS NOT NULL" for i in reasons)
            every = db.sql(f"SELECT feature, count(*) AS accounts, sum(contribution) AS total_contribution, "
                           f"any_value(sentence ORDER BY contribution DESC) AS example FROM ({unions}) "
                           "GROUP BY feature ORDER BY accounts DESC, feature").df()
            drivers = every.head(15)
            sentences = dict(zip(every["feature"], every["example"]))
            keys = [f"reason_{i}_feature" for i in reasons] + [f"reason_{i}_family" for i in families]
            combos = db.sql(f"SELECT {', '.join(keys)}, count(*) AS accounts FROM {source} "
                            "WHERE risk_tier <> 'low' AND reason_1_feature IS NOT NULL GROUP BY ALL").df()
        cuts = _cuts(thresholds, high_min=head[9], medium_min=head[10], medium_max=head[11], low_max=head[12])
        histogram = _histogram(db, source, cuts)
        shown = ["rank", "user_id", "churn_probability", "risk_tier"]
        shown += [c for c in ("plan", "mrr") if c in columns]
        shown += ["revenue_at_risk"] if revenue else []
        for i in reasons:
            shown += [f"reason_{i}", f"reason_{i}_feature", f"reason_{i}_contribution"]
            shown += [f"reason_{i}_family"] if i in families else []
        listed = db.sql(f"SELECT {', '.join(qi(c) for c in shown)} FROM {source} WHERE risk_tier <> 'low' "
                        f"ORDER BY rank LIMIT {int(top)}").df()
    finally:
        db.close()
    return {"path": path, "accounts": int(head[0]), "as_of": (head[1], head[2]),
            "tiers": {"high": int(head[3]), "medium": int(head[4]), "low": int(head[5])},
            "revenue": head[6], "revenue_at_risk_tiers": head[7], "mean_probability": head[8],
            "cuts": cuts, "max_probability": head[13], "drivers": drivers, "histogram": histogram,
            "listed": listed, "reasons": reasons, "combos": combos, "sentences": sentences}


def _cuts(thresholds: dict[str, float] | None, *, high_min: Any, medium_min: Any, medium_max: Any,
          low_max: Any) -> dict[str, float]:
    """The tier cut-offs: the model's where the file's tiers agree with them (scoring may have been given
    others), else the lowest probability of each tier in the file."""
    def fits(cut: float, below: Any, above: Any) -> bool:
        return (below is None or below < cut) and (above is None or cut <= above)

    observed_high = float(high_min) if high_min is not None else 1.0
    observed_medium = float(medium_min) if medium_min is not None else observed_high
    high = medium = None
    if thresholds:
        high, medium = thresholds.get("high"), thresholds.get("medium")
    below_high = medium_max if medium_max is not None else low_max
    high = float(high) if high is not None and fits(float(high), below_high, high_min) else observed_high
    medium = float(medium) if medium is not None and fits(float(medium), low_max, medium_min if medium_min is not None
                                                          else high_min) else observed_medium
    return {"medium": min(medium, high), "high": high}


def _tier_ranges(cuts: dict[str, float]) -> list[tuple[str, float, float, int]]:
    """(tier, lower, upper, bins) of each tier: low [0, medium), medium [medium, high), high [high, 1];
    each range cut into equal bins about ``_BIN_WIDTH`` wide, so no bin holds two tiers."""
    ranges = [("low", 0.0, cuts["medium"]), ("medium", cuts["medium"], cuts["high"]), ("high", cuts["high"], 1.0)]
    return [(t, lo, hi, max(1, round((hi - lo) / _BIN_WIDTH))) for t, lo, hi in ranges]


def _histogram(db: Any, source: str, cuts: dict[str, float]) -> pd.DataFrame:
    """Accounts per bin: ``tier``, ``lower``, ``upper``, ``accounts`` (bins split at the tier cut-offs)."""
    import pandas as pd

    ranges = _tier_ranges(cuts)
    cases = " ".join(
        f"WHEN '{t}' THEN least(greatest(floor((churn_probability - {lo!r}) / {(hi - lo) / n!r}), 0), {n - 1})"
        if hi > lo else f"WHEN '{t}' THEN 0" for t, lo, hi, n in ranges)
    counts = db.sql(f"SELECT risk_tier AS tier, CAST(CASE risk_tier {cases} END AS INTEGER) AS k, count(*) AS n "
                    f"FROM {source} WHERE risk_tier IN ('low', 'medium', 'high') GROUP BY ALL").df()
    where = {t: (lo, hi, n) for t, lo, hi, n in ranges}
    rows = []
    for tier, k, n in counts.itertuples(index=False):
        lo, hi, bins = where[tier]
        width = (hi - lo) / bins
        rows.append({"tier": tier, "lower": lo + k * width, "upper": hi if k == bins - 1 else lo + (k + 1) * width,
                     "accounts": int(n)})
    frame = pd.DataFrame(rows, columns=["tier", "lower", "upper", "accounts"])
    return frame.sort_values("lower", kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------- rendering


def render_report(scores: str | os.PathLike[str], *, context: ReportContext | None = None, top: int = 1_000,
                  data: UsageData | None = None) -> str:
    """The report's HTML text (``data``: see :func:`write_report`)."""
    context = context or ReportContext()
    actions = {**DEFAULT_ACTIONS, **context.actions}
    s = _summary(scores, top, context.thresholds)
    n = s["accounts"]
    at_risk = s["tiers"]["high"] + s["tiers"]["medium"]
    first, last = s["as_of"]
    as_of = _day(first) if first == last else f"{_day(first)} to {_day(last)}"
    day = _as_date(first) if first == last else None
    if data is not None and not context.analytics:
        context = dataclasses.replace(context, analytics=_analytics_html(data, context, s["path"], day, n))
    money = context.currency
    cards = [("accounts scored", f"{n:,}", f"as of {as_of}" if first is not None else ""),
             ("high risk", f"{s['tiers']['high']:,}", _share(s["tiers"]["high"], n)),
             ("medium risk", f"{s['tiers']['medium']:,}", _share(s["tiers"]["medium"], n)),
             ("low risk", f"{s['tiers']['low']:,}", _share(s["tiers"]["low"], n))]
    if s["revenue"] is not None:
        cards.append(("revenue at risk", format_money(s["revenue"], money),
                      f"{format_money(s['revenue_at_risk_tiers'] or 0, money)} in the high and medium tiers; "
                      "probability x monthly revenue"))
    if s["mean_probability"] is not None:
        cards.append(("expected churners", f"{s['mean_probability'] * n:,.0f}",
                      "sum of the calibrated probabilities"))
    sections = [_meaning(context.definition, day, as_of, n), _cards(cards)]
    sections.append(_section("Risk distribution", _img(_histogram_figure(s), "risk histogram", data_bins=_bins_json(
        s["histogram"])), "How many scored accounts at each churn probability, coloured by tier; the bins split at "
        f"the tier cut-offs (medium from {format_percent(s['cuts']['medium'])}, high from "
        f"{format_percent(s['cuts']['high'])})."))
    if s["drivers"] is not None and len(s["drivers"]):
        sections.append(_section("What drives the risk", _img(_drivers_figure(s["drivers"])) + _drivers_table(
            s["drivers"]), f"How often each feature is among the top reasons of the {at_risk:,} at-risk accounts "
            "(high and medium tiers), with one account's sentence as an example."))
    if s["combos"] is not None and len(s["combos"]):
        sections.append(_section("Suggested actions", _actions_table(_families(s, actions), actions),
                                 "What a retention team can do, by the kind of reason behind an at-risk account's "
                                 "risk: the accounts whose top reason is of that kind, those with it among their "
                                 "reasons, and a suggested action (shipped defaults unless the report was given its "
                                 "own texts)."))
    extras = _extras(s, data, day)
    sections.append(_section(
        "At-risk accounts", _accounts_table(s, at_risk, actions, extras, context.currency) + _ACCOUNT_VIEW,
        f"Ranked by churn probability. Showing the top {min(len(s['listed']), at_risk):,} of {at_risk:,} "
        f"at-risk accounts; the scores file {html.escape(s['path'].name)} has all {n:,}. "
        "Click an account for its view (reasons as a waterfall, activity by week); click a column to sort; type to "
        "filter (or open the page with #filter=text or #account=id)."))
    if context.analytics:
        sections.append(_section("Retention numbers", context.analytics,
                                 "The standard numbers from the same data; each table says whether it counts the "
                                 "scored accounts or the whole account base."))
    if context.metrics or context.charts:
        sections.append(_model_section(context))
    if context.realised:
        from churnml.reporting._monitoring import realised_html

        sections.append(_section("How the last evaluated scores turned out", realised_html(context.realised),
                                 "Expected figures are what the calibrated probabilities promised when the list was "
                                 "made; realised ones are what happened over the horizon (`churnml evaluate`)."))
    title = "Churn risk report"
    generated = f"{n:,} accounts scored as of {as_of}"
    return _PAGE.format(title=title, generated=html.escape(generated),
                        model=(" &middot; " + html.escape(f"model {context.model_name}")) if context.model_name else "",
                        body="\n".join(sections), script=_SCRIPT, style=_STYLE, watch=_WATCH)


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _meaning(definition: ChurnDefinition | None, day: dt.date | None, as_of: str, scored: int) -> str:
    """What the probability means: the sentence, then the definition, horizon, as-of date and who is scored."""
    from churnml.contract import SubscriptionChurn, describe_probability, eligibility_rule

    if definition is None:
        sentence = ("The churn definition is not known here: the scores file does not record it (a CSV file, or one "
                    "written by an older churnml). Make the report "
                    "with the model that made the scores (--model) to state what the probability means.")
        facts = [("churn definition", "definition", "unknown"), ("horizon", "horizon", "unknown")]
    else:
        sentence = describe_probability(definition, day)
        kind = ("subscription churn: every subscription has ended and none restarted" if isinstance(
            definition, SubscriptionChurn) else "inactivity churn: no event at all")
        horizon = f"{definition.horizon_days} days" + (
            f", starting {definition.lead_time_days} days after the as-of date" if definition.lead_time_days else "")
        facts = [("churn definition", "definition", kind), ("horizon", "horizon", horizon),
                 ("scored accounts", "population",
                  f"{scored:,}: {eligibility_rule(definition).removeprefix('a user is eligible at a date when ')}")]
    facts.insert(2, ("as of", "as-of", as_of))
    items = "".join(f'<div><dt>{html.escape(a)}</dt><dd data-fact="{b}">{html.escape(c)}</dd></div>'
                    for a, b, c in facts)
    return (f'<section class="meaning" id="meaning"><h2>What the probability means</h2>'
            f'<p id="definition">{html.escape(sentence)}</p><dl class="facts">{items}</dl></section>')


def _day(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def _share(count: int, total: int) -> str:
    return f"{format_percent(count / total)} of accounts" if total else ""


def _cards(cards: list[tuple[str, str, str]]) -> str:
    items = "".join(f'<div class="card"><div class="label">{html.escape(a)}</div>'
                    f'<div class="value" data-card="{html.escape(a)}">{html.escape(b)}</div>'
                    f'<div class="note">{html.escape(c)}</div></div>' for a, b, c in cards)
    return f'<section class="cards">{items}</section>'


def _section(title: str, body: str, lead: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2><p class=\"lead\">{lead}</p>{body}</section>"


def _img(figure: Figure | bytes, alt: str = "chart", *, data_bins: str | None = None) -> str:
    if isinstance(figure, bytes):
        data = figure
    else:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
        data = buffer.getvalue()
    bins = f' data-bins="{html.escape(data_bins)}"' if data_bins is not None else ""
    return f'<img alt="{html.escape(alt)}"{bins} src="data:image/png;base64,{base64.b64encode(data).decode()}">'


_COLOURS = {"high": "#c0392b", "medium": "#e67e22", "low": "#7f8c8d"}


def _bins_json(histogram: pd.DataFrame) -> str:
    return json.dumps([[t, round(lo, 6), round(hi, 6), int(n)] for t, lo, hi, n in histogram.itertuples(index=False)],
                      separators=(",", ":"))


def _histogram_figure(s: dict[str, Any]) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2), layout="constrained")
    ax = figure.add_subplot()
    hist = s["histogram"]
    for tier in ("low", "medium", "high"):
        part = hist[hist["tier"] == tier]
        if len(part):
            ax.bar(part["lower"], part["accounts"], width=part["upper"] - part["lower"], align="edge",
                   color=_COLOURS[tier], edgecolor="white", linewidth=0.5, label=tier)
    for tier in ("medium", "high"):
        ax.axvline(float(s["cuts"][tier]), color=_COLOURS[tier], linestyle="--", linewidth=1)
    top = float(hist["upper"].max()) + _BIN_WIDTH if len(hist) else 1.0
    ax.set(xlabel="churn probability", ylabel="accounts", xlim=(0, min(1.0, top)))
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    ax.legend(title="tier")
    return figure


def _drivers_figure(drivers: pd.DataFrame) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 0.3 * len(drivers) + 1), layout="constrained")
    ax = figure.add_subplot()
    ordered = drivers.iloc[::-1]
    ax.barh(ordered["feature"].str.replace("_", " "), ordered["accounts"], color="#2c3e50")
    ax.set(xlabel="at-risk accounts with this feature among their top reasons")
    return figure


def _drivers_table(drivers: pd.DataFrame) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(r.feature))}</td><td class=\"num\">{int(r.accounts):,}</td>"
                   f"<td>{html.escape(str(r.example))}</td></tr>" for r in drivers.itertuples())
    return ('<table class="plain"><thead><tr><th>feature</th><th>accounts</th><th>example</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _families(s: dict[str, Any], actions: Mapping[str, str]) -> pd.DataFrame:
    """Per reason family: at-risk accounts whose top reason is of it, accounts with it among their reasons,
    its most frequent features."""
    import pandas as pd

    combos, sentences = s["combos"], s["sentences"]
    top: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    features: dict[str, dict[str, int]] = {}
    for row in combos.to_dict("records"):
        seen = set()
        for i in s["reasons"]:
            feature = row.get(f"reason_{i}_feature")
            if _missing(feature):
                continue
            family = reason_family(feature, sentences.get(feature), row.get(f"reason_{i}_family"))
            if i == s["reasons"][0]:
                top[family] = top.get(family, 0) + int(row["accounts"])
            if family not in seen:
                anywhere[family] = anywhere.get(family, 0) + int(row["accounts"])
                seen.add(family)
            counts = features.setdefault(family, {})
            counts[feature] = counts.get(feature, 0) + int(row["accounts"])
    rows = [{"family": f, "top_reason": top.get(f, 0), "any_reason": n,
             "features": ", ".join(k for k, _ in sorted(features[f].items(), key=lambda kv: -kv[1])[:3]),
             "action": _action(f, actions, max(features[f], key=features[f].get))}
            for f, n in anywhere.items()]
    frame = pd.DataFrame(rows, columns=["family", "top_reason", "any_reason", "features", "action"])
    return frame.sort_values(["top_reason", "any_reason"], ascending=False, kind="stable").reset_index(drop=True)


def _actions_table(families: pd.DataFrame, actions: Mapping[str, str]) -> str:
    rows = "".join(
        f'<tr data-family="{html.escape(r.family)}"><td>{html.escape(_family_label(r.family))}</td>'
        f'<td class="num">{r.top_reason:,}</td><td class="num">{r.any_reason:,}</td>'
        f"<td>{html.escape(r.features)}</td><td class=\"action\">{html.escape(r.action)}</td></tr>"
        for r in families.itertuples())
    return ('<table class="plain" id="actions"><thead><tr><th>reason family</th><th>top reason of</th>'
            "<th>among the reasons of</th><th>most frequent features</th><th>suggested action</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _extras(s: dict[str, Any], data: UsageData | None, day: dt.date | None) -> dict[str, Any]:
    """Plan, MRR and weekly activity of the listed accounts, from the data (when given and one as-of date)."""
    ids = [str(v) for v in s["listed"]["user_id"]]
    if data is None or day is None:
        return {"weeks": None, "plans": None}
    return {"weeks": _weekly(data, ids, day), "plans": _plans(data, ids, day).set_index("uid"),
            "week_starts": [(day - dt.timedelta(days=7 * (ACTIVITY_WEEKS - j))).isoformat()
                            for j in range(ACTIVITY_WEEKS)]}


def _accounts_table(s: dict[str, Any], at_risk: int, actions: Mapping[str, str], extras: dict[str, Any],
                    currency: str | None) -> str:
    import pandas as pd

    listed: pd.DataFrame = s["listed"]
    reasons = s["reasons"]
    plans = extras["plans"]
    ids = [str(v) for v in listed["user_id"]]
    plan = listed["plan"].tolist() if "plan" in listed else (
        [plans["plan"].get(i) for i in ids] if plans is not None and "plan" in plans else None)
    mrr = listed["mrr"].tolist() if "mrr" in listed else (
        [plans["mrr"].get(i) for i in ids] if plans is not None and "mrr" in plans else None)
    columns = [("rank", "num"), ("account", "text"), ("churn probability", "num"), ("tier", "text")]
    columns += [("plan", "text")] if plan is not None else []
    columns += [("MRR", "num")] if mrr is not None else []
    columns += [("revenue at risk", "num")] if "revenue_at_risk" in listed else []
    columns += [("suggested action", "text")] if reasons else []
    columns += [(f"reason {i}", "text") for i in reasons]
    headers = "".join(f'<th data-kind="{kind}">{html.escape(name)}</th>' for name, kind in columns)
    body, details = [], []
    records = listed.to_dict("records")
    for j, row in enumerate(records):
        p = float(row["churn_probability"])
        cells = [f'<td class="num" data-value="{int(row["rank"])}">{int(row["rank"]):,}</td>',
                 f'<td><a class="account" href="#account={html.escape(ids[j])}">{html.escape(ids[j])}</a></td>',
                 f'<td class="num" data-value="{p!r}">{format_percent(p)}</td>',
                 f'<td><span class="tier {html.escape(str(row["risk_tier"]))}">{html.escape(str(row["risk_tier"]))}'
                 "</span></td>"]
        plan_text = None if plan is None or _missing(plan[j]) else str(plan[j])
        mrr_value = None if mrr is None or _missing(mrr[j]) else float(mrr[j])
        if plan is not None:
            cells.append(f"<td>{html.escape(plan_text or '')}</td>")
        if mrr is not None:
            cells.append(f'<td class="num" data-value="{mrr_value or 0.0!r}">'
                         f"{html.escape(format_money(mrr_value, currency) if mrr_value is not None else '')}</td>")
        if "revenue_at_risk" in row:
            value = row["revenue_at_risk"]
            text = "" if _missing(value) else format_money(value, currency)
            cells.append(f'<td class="num" data-value="{0.0 if _missing(value) else float(value)!r}">'
                         f"{html.escape(text)}</td>")
        explained = []
        for i in reasons:
            feature = row.get(f"reason_{i}_feature")
            if _missing(feature):
                continue
            sentence = row.get(f"reason_{i}")
            family = reason_family(feature, sentence, row.get(f"reason_{i}_family"))
            contribution = row.get(f"reason_{i}_contribution")
            explained.append([None if _missing(sentence) else str(sentence), str(feature),
                              None if _missing(contribution) else round(float(contribution), 4), family,
                              _family_label(family)])
        if reasons:
            first = explained[0] if explained else None
            action = _action(first[3], actions, first[1], first[0]) if first else ""
            cells.append(f'<td class="action">{html.escape(action)}</td>')
        for i in reasons:
            value = row.get(f"reason_{i}")
            cells.append(f"<td>{'' if _missing(value) else html.escape(str(value))}</td>")
        body.append(f'<tr data-i="{j}">{"".join(cells)}</tr>')
        details.append({"id": ids[j], "rank": int(row["rank"]), "p": format_percent(p), "tier": str(row["risk_tier"]),
                        "plan": plan_text, "mrr": None if mrr_value is None else format_money(mrr_value, currency),
                        "reasons": explained,
                        "action": _action(explained[0][3], actions, explained[0][1], explained[0][0])
                        if explained else None,
                        "weeks": None if extras["weeks"] is None else extras["weeks"].get(ids[j])})
    payload = {"week_starts": extras.get("week_starts"), "accounts": details}
    blob = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("</", "<\\/").replace("<!--", "<\\!--")
    return (f'<div class="tools"><input id="filter" type="search" placeholder="Filter (account, tier, reason)...">'
            f' <span id="shown-count" data-total="{len(listed)}" data-at-risk="{at_risk}"></span></div>'
            f'<div class="scroll"><table id="accounts"><thead><tr>{headers}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
            f'<script type="application/json" id="account-data">{blob}</script>')


_ACCOUNT_VIEW = """
<div id="account-view" hidden>
  <h3 id="av-title"></h3><p id="av-meta" class="lead"></p>
  <div class="av-charts">
    <div><h4>Why: the reasons' contributions</h4><svg id="av-waterfall" width="760" height="60"></svg>
      <p class="note">Each reason's contribution to the account's log-odds of churn (TreeSHAP), added one after
      another; the baseline and the other features make up the rest of its score.</p></div>
    <div><h4>Activity by week</h4><svg id="av-weeks" width="520" height="200"></svg>
      <p class="note" id="av-weeks-note"></p></div>
  </div>
  <p id="av-action"></p>
</div>
"""



def _model_context(model: ChurnModel, model_uri: str | None, tracking_uri_: str | None) -> ReportContext:
    """The model's test metrics and charts from its MLflow run, when that run can be reached."""
    metrics: dict[str, float] = {}
    charts: dict[str, bytes] = {}
    realised: dict[str, Any] = {}
    run_id = model.info.get("run_id")
    if run_id and _store_reachable(tracking_uri_):
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        from churnml.tracking import run_figures, tracking_uri

        where = tracking_uri(tracking_uri_)
        try:
            metrics = dict(MlflowClient(where, where).get_run(run_id).data.metrics)
            charts = run_figures(run_id, ("calibration", "gain"), tracking_uri_=tracking_uri_)
        except MlflowException:
            metrics, charts = {}, {}
        from churnml.reporting._monitoring import latest_realised

        realised = latest_realised(run_id, tracking_uri_=tracking_uri_)
    return ReportContext(model_name=model_uri, metrics=metrics, charts=charts,
                         thresholds=model.info.get("tiers"), realised=realised)


def _store_reachable(explicit: str | None) -> bool:
    """False for the default SQLite store when its file does not exist (opening it would create it)."""
    from churnml.tracking import tracking_uri

    uri = tracking_uri(explicit)
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return True



def _model_section(context: ReportContext) -> str:
    m = context.metrics
    parts = []
    rows = []
    for name, prefix in (("model", "test."), ("logistic regression", "baseline.logistic.test."),
                         ("recency rule", "baseline.recency.test."), ("BG/NBD", "baseline.bgnbd.test.")):
        if f"{prefix}roc_auc" in m:
            rows.append(f"<tr><td>{name}</td>" + "".join(
                f'<td class="num">{format_percent(m[prefix + key]) if key == "capture_at_20" else f"{m[prefix + key]:.3f}"}'
                "</td>" if prefix + key in m else "<td>-</td>"
                for key in ("roc_auc", "pr_auc", "lift_at_10", "capture_at_20", "ece")) + "</tr>")
    if rows:
        parts.append('<table class="plain"><thead><tr><th>on the test slice</th><th>ROC-AUC</th><th>PR-AUC</th>'
                     "<th>lift in top 10%</th><th>churners in top 20%</th><th>calibration error</th></tr></thead>"
                     f"<tbody>{''.join(rows)}</tbody></table>")
    for name, data in sorted(context.charts.items()):
        parts.append(f'<figure>{_img(data, name)}<figcaption>{html.escape(name)}</figcaption></figure>')
    return _section("The model", '<div class="charts">' + "".join(parts) + "</div>",
                    "How well the model ranked and calibrated accounts it had not seen, from its training run, "
                    "against the baselines trained beside it.")


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#2c3e50;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.8}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:17px;margin:0 0 4px}.lead{color:#555;margin:0 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:12px;background:none;box-shadow:none;padding:0}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:170px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .label{color:#666;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:600}.card .note{color:#777;font-size:12px}
table{border-collapse:collapse;width:100%}th,td{padding:5px 8px;border-bottom:1px solid #eee;text-align:left;
vertical-align:top}th{background:#fafafa;position:sticky;top:0}#accounts th{cursor:pointer;user-select:none}
#accounts th.asc::after{content:" \\25B2"}#accounts th.desc::after{content:" \\25BC"}
td.num{text-align:right;white-space:nowrap}.scroll{max-height:640px;overflow:auto}
.tier{padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}.tier.high{background:#c0392b}
.tier.medium{background:#e67e22}.tier.low{background:#7f8c8d}
.tools{margin:0 0 8px}#filter{padding:5px 8px;width:320px}#shown-count{color:#555;margin-left:8px}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}img{max-width:100%}
figure{margin:0}figcaption{color:#666;text-align:center}
.meaning{border-left:4px solid #2c3e50}#definition{font-size:15px;margin:4px 0 10px}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:0}.facts dt{color:#666;font-size:12px;text-transform:uppercase;
letter-spacing:.04em}.facts dd{margin:0;font-weight:600}.note{color:#666;font-size:12px}.population{color:#2c3e50;
font-style:italic;margin:2px 0 6px}#accounts tbody tr{cursor:pointer}#accounts tbody tr:hover{background:#f2f6fa}
#accounts tbody tr.selected{background:#fdf2e9}a.account{color:#1f5f99;text-decoration:none;font-weight:600}
td.action{color:#1d4f2a;min-width:220px}#account-view{border-top:2px solid #2c3e50;margin-top:14px;padding-top:8px}
.av-charts{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}.av-charts>div{max-width:780px}h4{margin:6px 0}
#av-action{font-weight:600;color:#1d4f2a}svg text{font:12px system-ui,sans-serif;fill:#333}
svg .bar.up{fill:#c0392b}svg .bar.down{fill:#2e86c1}svg .total{fill:#2c3e50}svg .week{fill:#2e86c1}
svg .axis{stroke:#999}svg .wf-total{font-weight:600}svg .wk-label,svg .wk-value,svg .wf-axis{font-size:11px;fill:#666}
"""

# Records script errors, failed loads and console.error calls on the page itself (data-console-errors),
# so a headless browser's DOM dump shows them.
_WATCH = """
(function () {
  var seen = [];
  function note(message) {
    seen.push(String(message));
    document.documentElement.setAttribute("data-console-errors", seen.join(" | "));
  }
  window.addEventListener("error", function (e) {
    note(e.message || ("failed to load " + (e.target && (e.target.src || e.target.href))));
  }, true);
  var original = console.error;
  console.error = function () { note(Array.prototype.join.call(arguments, " ")); return original.apply(console, arguments); };
})();
"""

_SCRIPT = """
(function () {
  var table = document.getElementById("accounts");
  if (!table) { document.body.dataset.ready = "yes"; return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var count = document.getElementById("shown-count");
  var data = JSON.parse(document.getElementById("account-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  function show() {
    var visible = rows.filter(function (r) { return r.style.display !== "none"; }).length;
    count.textContent = "showing " + visible.toLocaleString("en") + " of " +
      Number(count.dataset.total).toLocaleString("en") + " listed accounts";
  }
  var box = document.getElementById("filter");
  function filter() {
    var q = box.value.toLowerCase();
    rows.forEach(function (r) { r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none"; });
    show();
  }
  box.addEventListener("input", filter);
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc");
      Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var numeric = th.dataset.kind === "num";
      rows.sort(function (a, b) {
        var x = a.cells[i], y = b.cells[i];
        var u = numeric ? parseFloat(x.dataset.value) : x.textContent;
        var v = numeric ? parseFloat(y.dataset.value) : y.textContent;
        var d = numeric ? u - v : u.localeCompare(v);
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });

  // ---- the per-account view
  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "\\u2026" : text; }
  function waterfall(svg, reasons) {
    clear(svg);
    var steps = reasons.filter(function (r) { return r[2] !== null; });
    var left = 400, width = 300, rowH = 26, top = 8;
    var cum = 0, lo = 0, hi = 0;
    steps.forEach(function (r) { cum += r[2]; lo = Math.min(lo, cum); hi = Math.max(hi, cum); });
    var span = (hi - lo) || 1;
    function x(v) { return left + (v - lo) / span * width; }
    svg.setAttribute("height", String(top + rowH * (steps.length + 1) + 24));
    cum = 0;
    steps.forEach(function (r, k) {
      var y = top + k * rowH, start = cum, end = cum + r[2];
      cum = end;
      var label = el("text", {x: left - 8, y: y + 17, "text-anchor": "end", "class": "wf-label"},
                     short(r[0] || r[1], 58));
      label.appendChild(el("title", {}, (r[0] || r[1]) + " (" + r[1] + ", " + r[4] + ")"));
      svg.appendChild(label);
      svg.appendChild(el("rect", {x: Math.min(x(start), x(end)), y: y + 4, width: Math.max(1, Math.abs(x(end) - x(start))),
        height: rowH - 8, "class": "bar " + (r[2] >= 0 ? "up" : "down"), "data-contribution": String(r[2]),
        "data-feature": r[1]}));
      svg.appendChild(el("text", {x: Math.max(x(start), x(end)) + 4, y: y + 17, "class": "wf-value"},
                         (r[2] >= 0 ? "+" : "") + r[2].toFixed(2)));
    });
    var y = top + steps.length * rowH;
    svg.appendChild(el("text", {x: left - 8, y: y + 17, "text-anchor": "end", "class": "wf-label wf-total"},
                       "the top reasons together"));
    svg.appendChild(el("rect", {x: Math.min(x(0), x(cum)), y: y + 4, width: Math.max(1, Math.abs(x(cum) - x(0))),
      height: rowH - 8, "class": "total", "data-total": String(cum)}));
    svg.appendChild(el("text", {x: Math.max(x(0), x(cum)) + 4, y: y + 17, "class": "wf-value"},
                       (cum >= 0 ? "+" : "") + cum.toFixed(2)));
    svg.appendChild(el("line", {x1: x(0), x2: x(0), y1: top, y2: y + rowH, "class": "axis"}));
    svg.appendChild(el("text", {x: left + width / 2, y: y + rowH + 16, "text-anchor": "middle", "class": "wf-axis"},
                       "log-odds of churn added"));
  }
  function weekly(svg, weeks, starts, note) {
    clear(svg);
    if (!weeks) {
      note.textContent = "No event log was given to the report (churnml report --events ...): no weekly activity.";
      return;
    }
    var w = 520, h = 200, pad = 28, barW = (w - 2 * pad) / weeks.length;
    var most = Math.max.apply(null, weeks.concat([1]));
    weeks.forEach(function (n, k) {
      var bh = (h - 2 * pad) * n / most;
      svg.appendChild(el("rect", {x: pad + k * barW + 2, y: h - pad - bh, width: barW - 4, height: Math.max(bh, 0.5),
        "class": "week", "data-count": String(n), "data-week": starts[k]}));
      svg.appendChild(el("text", {x: pad + k * barW + barW / 2, y: h - pad - bh - 4, "text-anchor": "middle",
        "class": "wk-value"}, String(n)));
      if (k % 2 === 0) {
        svg.appendChild(el("text", {x: pad + k * barW + barW / 2, y: h - pad + 14, "text-anchor": "middle",
          "class": "wk-label"}, starts[k].slice(5)));
      }
    });
    svg.appendChild(el("line", {x1: pad, x2: w - pad, y1: h - pad, y2: h - pad, "class": "axis"}));
    var total = weeks.reduce(function (a, b) { return a + b; }, 0);
    note.textContent = "Events in each of the " + weeks.length + " weeks before the as-of date (week starting " +
      starts[0] + " to the one starting " + starts[starts.length - 1] + "): " + total.toLocaleString("en") + " in all.";
  }
  var view = document.getElementById("account-view");
  function open(i) {
    var a = data.accounts[i];
    if (!a) { return; }
    rows.forEach(function (r) { r.classList.toggle("selected", Number(r.dataset.i) === i); });
    document.getElementById("av-title").textContent = "Account " + a.id + ": " + a.p + " churn probability (" +
      a.tier + " risk, rank " + a.rank.toLocaleString("en") + ")";
    var meta = [];
    if (a.plan) { meta.push("plan " + a.plan); }
    if (a.mrr) { meta.push("MRR " + a.mrr); }
    document.getElementById("av-meta").textContent = meta.length ? meta.join(" \\u00b7 ") : "Plan and MRR not known.";
    waterfall(document.getElementById("av-waterfall"), a.reasons);
    weekly(document.getElementById("av-weeks"), a.weeks, data.week_starts, document.getElementById("av-weeks-note"));
    document.getElementById("av-action").textContent = a.action ? "Suggested action (" +
      a.reasons[0][4] + "): " + a.action : "";
    view.hidden = false;
    view.dataset.account = a.id;
  }
  rows.forEach(function (r) {
    r.addEventListener("click", function (e) {
      e.preventDefault();
      open(Number(r.dataset.i));
      if (view.scrollIntoView) { view.scrollIntoView({block: "nearest"}); }
      if (window.history && history.replaceState) {
        try { history.replaceState(null, "", "#account=" + encodeURIComponent(data.accounts[Number(r.dataset.i)].id)); }
        catch (err) { /* file: URLs may refuse; the view is open anyway */ }
      }
    });
  });
  // a link can carry a filter or an account: report.html#filter=payment, report.html#account=123
  var given = /^#filter=(.*)$/.exec(window.location.hash);
  if (given) { box.value = decodeURIComponent(given[1]); filter(); }
  var account = /^#account=(.*)$/.exec(window.location.hash);
  if (account) {
    var wanted = decodeURIComponent(account[1]);
    data.accounts.forEach(function (a, i) { if (a.id === wanted) { open(i); } });
  }
  show();
  document.body.dataset.ready = "yes";
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style><script>{watch}</script></head>
<body><header><h1>{title}</h1><p>{generated}{model} &middot; made by churnml</p></header>
<main>
{body}
</main>
<script>{script}</script>
</body></html>
"""
