"""The history of a registered model's scoring runs: what each expected, what happened, and what moved.

Each scoring run logs its expected figures (:mod:`churnml.scoring`) and its drift (PSI per
feature); ``churnml evaluate`` later adds the realised ones. :func:`history` lines the runs
up by as-of date and flags a run when

- **ranking**: its realised ROC-AUC fell below the expected one by more than ``auc_drop``
  (default 0.05): the model ranks these accounts worse than its probabilities promised;
- **calibration**: its realised churners lie outside the expected band (the central 99%
  of the Poisson-binomial count under the scored probabilities): the probabilities were
  wrong for this population, too high or too low.

Runs whose label window has not closed (or that were not evaluated yet) are listed as
pending and never flagged. The largest drifts of each run are shown beside it, so a drop
can be traced to the inputs that moved.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["evaluation_lines", "expected_lines", "flags_of", "history", "history_figure", "history_lines",
           "latest_realised", "realised_html"]

DEFAULT_AUC_DROP = 0.05
_COLUMNS = ["as_of", "run_id", "model_version", "accounts", "expected_roc_auc", "realised_roc_auc",
            "expected_churn_rate", "churn_rate_low", "churn_rate_high", "realised_churn_rate", "largest_drift",
            "status", "flags"]


def flags_of(row: dict[str, Any], *, auc_drop: float = DEFAULT_AUC_DROP) -> list[str]:
    """The flags of one run (``row`` with the columns of :func:`history`), each a short sentence.

    >>> flags_of({"expected_roc_auc": 0.80, "realised_roc_auc": 0.70, "churn_rate_low": 0.09,
    ...           "churn_rate_high": 0.11, "realised_churn_rate": 0.10, "expected_churn_rate": 0.10})
    ['ROC-AUC 0.700 realised, 0.800 expected (fell by 0.100 > 0.05)']
    """
    out = []
    expected, realised = row.get("expected_roc_auc"), row.get("realised_roc_auc")
    if _known(expected) and _known(realised) and expected - realised > auc_drop:
        out.append(f"ROC-AUC {realised:.3f} realised, {expected:.3f} expected (fell by {expected - realised:.3f} "
                   f"> {auc_drop:g})")
    rate, low, high = row.get("realised_churn_rate"), row.get("churn_rate_low"), row.get("churn_rate_high")
    if _known(rate) and _known(low) and _known(high) and not low <= rate <= high:
        out.append(f"churn rate {rate:.1%} realised, {row.get('expected_churn_rate', math.nan):.1%} expected "
                   f"(outside the band {low:.1%} .. {high:.1%}: calibration broke)")
    return out


def _known(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def history(model_name: str, *, tracking_uri_: str | None = None, auc_drop: float = DEFAULT_AUC_DROP,
            drifts: int = 3) -> pd.DataFrame:
    """One row per scoring run of the registered model ``model_name``, earliest as-of date first.

    Columns: ``as_of``, ``run_id``, ``model_version``, ``accounts``, ``expected_roc_auc``,
    ``realised_roc_auc``, ``expected_churn_rate`` with its band ``churn_rate_low`` .. ``churn_rate_high``,
    ``realised_churn_rate``, ``largest_drift`` (the ``drifts`` features with the largest PSI, as text),
    ``status`` ('evaluated', or 'pending until <date>') and ``flags`` (a list of sentences, empty when fine).

    Raises
    ------
    churnml.errors.ConfigError
        ``auc_drop`` is negative, or the model has no scoring run in the store (nothing to monitor).
    """
    from churnml.tracking import scoring_runs, tracking_uri

    if not isinstance(auc_drop, int | float) or auc_drop < 0:
        raise ConfigError(f"The 'auc_drop' parameter of history must be a number >= 0. Got {auc_drop!r} instead.")
    runs = scoring_runs(model_name, tracking_uri_=tracking_uri_)
    if not runs:
        raise ConfigError(f"The registered model {model_name!r} has no scoring run in the tracking store "
                          f"{tracking_uri(tracking_uri_)!r}: there is nothing to monitor. Fix: score with "
                          f"--model models:/{model_name}@champion (runs are logged), or pass --tracking-uri.")
    rows = []
    for run in runs:
        metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
        psi = sorted(((v, k.removeprefix("psi.")) for k, v in metrics.items() if k.startswith("psi.")), reverse=True)
        accounts = metrics.get("accounts", math.nan)
        row = {"as_of": params.get("as_of"), "run_id": run.info.run_id,
               "model_version": tags.get("model.version"), "accounts": accounts,
               "expected_roc_auc": metrics.get("expected.roc_auc", math.nan),
               "realised_roc_auc": metrics.get("realised.roc_auc", math.nan),
               "expected_churn_rate": metrics.get("expected.churn_rate", math.nan),
               "churn_rate_low": metrics.get("expected.churn_rate_low", math.nan),
               "churn_rate_high": metrics.get("expected.churn_rate_high", math.nan),
               "realised_churn_rate": metrics.get("realised.churn_rate", math.nan),
               "largest_drift": ", ".join(f"{name} {value:.2f}" for value, name in psi[:drifts]),
               "status": ("evaluated" if "realised.roc_auc" in metrics or "realised.churn_rate" in metrics
                          else f"pending until {params.get('label_window_closes', '?')}")}
        row["flags"] = flags_of(row, auc_drop=auc_drop)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return frame.sort_values(["as_of", "run_id"], kind="stable").reset_index(drop=True)


def history_figure(frame: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Expected against realised over the runs' as-of dates: ROC-AUC above, churn rate (with the expected
    band) below; flagged runs ringed in red."""
    from matplotlib.figure import Figure

    if frame.empty:
        raise ConfigError("No scoring run to plot.")
    days = pd.to_datetime(frame["as_of"])
    figure = Figure(figsize=(8, 5.5), layout="constrained")
    auc, rate = figure.subplots(2, 1, sharex=True)
    auc.plot(days, frame["expected_roc_auc"], marker="o", linestyle="--", color="#2c3e50", label="expected")
    auc.plot(days, frame["realised_roc_auc"], marker="s", color="#e67e22", label="realised")
    rate.fill_between(days, frame["churn_rate_low"], frame["churn_rate_high"], color="#2c3e50", alpha=0.15,
                      label="expected band")
    rate.plot(days, frame["expected_churn_rate"], marker="o", linestyle="--", color="#2c3e50", label="expected")
    rate.plot(days, frame["realised_churn_rate"], marker="s", color="#e67e22", label="realised")
    flagged = frame["flags"].map(bool).to_numpy()
    if flagged.any():
        auc.scatter(days[flagged], frame.loc[flagged, "realised_roc_auc"], s=160, facecolors="none",
                    edgecolors="#c0392b", linewidths=2, label="flagged", zorder=3)
        rate.scatter(days[flagged], frame.loc[flagged, "realised_churn_rate"], s=160, facecolors="none",
                     edgecolors="#c0392b", linewidths=2, label="flagged", zorder=3)
    auc.set(ylabel="ROC-AUC", title=title or "Scoring runs: expected against realised")
    rate.set(ylabel="churn rate", xlabel="as of")
    rate.yaxis.set_major_formatter("{x:.0%}")
    for ax in (auc, rate):
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    figure.autofmt_xdate()
    return figure


