"""The retention report: one self-contained HTML page for a retention team, from a scores file.

Everything is inside the file (styles, a few lines of script, plots as embedded
PNG), so it opens offline and can be mailed. The scores are read with DuckDB,
so a file of millions of accounts is summarised without loading it: the page
carries the headline numbers, the risk distribution, the drivers across the
at-risk accounts, and the ranked at-risk list (the top ``top`` accounts; the
scores file has them all). With the model, its test-slice quality against the
baselines and its calibration and gain charts from the training run are added
when the MLflow run can be reached.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from churnml.model import ChurnModel
    from churnml.sources import UsageData

__all__ = ["ReportContext", "format_value", "render_report", "write_report"]

_REQUIRED = ("user_id", "churn_probability", "risk_tier", "rank")


@dataclass(frozen=True)
class ReportContext:
    """What the report knows about the model beyond the scores (all optional)."""

    model_name: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # test-slice metrics of the run
    charts: dict[str, bytes] = field(default_factory=dict)  # PNG bytes: 'calibration', 'gain'
    thresholds: dict[str, float] | None = None
    analytics: str = ""  # HTML of the retention numbers
    realised: dict[str, Any] = field(default_factory=dict)  # the latest evaluated scoring run (monitoring)


def write_report(scores: str | os.PathLike[str], out: str | os.PathLike[str], *, model: ChurnModel | None = None,
                 model_uri: str | None = None, tracking_uri_: str | None = None, data: UsageData | None = None,
                 top: int = 1_000, overwrite: bool = False) -> Path:
    """Render the report of a scores file (``.parquet`` or ``.csv``) to ``out`` atomically.

    With ``data`` (the loaded event log, subscriptions and accounts), the report adds
    the retention numbers of :mod:`churnml.analytics`: churn rate, revenue churn,
    activation, inactive accounts, engagement segments and cohort retention.
    """
    from churnml._io import check_output, write_text

    target = check_output(out, overwrite=overwrite, suffixes=(".html", ".htm"))
    context = ReportContext()
    if model is not None:
        context = _model_context(model, model_uri, tracking_uri_)
    if data is not None:
        activation = list(model.spec.activation_events) if model is not None and model.spec is not None else []
        context = dataclasses.replace(context, analytics=_analytics_html(data, activation))
    return write_text(render_report(scores, context=context, top=top), target, overwrite=overwrite)


def _analytics_html(data: UsageData, activation_events: list[str]) -> str:
    """The retention numbers that apply to this data, as HTML (a part that does not apply is left out)."""
    from churnml import analytics
    from churnml.errors import ChurnMLError

    parts = []

    def attempt(title: str, make: Any) -> None:
        try:
            parts.append(f"<h3>{html.escape(title)}</h3>" + make())
        except ChurnMLError:
            pass

    def churn() -> str:
        frame = analytics.churn_rate(data).tail(12)
        valid = frame.dropna(subset=["churn_rate"])
        mean = float(valid["churn_rate"].mean()) if len(valid) else float("nan")
        lead = (f"<p>Mean monthly churn rate {mean:.1%} (annualised {analytics.annualised(mean):.1%}): accounts "
                "lost during a month over those active at its start.</p>") if len(valid) else ""
        return lead + _img(analytics.rate_figure(frame, "churn_rate", "Monthly churn rate")) + _frame_html(
            frame, percent={c for c in frame.columns if c.endswith("churn_rate")})

    def revenue() -> str:
        frame = analytics.revenue_churn(data).tail(12)
        return _frame_html(frame[["period", "mrr_start", "mrr_churned", "mrr_contraction", "mrr_expansion",
                                  "gross_mrr_churn_pct", "net_mrr_churn_pct"]])

    def activated() -> str:
        if not activation_events:
            raise ConfigError("no activation event")
        frame = analytics.activation(data, events=activation_events).tail(12)
        return _frame_html(frame)

    def quiet() -> str:
        result = analytics.inactive(data)
        return _frame_html(result.counts, percent={"share_of_accounts"})

    def engaged() -> str:
        result = analytics.segments(data)
        return (_frame_html(result.summary, percent={"share", "churn_rate"})
                + f"<p>How the '{html.escape(result.least_engaged)}' segment differs from the rest (effect size = "
                "standardised mean difference):</p>" + _frame_html(result.profile.head(8)))

    def retention() -> str:
        return _img(analytics.cohort_figure(analytics.cohorts(data).tail(12)))

    attempt("Churn rate", churn)
    attempt("Revenue churn", revenue)
    attempt(f"Activation ({', '.join(activation_events)} within 7 days of signup)", activated)
    attempt("Inactive accounts", quiet)
    attempt("Engagement segments", engaged)
    attempt("Retention by signup month", retention)
    return "".join(parts)


def format_value(value: Any, *, percent: bool = False) -> str:
    """One table cell as text: missing as '-', a share as a percentage, numbers with thousands separators.

    >>> format_value(0.1234, percent=True), format_value(1234.5), format_value(1234), format_value(None)
    ('12.3%', '1,234.50', '1,234', '-')
    """
    import numpy as np

    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return "-"
    if percent:
        return f"{value:.1%}"
    if isinstance(value, float | np.floating):
        return f"{value:,.2f}"
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _frame_html(frame: pd.DataFrame, *, percent: set[str] | None = None) -> str:
    percent = percent or set()
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f'<td class="num">{html.escape(format_value(v, percent=c in percent))}</td>'
                                    for c, v in zip(frame.columns, row)) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="plain"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


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
        from churnml.monitoring import latest_realised

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


# ----------------------------------------------------------------- reading the scores


def _summary(scores: str | os.PathLike[str], top: int) -> dict[str, Any]:
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
        head = db.sql(
            f"SELECT count(*), min(as_of), max(as_of), "
            f"count(*) FILTER (WHERE risk_tier = 'high'), count(*) FILTER (WHERE risk_tier = 'medium'), "
            f"count(*) FILTER (WHERE risk_tier = 'low'), {money}, "
            f"avg(churn_probability), min(churn_probability) FILTER (WHERE risk_tier = 'high'), "
            f"min(churn_probability) FILTER (WHERE risk_tier = 'medium') FROM {source}").fetchall()[0]
        reasons = sorted({int(c.split("_")[1]) for c in columns
                          if c.startswith("reason_") and c.split("_")[1].isdigit()})
        drivers = None
        if reasons:
            unions = " UNION ALL ".join(
                f"SELECT reason_{i}_feature AS feature, reason_{i}_contribution AS contribution, "
                f"reason_{i} AS sentence FROM {source} WHERE reason_{i}_feature IS NOT NULL" for i in reasons)
            drivers = db.sql(f"SELECT feature, count(*) AS accounts, sum(contribution) AS total_contribution, "
                             f"any_value(sentence ORDER BY contribution DESC) AS example FROM ({unions}) "
                             "GROUP BY feature ORDER BY accounts DESC, feature LIMIT 15").df()
        histogram = db.sql(f"SELECT least(floor(churn_probability * 50), 49) AS bin, risk_tier, count(*) AS n "
                           f"FROM {source} GROUP BY ALL ORDER BY bin").df()
        shown = ["rank", "user_id", "churn_probability", "risk_tier"]
        shown += ["revenue_at_risk"] if revenue else []
        shown += [f"reason_{i}" for i in reasons]
        listed = db.sql(f"SELECT {', '.join(qi(c) for c in shown)} FROM {source} WHERE risk_tier <> 'low' "
                        f"ORDER BY rank LIMIT {int(top)}").df()
    finally:
        db.close()
    return {"path": path, "accounts": int(head[0]), "as_of": (head[1], head[2]),
            "tiers": {"high": int(head[3]), "medium": int(head[4]), "low": int(head[5])},
            "revenue": head[6], "revenue_at_risk_tiers": head[7], "mean_probability": head[8],
            "cuts": {"high": head[9], "medium": head[10]}, "drivers": drivers, "histogram": histogram,
            "listed": listed}


# ----------------------------------------------------------------- rendering


def render_report(scores: str | os.PathLike[str], *, context: ReportContext | None = None, top: int = 1_000) -> str:
    """The report's HTML text."""
    context = context or ReportContext()
    s = _summary(scores, top)
    n = s["accounts"]
    at_risk = s["tiers"]["high"] + s["tiers"]["medium"]
    first, last = s["as_of"]
    as_of = _day(first) if first == last else f"{_day(first)} to {_day(last)}"
    cards = [("accounts scored", f"{n:,}", f"as of {as_of}" if first is not None else ""),
             ("high risk", f"{s['tiers']['high']:,}", _share(s["tiers"]["high"], n)),
             ("medium risk", f"{s['tiers']['medium']:,}", _share(s["tiers"]["medium"], n)),
             ("low risk", f"{s['tiers']['low']:,}", _share(s["tiers"]["low"], n))]
    if s["revenue"] is not None:
        cards.append(("revenue at risk", f"{s['revenue']:,.0f}",
                      f"{(s['revenue_at_risk_tiers'] or 0):,.0f} in the high and medium tiers; "
                      "probability x monthly revenue"))
    if s["mean_probability"] is not None:
        cards.append(("expected churners", f"{s['mean_probability'] * n:,.0f}",
                      "sum of the calibrated probabilities"))
    sections = [_cards(cards)]
    sections.append(_section("Risk distribution", _img(_histogram_figure(s, context.thresholds)),
                             "How many accounts at each churn probability, coloured by tier."))
    if s["drivers"] is not None and len(s["drivers"]):
        sections.append(_section("What drives the risk", _img(_drivers_figure(s["drivers"])) + _drivers_table(
            s["drivers"]), f"How often each feature is among the top reasons of the {at_risk:,} at-risk accounts "
            "(high and medium tiers), with one account's sentence as an example."))
    sections.append(_section(
        "At-risk accounts", _accounts_table(s["listed"], at_risk),
        f"Ranked by churn probability. Showing the top {min(len(s['listed']), at_risk):,} of {at_risk:,} "
        f"at-risk accounts; the scores file {html.escape(s['path'].name)} has all {n:,}. "
        "Click a column to sort; type to filter (or open the page with #filter=text)."))
    if context.analytics:
        sections.append(_section("Retention numbers", context.analytics,
                                 "The standard numbers of the whole account base, from the same data."))
    if context.metrics or context.charts:
        sections.append(_model_section(context))
    if context.realised:
        from churnml.monitoring import realised_html

        sections.append(_section("How the last evaluated scores turned out", realised_html(context.realised),
                                 "Expected figures are what the calibrated probabilities promised when the list was "
                                 "made; realised ones are what happened over the horizon (`churnml evaluate`)."))
    title = "Churn risk report"
    return _PAGE.format(title=title, generated=html.escape(f"{n:,} accounts, as of {as_of}"),
                        model=(" &middot; " + html.escape(f"model {context.model_name}")) if context.model_name else "",
                        body="\n".join(sections), script=_SCRIPT, style=_STYLE, watch=_WATCH)


