"""The ``churnml analytics`` commands: churn rate, revenue churn, activation, inactive users, segments,
cohorts.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from churnml.cli._app import _Group, _console, app
from churnml.cli._options import (ActiveWindowOpt, GapOpt, OverwriteOpt, SourceOptions, _SOURCE, _load_usage,
                                  _with_source)

analytics_app = typer.Typer(cls=_Group, help="Churn rate, revenue churn, activation, inactive users, segments, cohorts.",
                            no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")


class PeriodChoice(str, enum.Enum):
    week = "week"
    month = "month"
    quarter = "quarter"


class Basis(str, enum.Enum):
    auto = "auto"
    subscriptions = "subscriptions"
    inactivity = "inactivity"


class SegmentMethod(str, enum.Enum):
    rules = "rules"
    quantiles = "quantiles"


PeriodOpt = Annotated[PeriodChoice, typer.Option("--period", help="Length of a period.")]
AsOfOpt = Annotated[Optional[str], typer.Option(
    "--as-of", help="Date (YYYY-MM-DD); default the day after the last event.")]
AnalyticsOut = Annotated[Optional[Path], typer.Option("--out", help="Write the table, .parquet or .csv.")]
PlotOpt = Annotated[Optional[Path], typer.Option("--plot", help="Write a chart (PNG).")]


def _show(frame: Any, title: str, out: Path | None, overwrite: bool, *, percent: tuple[str, ...] = (),
          index: bool = False) -> None:
    from rich import box
    from rich.table import Table

    from churnml._io import write_table
    from churnml.reporting import format_value

    shown = frame.reset_index() if index else frame
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in shown.columns:
        table.add_column(str(column).replace("_", " "), justify="left" if column in ("segment", "feature") else "right")
    for row in shown.itertuples(index=False):
        # cohort columns (months since signup, ints) hold shares
        table.add_row(*(format_value(v, percent=c in percent or (isinstance(c, int) and isinstance(v, float)))
                        for c, v in zip(shown.columns, row)))
    console = _console()
    # as wide as the table needs: a narrow terminal wraps long lines rather than losing "2010-…" to "…"
    needed = console.measure(table, options=console.options.update(max_width=10_000)).maximum
    wide = _console()
    wide.width = max(console.width, needed)
    wide.print(table)
    if out is not None:
        saved = shown.copy()
        saved.columns = [str(c) for c in saved.columns]
        path = write_table(saved, out, overwrite=overwrite)
        console.print(f"wrote {path}", soft_wrap=True)


def _plot(figure: Any, plot: Path | None) -> None:
    if plot is not None:
        from churnml._io import write_figure

        _console().print(f"wrote {write_figure(figure, plot)}", soft_wrap=True)


@analytics_app.command("churn-rate")
@_with_source
def churn_rate_command(
    source: SourceOptions = _SOURCE, period: PeriodOpt = PeriodChoice.month, as_of: AsOfOpt = None,
    basis: Annotated[Basis, typer.Option("--basis", help="Active = a running subscription (auto when loaded) or "
                                         "recent events.")] = Basis.auto,
    active_window_days: ActiveWindowOpt = None,
    gap_tolerance_days: GapOpt = None,
    out: AnalyticsOut = None, plot: PlotOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Accounts active at the start of each period, lost during it, churn rate (and annualised)."""
    from churnml.contract import DEFAULT_ACTIVE_WINDOW_DAYS
    from churnml.reporting import analytics

    data = _load_usage(source)
    frame = analytics.churn_rate(data, period=period.value, basis=basis.value, active_window_days=active_window_days or DEFAULT_ACTIVE_WINDOW_DAYS,
                                 gap_tolerance_days=gap_tolerance_days or 0, as_of=as_of)
    rates = tuple(c for c in frame.columns if c.endswith("churn_rate"))
    _show(frame, f"churn rate per {period.value}", out, overwrite, percent=rates)
    _console().print(analytics.mean_churn_rate(frame, period.value).sentence(), soft_wrap=True)
    _plot(analytics.rate_figure(frame, "churn_rate", f"Churn rate per {period.value}"), plot)