# ----------------------------------------------------------------- text for the terminal


def expected_lines(expected: dict[str, float]) -> list[str]:
    """A scoring run's expected figures, with what they assume."""
    from churnml.scoring import ASSUMPTION

    level = expected.get("band_level", 0.99)
    lines = [f"expected churners {expected['churners']:,.1f} of {expected['accounts']:,.0f} "
             f"({expected['churn_rate']:.1%}; {level:.0%} band {expected['churners_low']:,.0f} .. "
             f"{expected['churners_high']:,.0f}), expected ROC-AUC {expected['roc_auc']:.3f}"]
    for tier in ("high", "medium"):
        lines.append(f"  at the {tier} cut-off: expected precision {expected[f'precision_at.{tier}']:.1%}, "
                     f"recall {expected[f'recall_at.{tier}']:.1%}; expected churners in the {tier} tier "
                     f"{expected[f'tier.{tier}.churners']:,.1f}")
    lines.append(f"  expected churners in the low tier {expected['tier.low.churners']:,.1f}")
    lines.append(f"  ({ASSUMPTION})")
    return lines


def _figure(value: float, fmt: str) -> str:
    return "-" if not _known(value) else format(value, fmt)


def evaluation_lines(result: Any, model: Any = None) -> list[str]:
    """An evaluation as aligned text: per model, then the model's tiers, then the verdict."""
    definition = model.churn_definition() if model is not None else None
    what = f" ({definition.kind} churn, {definition.horizon_days}-day horizon)" if definition is not None else ""
    table = result.metrics
    lines = [f"scores as of {result.as_of}: {int(table['accounts'].iloc[0]):,} accounts labelled{what}, label "
             f"window closed {result.label_window_closes}"]
    if result.eligible_not_scored:
        lines.append(f"({result.eligible_not_scored:,} accounts eligible at the date in this data were not scored "
                     "and are left out)")
    lines.append(f"{'model':<9}  {'expected':>9}  {'churned':>8}  {'ROC-AUC':>7}  {'PR-AUC':>6}  {'lift@10':>7}  "
                 f"{'capt@10':>7}  {'lift@20':>7}  {'capt@20':>7}  {'ECE':>5}")
    for name, row in table.iterrows():
        lines.append(f"{name:<9}  {row['expected_churners']:>9,.1f}  {row['churners']:>8,.0f}  "
                     f"{_figure(row['roc_auc'], '.3f'):>7}  {_figure(row['pr_auc'], '.3f'):>6}  "
                     f"{_figure(row['lift_at_10'], '.2f'):>7}  {_figure(row['capture_at_10'], '.1%'):>7}  "
                     f"{_figure(row['lift_at_20'], '.2f'):>7}  {_figure(row['capture_at_20'], '.1%'):>7}  "
                     f"{_figure(row['ece'], '.3f'):>5}")
    lines.append("expected = sum of the scored probabilities; churned = realised churners")
    lines.append(f"{'tier':<7}  {'accounts':>8}  {'expected':>9}  {'churned':>8}  {'precision exp/real':>18}  "
                 f"{'recall exp/real':>15}")
    for row in result.tiers[result.tiers["model"] == "model"].itertuples(index=False):
        lines.append(f"{row.tier:<7}  {row.accounts:>8,}  {row.expected_churners:>9,.1f}  {row.churners:>8,.0f}  "
                     f"{_figure(row.expected_precision, '.1%') + ' / ' + _figure(row.precision, '.1%'):>18}  "
                     f"{_figure(row.expected_recall, '.1%') + ' / ' + _figure(row.recall, '.1%'):>15}")
    expected, model_row = result.expected, table.loc["model"]
    lines.append(f"ROC-AUC {_figure(model_row['roc_auc'], '.3f')} realised against {expected['roc_auc']:.3f} "
                 f"expected; churners {model_row['churners']:,.0f} against the {expected['band_level']:.0%} band "
                 f"{expected['churners_low']:,.0f} .. {expected['churners_high']:,.0f}: "
                 + ("calibration held" if result.churners_in_band else "outside the band, calibration broke"))
    return lines


