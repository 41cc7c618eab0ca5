"""The options commands share, defined once: the data options (one :class:`SourceOptions`, given to a
command by :func:`_with_source`), the churn definition's and the features' options, and the loading
helpers every command that reads data calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from churnml.cli._app import _cli_spelling, _console

if TYPE_CHECKING:
    from rich.console import Console

    from churnml.contract import LoadReport


Events = Annotated[Optional[str], typer.Option(
    "--events", help="Event log: Parquet file, folder or glob, or a CSV file.", rich_help_panel="Data")]
UserCol = Annotated[Optional[str], typer.Option(
    "--user-col", help="Column or SQL expression for user_id.", rich_help_panel="Data")]
TimeCol = Annotated[Optional[str], typer.Option(
    "--time-col", help="Column or SQL expression for timestamp.", rich_help_panel="Data")]
TypeCol = Annotated[Optional[str], typer.Option(
    "--type-col", help="Column or SQL expression for event_type.", rich_help_panel="Data")]
ValueCol = Annotated[Optional[str], typer.Option(
    "--value-col", help="Column or SQL expression for value, e.g. 'Quantity * UnitPrice'.",
    rich_help_panel="Data")]
Where = Annotated[Optional[str], typer.Option(
    "--where", help="SQL filter on events; dropped rows are counted.", rich_help_panel="Data")]
Duplicates = Annotated[Optional[str], typer.Option(
    "--duplicates", help="Exact duplicate event rows: keep, drop or error.", rich_help_panel="Data")]
Subscriptions = Annotated[Optional[str], typer.Option(
    "--subscriptions", help="Subscriptions table (mappings in the config file).", rich_help_panel="Data")]
Accounts = Annotated[Optional[str], typer.Option(
    "--accounts", help="Accounts table (mappings in the config file).", rich_help_panel="Data")]
TableOpt = Annotated[Optional[str], typer.Option(
    "--table", help="A table that already has a label (instead of an event log).", rich_help_panel="Data")]
LabelOpt = Annotated[Optional[str], typer.Option("--label", help="Label column of --table.", rich_help_panel="Data")]
IdColOpt = Annotated[Optional[str], typer.Option("--id-col", help="Id column of --table.", rich_help_panel="Data")]
PositiveOpt = Annotated[Optional[str], typer.Option(
    "--positive", help="The --label value that means churned, when it is not a usual spelling (yes, true, 1, ...).",
    rich_help_panel="Data")]
Config = Annotated[Optional[Path], typer.Option(
    "--config", help="churnml.toml with sources and mappings; flags override it.",
    rich_help_panel="Data")]


class Churn(str, enum.Enum):
    inactivity = "inactivity"
    subscription = "subscription"


class Engine(str, enum.Enum):
    duckdb = "duckdb"
    spark = "spark"


ChurnOpt = Annotated[Optional[Churn], typer.Option(
    "--churn", help="Churn definition: inactivity (no event in the horizon) or subscription (it ends unrenewed); default inactivity.", rich_help_panel="Churn")]
HorizonOpt = Annotated[Optional[int], typer.Option(
    "--horizon-days", min=1, help="Label window in days (default 90 for inactivity, 30 for subscription).",
    rich_help_panel="Churn")]
ActiveWindowOpt = Annotated[Optional[int], typer.Option(
    "--active-window-days", min=1,
    help="Inactivity churn: eligible if active in this many days before the date (default 90).",
    rich_help_panel="Churn")]
GapOpt = Annotated[Optional[int], typer.Option(
    "--gap-tolerance-days", min=0, help="Subscription churn: a restart within this many days is no churn (default 0).",
    rich_help_panel="Churn")]
LeadOpt = Annotated[Optional[int], typer.Option(
    "--lead-time-days", min=0, help="Gap between the features' cutoff and the label window (default 0).",
    rich_help_panel="Churn")]
EngineOpt = Annotated[Engine, typer.Option(
    "--engine", help="Where the features are computed: DuckDB on this machine, or Spark (pip install "
    "'churnml\\[spark]'; the output is then a Parquet folder written by Spark).", rich_help_panel="Engine")]
SparkMasterOpt = Annotated[Optional[str], typer.Option(
    "--spark-master", help="Spark master URL for --engine spark (yarn, spark://HOST:7077, k8s://..., local[2]). "
    "Default: spark-submit's --master when run under it, else local[*].", rich_help_panel="Engine")]
ActivationOpt = Annotated[Optional[list[str]], typer.Option(
    "--activation-event", help="Event type that marks activation (repeatable).", rich_help_panel="Features")]
WindowsOpt = Annotated[Optional[str], typer.Option(
    "--windows", help="Feature windows in days, comma-separated (default 7,30,90).", rich_help_panel="Features")]
TrendWindowsOpt = Annotated[Optional[str], typer.Option(
    "--trend-windows", help="Trend windows in days, comma-separated, '' for none (default 7,30).",
    rich_help_panel="Features")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output file, .parquet or .csv.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")]
ModelOpt = Annotated[str, typer.Option(
    "--model", help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model, or a model folder.")]
TopKOpt = Annotated[int, typer.Option(
    "--top-k", min=1, help="Reasons per account (distinct facts, strongest first).", rich_help_panel="Output")]
TrackingOpt = Annotated[Optional[str], typer.Option(
    "--tracking-uri", help="MLflow tracking store (default $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).",
    rich_help_panel="MLflow")]


def _definition(settings: Any, churn: Churn | None, horizon_days: int | None, active_window_days: int | None,
                gap_tolerance_days: int | None, lead_time_days: int | None) -> Any:
    """The churn definition: flags, then the config file's [churn], then the defaults."""
    kind = churn.value if churn is not None else settings.churn.get("definition", "inactivity")
    if horizon_days is None and "horizon_days" not in settings.churn:
        horizon_days = 90 if kind == "inactivity" else 30
    return settings.definition({"definition": kind, "horizon_days": horizon_days,
                                "active_window_days": active_window_days, "gap_tolerance_days": gap_tolerance_days,
                                "lead_time_days": lead_time_days})