@analytics_app.command("revenue-churn")
@_with_source
def revenue_churn_command(
    source: SourceOptions = _SOURCE, period: PeriodOpt = PeriodChoice.month, as_of: AsOfOpt = None,
    out: AnalyticsOut = None, plot: PlotOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Gross and net MRR churn per period (net is negative when expansion outgrows the losses)."""
    from churnml.reporting import analytics

    data = _load_usage(source)
    frame = analytics.revenue_churn(data, period=period.value, as_of=as_of)
    _show(frame, f"MRR churn per {period.value} (percentages of the MRR at the start)", out, overwrite)
    _plot(analytics.rate_figure(frame, "net_mrr_churn_pct", f"Net MRR churn per {period.value}"), plot)


@analytics_app.command("activation")
@_with_source
def activation_command(
    event: Annotated[list[str], typer.Option("--event", help="Event type that counts as activation (repeatable).")],
    days: Annotated[int, typer.Option("--days", min=1, help="Within this many days of signup.")] = 7,
    source: SourceOptions = _SOURCE, period: PeriodOpt = PeriodChoice.month, as_of: AsOfOpt = None,
    out: AnalyticsOut = None, plot: PlotOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Activation rate per signup cohort (activated / acquired x 100) and median days to activation."""
    from churnml.reporting import analytics

    data = _load_usage(source)
    frame = analytics.activation(data, events=event, days=days, period=period.value, as_of=as_of)
    _show(frame, f"activation ({', '.join(event)} within {days} days of signup) per signup {period.value}", out,
          overwrite)
    total = frame["acquired"].sum()
    if total:
        _console().print(f"overall: {frame['activated'].sum():,} of {total:,} activated "
                         f"({frame['activated'].sum() / total * 100:.1f}%)")
    _plot(analytics.rate_figure(frame, "activation_rate_pct", "Activation rate per signup cohort"), plot)


@analytics_app.command("inactive")
@_with_source
def inactive_command(
    source: SourceOptions = _SOURCE, period: PeriodOpt = PeriodChoice.month, as_of: AsOfOpt = None,
    thresholds: Annotated[str, typer.Option("--thresholds", help="Days, comma-separated.")] = "30,60,90",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the inactive accounts (user_id, last "
                                                "event, days inactive), .parquet or .csv.")] = None,
    plot: PlotOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Accounts inactive for at least each threshold as of a date, the list, and the counts over time."""
    from churnml.errors import ConfigError
    from churnml.reporting import analytics

    data = _load_usage(source)
    try:
        days = [int(t) for t in thresholds.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--thresholds must be whole days, comma-separated. Got {thresholds!r} instead.") from None
    result = analytics.inactive(data, as_of=as_of, thresholds=days, period=period.value)
    _show(result.counts, f"inactive accounts as of {result.as_of}", None, overwrite, percent=("share_of_accounts",))
    _show(result.over_time, f"inactive accounts at the start of each {period.value}", None, overwrite)
    if out is not None:
        from churnml._io import write_table

        _console().print(f"wrote {write_table(result.users, out, overwrite=overwrite)} "
                         f"({len(result.users):,} accounts)", soft_wrap=True)
    if plot is not None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(8, 3.5), layout="constrained")
        ax = figure.add_subplot()
        import pandas as pd

        for column in result.over_time.columns[2:]:
            ax.plot(pd.to_datetime(result.over_time["date"]), result.over_time[column], marker="o",
                    label=column.replace("_", " "))
        ax.set(title="Inactive accounts over time", ylabel="accounts")
        ax.legend()
        _plot(figure, plot)


@analytics_app.command("segments")
@_with_source
def segments_command(
    source: SourceOptions = _SOURCE, as_of: AsOfOpt = None,
    method: Annotated[SegmentMethod, typer.Option("--method", help="Fixed rules or recency/frequency quintiles.")]
    = SegmentMethod.rules,
    horizon_days: Annotated[int, typer.Option("--horizon-days", min=1, help="Churn rate per segment: no event in "
                                              "this many days after the date.")] = 30,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write every account's segment, .parquet or "
                                                ".csv.")] = None,
    plot: PlotOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Engagement segments from recency and frequency, their churn rates, and the least-engaged profile."""
    from churnml.reporting import analytics

    data = _load_usage(source)
    result = analytics.segments(data, as_of=as_of, method=method.value, horizon_days=horizon_days)
    _show(result.summary, f"engagement segments as of {result.as_of} ({method.value})", None, overwrite,
          percent=("share", "churn_rate"))
    _show(result.profile.head(10), f"how '{result.least_engaged}' differs from the rest (effect size = "
          "standardised mean difference)", None, overwrite)
    if out is not None:
        from churnml._io import write_table

        frame = result.accounts.assign(segment=result.accounts["segment"].astype(str))
        _console().print(f"wrote {write_table(frame, out, overwrite=overwrite)}", soft_wrap=True)
    if plot is not None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(7, 3.5), layout="constrained")
        ax = figure.add_subplot()
        ax.bar(result.summary["segment"].astype(str), result.summary["accounts"], color="#2c3e50")
        ax.set(title=f"Engagement segments as of {result.as_of}", ylabel="accounts")
        _plot(figure, plot)


@analytics_app.command("cohorts")
@_with_source
def cohorts_command(
    source: SourceOptions = _SOURCE, as_of: AsOfOpt = None,
    out: AnalyticsOut = None, plot: PlotOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Retention matrix: signup month x months since signup (share of the cohort active)."""
    from churnml.reporting import analytics

    data = _load_usage(source)
    matrix = analytics.cohorts(data, as_of=as_of)
    _show(matrix, "retention by signup month (share of the cohort with an event, by months since signup)", out,
          overwrite, index=True)
    _plot(analytics.cohort_figure(matrix), plot)