def history_lines(frame: pd.DataFrame, model_name: str) -> list[str]:
    """The history as aligned text, flags under their run."""
    lines = [f"scoring runs of {model_name}: {len(frame)}, {int(frame['flags'].map(bool).sum())} flagged",
             f"{'as of':<10}  {'version':>7}  {'accounts':>8}  {'AUC exp':>7}  {'AUC real':>8}  {'rate exp':>8}  "
             f"{'band':>15}  {'rate real':>9}  {'status':<22}  largest drift (PSI)"]
    for row in frame.itertuples(index=False):
        band = (f"{row.churn_rate_low:.1%}..{row.churn_rate_high:.1%}" if _known(row.churn_rate_low) else "-")
        lines.append(f"{row.as_of!s:<10}  {row.model_version or '-':>7}  {_figure(row.accounts, ',.0f'):>8}  "
                     f"{_figure(row.expected_roc_auc, '.3f'):>7}  {_figure(row.realised_roc_auc, '.3f'):>8}  "
                     f"{_figure(row.expected_churn_rate, '.1%'):>8}  {band:>15}  "
                     f"{_figure(row.realised_churn_rate, '.1%'):>9}  {row.status:<22}  {row.largest_drift or '-'}")
        for flag in row.flags:
            lines.append(f"  FLAG {row.as_of}: {flag}")
    return lines