def _builder(settings: Any, windows: str | None, trend_windows: str | None, activation_event: list[str] | None,
             engine: Engine) -> Any:
    from churnml.errors import ConfigError

    def days(text: str | None, option: str) -> tuple[int, ...] | None:
        if text is None:
            return None
        try:
            return tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError as error:
            raise ConfigError(f"{option} must be whole days separated by commas. Got {text!r} instead.") from error

    return settings.feature_builder({"windows": days(windows, "--windows"),
                                     "trend_windows": days(trend_windows, "--trend-windows"),
                                     "activation_events": activation_event or None, "engine": engine.value})


def _settings(config: Path | None) -> Any:
    from churnml.config import read_config

    return read_config(config)


@dataclasses.dataclass(frozen=True)
class SourceOptions:
    """The data options every command that reads an event log shares (the Data panel of its help)."""

    events: str | None = None
    user_col: str | None = None
    time_col: str | None = None
    type_col: str | None = None
    value_col: str | None = None
    where: str | None = None
    time_format: str | None = None
    drop_null_user_ids: bool = False
    duplicates: str | None = None
    outliers: str | None = None
    subscriptions: str | None = None
    accounts: str | None = None
    config: Path | None = None

    def settings(self) -> Any:
        """The config file's settings (empty without ``--config``)."""
        return _settings(self.config)


_SOURCE = SourceOptions()
TimeFormat = Annotated[Optional[str], typer.Option(
    "--time-format", help="strptime format of text timestamps, e.g. '%d/%m/%Y %H:%M' (default: ISO 8601).",
    rich_help_panel="Data")]
DropNullUsers = Annotated[bool, typer.Option(
    "--drop-null-user-ids", help="Drop (and count) events without a user id instead of refusing them.",
    rich_help_panel="Data")]
Outliers = Annotated[Optional[str], typer.Option(
    "--outliers", help="Values or timestamps far outside the rest: error (default), drop or keep.",
    rich_help_panel="Data")]