def _day(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def _share(count: int, total: int) -> str:
    return f"{count / total:.1%} of accounts" if total else ""


def _cards(cards: list[tuple[str, str, str]]) -> str:
    items = "".join(f'<div class="card"><div class="label">{html.escape(a)}</div>'
                    f'<div class="value" data-card="{html.escape(a)}">{html.escape(b)}</div>'
                    f'<div class="note">{html.escape(c)}</div></div>' for a, b, c in cards)
    return f'<section class="cards">{items}</section>'


def _section(title: str, body: str, lead: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2><p class=\"lead\">{lead}</p>{body}</section>"


def _img(figure: Figure | bytes, alt: str = "chart") -> str:
    if isinstance(figure, bytes):
        data = figure
    else:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
        data = buffer.getvalue()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


_COLOURS = {"high": "#c0392b", "medium": "#e67e22", "low": "#7f8c8d"}


def _histogram_figure(s: dict[str, Any], thresholds: dict[str, float] | None) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2), layout="constrained")
    ax = figure.add_subplot()
    hist = s["histogram"]
    bottom = None
    import numpy as np

    bins = np.arange(50)
    for tier in ("low", "medium", "high"):
        counts = np.zeros(50)
        part = hist[hist["risk_tier"] == tier]
        counts[part["bin"].astype(int).to_numpy()] = part["n"].to_numpy()
        ax.bar(bins / 50 + 0.01, counts, width=0.02, bottom=bottom, color=_COLOURS[tier], label=tier)
        bottom = counts if bottom is None else bottom + counts
    cuts = thresholds or {k: v for k, v in s["cuts"].items() if v is not None}
    for tier, cut in cuts.items():
        ax.axvline(float(cut), color=_COLOURS[tier], linestyle="--", linewidth=1)
    top = float(hist["bin"].max() + 2) / 50 if len(hist) else 1.0
    ax.set(xlabel="churn probability", ylabel="accounts", xlim=(0, min(1.0, top)))
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