def latest_realised(model_run_id: str, *, tracking_uri_: str | None = None) -> dict[str, Any]:
    """The latest evaluated scoring run of the model trained in ``model_run_id``: ``as_of``, ``run_id`` and its
    ``expected.*`` and ``realised.*`` metrics; empty when none was evaluated (or the store cannot be read)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from churnml.tracking import tracking_uri

    uri = tracking_uri(tracking_uri_)
    client = MlflowClient(uri, uri)
    escaped = model_run_id.replace("'", "\\'")
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, f"tags.`churnml.kind` = 'scoring' AND tags.`model.run_id` = "
                                  f"'{escaped}'", max_results=1000) if experiments else []
    except MlflowException:
        return {}
    evaluated = [r for r in runs if "realised.roc_auc" in r.data.metrics]
    if not evaluated:
        return {}
    latest = max(evaluated, key=lambda r: (r.data.params.get("as_of") or "", r.info.start_time or 0))
    return {"as_of": latest.data.params.get("as_of"), "run_id": latest.info.run_id,
            **{k: v for k, v in latest.data.metrics.items() if k.startswith(("expected.", "realised."))}}


def realised_html(figures: dict[str, Any]) -> str:
    """The figures of :func:`latest_realised` as an HTML table (expected against realised)."""
    import html

    rows = [("ROC-AUC", "roc_auc", ".3f"), ("churn rate", "churn_rate", ".1%"),
            ("churners", "churners", ",.0f"), ("churners in the high tier", "tier.high.churners", ",.0f"),
            ("precision at the high cut-off", "precision_at.high", ".1%"),
            ("recall at the high cut-off", "recall_at.high", ".1%"),
            ("precision at the medium cut-off", "precision_at.medium", ".1%"),
            ("recall at the medium cut-off", "recall_at.medium", ".1%")]
    body = "".join(f"<tr><td>{html.escape(label)}</td>"
                   f'<td class="num">{html.escape(_figure(figures.get("expected." + key, math.nan), fmt))}</td>'
                   f'<td class="num">{html.escape(_figure(figures.get("realised." + key, math.nan), fmt))}</td></tr>'
                   for label, key, fmt in rows)
    flags = flags_of({"expected_roc_auc": figures.get("expected.roc_auc", math.nan),
                      "realised_roc_auc": figures.get("realised.roc_auc", math.nan),
                      "expected_churn_rate": figures.get("expected.churn_rate", math.nan),
                      "churn_rate_low": figures.get("expected.churn_rate_low", math.nan),
                      "churn_rate_high": figures.get("expected.churn_rate_high", math.nan),
                      "realised_churn_rate": figures.get("realised.churn_rate", math.nan)})
    verdict = ("; ".join(flags) + ": consider retraining.") if flags else "Ranking and calibration held."
    return (f"<p>Scores as of {html.escape(str(figures.get('as_of')))} (scoring run "
            f"{html.escape(str(figures.get('run_id')))}). {html.escape(verdict)}</p>"
            '<table class="plain"><thead><tr><th></th><th>expected</th><th>realised</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")