# name -> the option's annotation, in the order the help lists them
_SOURCE_OPTIONS: dict[str, Any] = {
    "events": Events, "user_col": UserCol, "time_col": TimeCol, "type_col": TypeCol, "value_col": ValueCol,
    "where": Where, "time_format": TimeFormat, "drop_null_user_ids": DropNullUsers, "duplicates": Duplicates,
    "outliers": Outliers, "subscriptions": Subscriptions, "accounts": Accounts, "config": Config}


def _with_source(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the shared data options; it receives them as one ``source: SourceOptions``.

    Its ``--as-of`` and ``--cutoff`` arrive parsed (dates as YYYY-MM-DD, each wrong part named).

    Typer reads a command's options from its signature, so the wrapper's signature is the
    command's own without ``source``, plus one keyword parameter per data option.
    """
    signature = inspect.signature(command, eval_str=True)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()
           if p.name != "source"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                default=getattr(_SOURCE, name))
              for name, annotation in _SOURCE_OPTIONS.items()]

    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        from churnml.contract import parse_date

        source = SourceOptions(**{name: kwargs.pop(name) for name in _SOURCE_OPTIONS})
        # dates are read one way (YYYY-MM-DD) by every command, and echoed as parsed
        if kwargs.get("as_of") is not None:
            kwargs["as_of"] = parse_date(kwargs["as_of"], "--as-of")
        if kwargs.get("cutoff"):
            kwargs["cutoff"] = [parse_date(day, "--cutoff") for day in kwargs["cutoff"]]
        with _status():
            command(source=source, **kwargs)

    parameters = shared + own
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


@contextlib.contextmanager
def _status() -> Iterator[None]:
    """The library's steps as one status line on stderr, replaced by the next; only on a terminal
    (logs and pipes get the command's own lines alone)."""
    console = _console(stderr=True)
    if not console.is_terminal:
        yield
        return
    from churnml import _progress

    with console.status("starting", spinner="dots") as status, _progress.listening(status.update):
        yield


def _load_usage(source: SourceOptions, *, spark: bool = False, spark_master: str | None = None) -> Any:
    """The event log (and tables) loaded into DuckDB, or on Spark (``spark_master``, default local[*])."""
    from churnml import _progress
    from churnml.contract import load

    _progress.step(f"loading and checking {source.events or 'the events of the config file'}")

    settings = source.settings()
    event_source = settings.source("events", {
        "path": source.events, "user_id": source.user_col, "timestamp": source.time_col,
        "event_type": source.type_col, "value": source.value_col, "where": source.where,
        "time_format": source.time_format, "drop_null_user_ids": source.drop_null_user_ids or None,
        "duplicates": source.duplicates, "outliers": source.outliers})
    tables = (event_source, settings.source("subscriptions", {"path": source.subscriptions}),
              settings.source("accounts", {"path": source.accounts}))
    if spark:
        from churnml import spark as on_spark

        return on_spark.load(on_spark.session(spark_master), *tables)  # type: ignore[arg-type]
    return load(*tables)  # type: ignore[arg-type]


def _load_labelled(table: str, label: str | None, id_col: str | None, positive: str | None = None) -> Any:
    """A labelled table (``--table``), which needs its ``--label``."""
    from churnml.contract import LabelledTableSource
    from churnml.errors import ConfigError

    if label is None:
        raise ConfigError("--table needs --label, the column that says who churned.")
    return LabelledTableSource(table, label=label, id=id_col, positive=positive).load()


def _print_report(console: Console, report: LoadReport) -> None:
    from rich.table import Table

    table = Table(title=f"{report.table} from {report.source}", title_justify="left",
                  show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="left")
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("rows loaded", f"{report.rows_loaded:,}")
    table.add_row("users", f"{report.users:,}")
    if report.first is not None and report.last is not None:
        table.add_row("time span", f"{report.first:%Y-%m-%d} .. {report.last:%Y-%m-%d}")
    for logical, source in report.columns.items():
        table.add_row(f"  {logical}", source)
    for reason, count in report.dropped.items():
        table.add_row("dropped", f"{count:,} rows: {_cli_spelling(reason)}")
    for note in report.notes:
        table.add_row("note", note)
    console.print(table, markup=False)
    console.print()


class ShapEngine(str, enum.Enum):
    auto = "auto"
    fast = "fast"
    xgboost = "xgboost"


ShapEngineOpt = Annotated[ShapEngine, typer.Option(
    "--shap-engine", help="Exact TreeSHAP by churnml's fast CPU engine, or XGBoost's (auto: XGBoost on a CUDA "
    "model, else fast).")]


def _open_model(where: str, tracking_uri: str | None) -> Any:
    if where.startswith(("models:/", "runs:/")):
        from churnml.tracking import load_registered

        return load_registered(where, tracking_uri_=tracking_uri)
    from churnml.modeling import load_model

    return load_model(where)


def _print_training(console: Console, result: Any) -> None:
    import pandas as pd
    from rich.table import Table

    trainer, run = result.trainer, result.run
    split = trainer.model_.info["split"]
    if split["kind"] == "by_date":
        spans = ", ".join(f"{name} {days[0]}..{days[-1]} ({split['rows'][name]:,} rows)"
                          for name, days in split["dates"].items())
    else:
        spans = ", ".join(f"{name} {rows:,} rows" for name, rows in split["rows"].items()) + " (random, stratified)"
    console.print(f"split: {spans}", soft_wrap=True)
    console.print(f"booster: {trainer.best_iteration_ + 1} rounds (early stopping), calibration "
                  f"{trainer.calibration_method_}")
    refitted = trainer.model_.info.get("refit")
    if refitted:
        console.print(f"shipped: refitted on all {refitted['rows']:,} labelled rows ({refitted['rounds']} rounds), "
                      f"calibrated ({refitted['calibration']}) on {refitted['calibrated_on']}; the table below "
                      "judges the evaluated model", soft_wrap=True)
    else:
        console.print("shipped: the evaluated model (no refit)")
    from rich import box

    table = Table(title="test slice: lift10 = lift in the top 10%, capt20 = share of churners in the top 20%, "
                  "profit = campaign profit per account", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("model", no_wrap=True)
    shown = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "log_loss": "logloss", "brier": "Brier", "ece": "ECE",
             "lift_at_10": "lift10", "capture_at_20": "capt20", "max_profit_per_account": "profit"}
    for title in shown.values():
        table.add_column(title, justify="right")
    for name, row in trainer.evaluation_.iterrows():
        table.add_row(str(name), *(f"{row[key]:.3f}" if pd.notna(row[key]) else "-" for key in shown))
    console.print(table)
    console.print("top features by gain: " + ", ".join(trainer.feature_importance_.head(8).index), soft_wrap=True)
    console.print(f"run id: {run.run_id}")
    console.print(f"model URI: {run.registered_uri or run.model_uri}", soft_wrap=True)
    if run.alias_uri:
        console.print(f"promoted: {run.alias_uri}", soft_wrap=True)
    if run.export_path is not None:
        console.print(f"exported to {run.export_path}", soft_wrap=True)


def _print_scores(console: Console, result: Any) -> None:
    from rich.table import Table

    n = max(result.accounts, 1)
    when = f" as of {result.as_of:%Y-%m-%d}" if result.as_of else ""
    console.print(f"scored {result.accounts:,} accounts{when}; reasons for {result.explained:,}", soft_wrap=True)
    tiers = Table(title="risk tiers", title_justify="left")
    for column in ("tier", "from probability", "accounts", "share"):
        tiers.add_column(column, justify="left" if column == "tier" else "right")
    for name in ("high", "medium", "low"):
        cut = f"{result.thresholds[name]:.3f}" if name in result.thresholds else "0"
        tiers.add_row(name, cut, f"{result.tier_counts[name]:,}", f"{result.tier_counts[name] / n:.1%}")
    console.print(tiers)
    if result.revenue_at_risk is not None:
        console.print(f"revenue at risk (probability x monthly revenue): {result.revenue_at_risk:,.2f}")
    if result.expected:
        from churnml.reporting import expected_lines

        for line in expected_lines(result.expected):
            console.print(line, soft_wrap=True)
    if not result.drift.empty:
        top = result.drift.head(3)
        console.print("largest drift (PSI): " + ", ".join(f"{r.feature} {r.psi:.3f}" for r in top.itertuples()),
                      soft_wrap=True)
    console.print(f"wrote {result.path}", soft_wrap=True)