def _accounts_table(listed: pd.DataFrame, at_risk: int) -> str:
    import pandas as pd

    headers = "".join(f'<th data-kind="{"num" if c in ("rank", "churn_probability", "revenue_at_risk") else "text"}"'
                      f">{html.escape(c.replace('_', ' '))}</th>" for c in listed.columns)
    body = []
    for row in listed.itertuples(index=False):
        cells = []
        for column, value in zip(listed.columns, row):
            if column == "churn_probability":
                cells.append(f'<td class="num" data-value="{float(value)!r}">{value:.1%}</td>')
            elif column == "revenue_at_risk":
                text = "" if pd.isna(value) else f"{value:,.2f}"
                cells.append(f'<td class="num" data-value="{0.0 if pd.isna(value) else float(value)!r}">{text}</td>')
            elif column == "rank":
                cells.append(f'<td class="num" data-value="{int(value)}">{int(value):,}</td>')
            elif column == "risk_tier":
                cells.append(f'<td><span class="tier {html.escape(str(value))}">{html.escape(str(value))}</span></td>')
            else:
                cells.append(f"<td>{'' if pd.isna(value) else html.escape(str(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="tools"><input id="filter" type="search" placeholder="Filter (account, tier, reason)...">'
            f' <span id="shown-count" data-total="{len(listed)}" data-at-risk="{at_risk}"></span></div>'
            f'<div class="scroll"><table id="accounts"><thead><tr>{headers}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _model_section(context: ReportContext) -> str:
    m = context.metrics
    parts = []
    rows = []
    for name, prefix in (("model", "test."), ("logistic regression", "baseline.logistic.test."),
                         ("recency rule", "baseline.recency.test."), ("BG/NBD", "baseline.bgnbd.test.")):
        if f"{prefix}roc_auc" in m:
            rows.append(f"<tr><td>{name}</td>" + "".join(
                f'<td class="num">{m[prefix + key]:.3f}</td>' if prefix + key in m else "<td>-</td>"
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
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var count = document.getElementById("shown-count");
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
  // a link can carry a filter: report.html#filter=payment
  var given = /^#filter=(.*)$/.exec(window.location.hash);
  if (given) { box.value = decodeURIComponent(given[1]); filter(); }
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
