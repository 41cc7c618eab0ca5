"""The ``churnml`` command line: one thin function per command.

Errors go to stderr with exit code 1 and no traceback unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from churnml.errors import ChurnMLError

if TYPE_CHECKING:
    from rich.console import Console

    from churnml.contract import LoadReport

_CHOICES_INLINE = 16  # choices longer than this when joined go into the help text, not the type column


def _metavar(option: Any) -> str:
    """What the help shows after an option: nothing for a flag, the choices, or the kind of value."""
    if option.is_flag:
        return ""
    described = option.type_descriptor
    if described.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in described.choices)
    name = option.name or ""
    kind = described.annotation
    if getattr(kind, "__origin__", None) is list:
        (kind,) = kind.__args__
    if name.endswith("_col"):
        return "COLUMN"
    if name in ("as_of", "cutoff", "start"):
        return "DATE"
    if name == "where":
        return "SQL"
    if name in ("model",):
        return "URI"
    if kind is Path or name in ("events", "subscriptions", "accounts", "table"):
        return "PATH"
    if kind is int:
        return "DAYS" if name.endswith("days") else "N"
    if kind is float:
        return "NUMBER"
    return "TEXT"


def _tidy_help(command: Any) -> None:
    """Plain metavars (DATE, PATH, DAYS, a|b) on every option of ``command`` and its subcommands.

    Typer shows Python types (``<bool>`` after a flag, ``<int range>``) and folds long choice
    lists mid-word; long choice lists move into the option's help instead.
    """
    from typer import _click

    options = [p for p in command.params if hasattr(p, "is_flag")]
    help_option = command.get_help_option(_click.Context(command))
    for option in options + ([help_option] if help_option is not None else []):
        if option.metavar is not None:
            continue
        option.metavar = _metavar(option)
        if len(option.metavar) > _CHOICES_INLINE:
            choices = option.metavar.split("|")
            if not all(c in (option.help or "") for c in choices):
                option.help = f"{option.help or ''} One of: {', '.join(choices)}.".strip()
            option.metavar = "NAME"
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


class _Group(typer.core.TyperGroup):
    """The app's group: tidies its commands' help once they are built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy_help(self)


app = typer.Typer(
    cls=_Group,
    name="churnml",
    help="Point-in-time churn prediction: features, models, explanations, scores, analytics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# ----------------------------------------------------------------- shared options

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


def _spark_output(frame: Any, out: Path, overwrite: bool) -> str:
    """Write a Spark DataFrame as a Parquet folder (Spark's job commit: all files or none)."""
    from churnml.errors import ConfigError

    target = str(out)
    if "://" not in target and out.exists() and not overwrite:
        raise ConfigError(f"{target!r} already exists. Fix: pass --overwrite or choose another path.")
    frame.write.mode("overwrite" if overwrite else "errorifexists").parquet(target)
    return target


def _load_labelled(table: str, label: str | None, id_col: str | None, positive: str | None = None) -> Any:
    """A labelled table (``--table``), which needs its ``--label``."""
    from churnml.contract import LabelledTableSource
    from churnml.errors import ConfigError

    if label is None:
        raise ConfigError("--table needs --label, the column that says who churned.")
    return LabelledTableSource(table, label=label, id=id_col, positive=positive).load()


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # logs and pipes: room for the metric tables instead of rich's default 80
        console.width = 120
    return console


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


# ----------------------------------------------------------------- commands


def _print_version(value: bool) -> None:
    if value:
        from churnml._version import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    """Point-in-time churn prediction: features, models, explanations, scores, analytics."""
    _quiet_third_parties()


# Libraries that report on stderr what a churnml command already says (MLflow's INFO lines and
# artifact progress bars, Alembic's migrations, py4j's gateway); their warnings and errors still show.
_CHATTY_LOGGERS = ("mlflow", "alembic", "py4j", "urllib3", "numba", "databricks")


def _quiet_third_parties() -> None:
    """Inside a command only (never at import of the library): third-party INFO logging off."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in _CHATTY_LOGGERS:  # and for a logger mlflow or alembic already configured
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the Parquet tables.")] = Path("data/demo"),
    users: Annotated[int, typer.Option("--users", min=1, help="Users who sign up.")] = 10_000,
    days: Annotated[int, typer.Option("--days", min=60, help="Days of history.")] = 365,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")] = "2024-01-01",
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1,
                                            help="Users simulated at once (bounds memory).")] = 20_000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing tables.")] = False,
) -> None:
    """Simulate a product's usage history: events, subscriptions, accounts, ground truth."""
    paths = _generate(out, users, days, seed, start, chunk_size, overwrite)
    _print_tables(_console(), paths)


def _generate(out: Path, users: int, days: int, seed: int, start: str, chunk_size: int,
              overwrite: bool) -> dict[str, Path]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from churnml.contract import parse_date
    from churnml.generator import GeneratorConfig, generate as run_generator

    first_day = parse_date(start, "--start")
    config = GeneratorConfig(users=users, days=days, seed=seed, start=first_day, chunk_size=chunk_size)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulating users", total=users)
        return run_generator(out, config, overwrite=overwrite,
                             progress=lambda done: bar.update(task, completed=done))


def _print_tables(console: Console, paths: dict[str, Path]) -> None:
    import pyarrow.parquet as pq

    for name, path in paths.items():
        console.print(f"wrote {pq.ParquetFile(path).metadata.num_rows:>12,} rows  {path}  ({name})",
                      soft_wrap=True)


@app.command()
@_with_source
def validate(
    source: SourceOptions = _SOURCE, table: TableOpt = None, label: LabelOpt = None, id_col: IdColOpt = None,
    positive: PositiveOpt = None,
) -> None:
    """Load and check a data source against the contract; print what was read and dropped."""
    console = _console()
    if table is not None:
        _print_report(console, _load_labelled(table, label, id_col, positive).report)
        return
    data = _load_usage(source)
    for report in data.reports:
        _print_report(console, report)


@app.command()
@_with_source
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's data, scores and report.")] = Path(
        "data/demo"),
    users: Annotated[int, typer.Option("--users", min=1, help="Generated accounts.")] = 5_000,
    days: Annotated[int, typer.Option("--days", min=60, help="Generated days of history.")] = 365,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    source: SourceOptions = _SOURCE,
    churn: ChurnOpt = None, horizon_days: HorizonOpt = None, active_window_days: ActiveWindowOpt = None,
    step_days: Annotated[Optional[int], typer.Option(
        "--step-days", min=1, help="Days between observation dates (default 30, or 14 or 7 when that gives "
        "fewer than 8 dates).", rich_help_panel="Churn")] = None,
    tracking_uri: TrackingOpt = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the --out folder and models/churn even when an earlier demo did not write "
        "them.")] = False,
) -> None:
    """The whole pipeline on a generated product (or a real log with --events): data, training set, model
    (MLflow), explanation, scores and the retention report."""
    from churnml._io import write_table
    from churnml.contract import AccountSource, EventSource, SubscriptionChurn, SubscriptionSource, load
    from churnml.features import FeatureBuilder, build_dataset

    console = _console()
    model_folder = Path("models") / "churn"
    _claim_demo_outputs(console, out, model_folder, overwrite)
    if source.events is None:
        console.rule("1. generate a product's usage history")
        paths = _generate(out, users, days, seed, "2024-01-01", 20_000, overwrite=True)
        _print_tables(console, paths)
        console.rule("2. load and validate it against the data contract")
        data = load(EventSource(paths["events"]), SubscriptionSource(paths["subscriptions"]),
                    AccountSource(paths["accounts"]))
        for loaded in data.reports:
            _print_report(console, loaded)
        truth = data.backend.fetchone(
            f"SELECT count(*), count(churn_date), count(*) FILTER (WHERE churn_type = 'involuntary') "
            f"FROM read_parquet('{paths['ground_truth'].as_posix()}')")
        assert truth is not None
        console.print(f"ground truth: {truth[1]:,} of {truth[0]:,} users churned "
                      f"({truth[2]:,} involuntary) within the {days} days")
        definition: Any = SubscriptionChurn(horizon_days=30)
        builder = FeatureBuilder(activation_events=["core_action"], activation_days=7)
        described: dict[str, Any] = {"demo": {"users": users, "days": days, "seed": seed}}
        steps = 30
    else:
        console.rule("1-2. load and validate the event log against the data contract")
        settings = source.settings()
        data = _load_usage(source)
        for loaded in data.reports:
            _print_report(console, loaded)
        definition = _definition(settings, churn, horizon_days, active_window_days, None, None)
        builder = FeatureBuilder()
        described = {"demo": {"events": source.events}}
        steps = settings.step_days(step_days)
    console.rule(f"3. build the point-in-time training set ({definition.kind} churn, "
                 f"{definition.horizon_days}-day horizon)")
    training = build_dataset(data, definition, builder=builder, step_days=steps)
    path = write_table(training.frame, out / "training_set.parquet", overwrite=True)
    summary = training.summary()
    console.print(f"{len(training.frame):,} rows: {training.frame['user_id'].nunique():,} users x "
                  f"{len(training.observation_dates)} dates ({summary['observation_date'].min():%Y-%m-%d} .. "
                  f"{summary['observation_date'].max():%Y-%m-%d}), {len(training.feature_names)} features, "
                  f"label rate {training.frame['label'].mean():.1%}; features use only events before each date")
    console.print(f"wrote {path}", soft_wrap=True)
    console.rule("4. train a calibrated XGBoost model; track, register and promote it in MLflow")
    from churnml.tracking import TrainingOptions, run_training

    result = run_training(training, {"source": {r.table: r.to_dict() for r in data.reports}, **described},
                          TrainingOptions(trainer={"random_state": seed}, promote=True, tracking_uri=tracking_uri,
                                          export=model_folder, overwrite=True))
    _print_training(console, result)
    console.rule("5. why the riskiest account of the test slice is at risk")
    from churnml.explain import ChurnExplainer

    trainer = result.trainer
    riskiest = int(trainer.test_predictions_["churn_probability"].to_numpy().argmax())
    row = trainer.test_features_.iloc[[riskiest]]
    reasons = ChurnExplainer(trainer.model_, top_k=3).reasons(row).iloc[0]
    keys = trainer.test_predictions_.iloc[riskiest]
    console.print(f"user {keys['user_id']} on {keys['observation_date']:%Y-%m-%d}: churn probability "
                  f"{reasons['churn_probability']:.1%} (tier {trainer.model_.risk_tier([reasons['churn_probability']])[0]})")
    for i in (1, 2, 3):
        if reasons[f"reason_{i}"] is not None:
            console.print(f"  {i}. {reasons[f'reason_{i}']}", soft_wrap=True)
    console.rule("6. score every eligible account as of the day after the last event")
    import warnings

    from churnml.scoring import write_scores
    from churnml.tracking import log_scoring

    champion = result.run.alias_uri or result.run.model_uri
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = write_scores(trainer.model_, data, out / "scores.parquet", overwrite=True)
    _print_scores(console, scored)
    for warning in caught:
        console.print(f"warning: {warning.message}", markup=False, soft_wrap=True, style="yellow")
    log_scoring(scored, model_uri=champion, model=trainer.model_, tracking_uri_=tracking_uri)
    console.rule("7. the retention numbers and the report")
    from churnml.reporting import analytics

    # counted as the report counts it (the model's definition, its last twelve steady months), so both agree
    frame = analytics.churn_rate(data, **analytics.definition_options(definition, data)).tail(12)
    rate = analytics.mean_churn_rate(frame)
    console.print(f"{rate.sentence()}; more with `churnml analytics --help`", soft_wrap=True)
    from churnml.reporting import write_report

    page = write_report(out / "scores.parquet", out / "report.html", model=trainer.model_, model_uri=champion,
                        tracking_uri_=tracking_uri, data=data, overwrite=True)
    console.print(f"wrote {page}", soft_wrap=True)
    console.rule("outputs")
    from churnml.tracking import tracking_uri as store

    for what, where_ in (("training set", out / "training_set.parquet"), ("model (MLflow)", champion),
                         ("model folder", result.run.export_path), ("scores", scored.path),
                         ("report (open in a browser)", page), ("MLflow store", store(tracking_uri))):
        console.print(f"{what:>28}: {where_}", soft_wrap=True)
    console.print(f"Browse the runs with: mlflow ui --backend-store-uri {store(tracking_uri)}", soft_wrap=True)


_DEMO_MARK = ".churnml-demo"  # in the demo's --out folder: what an earlier demo wrote, it may replace


def _claim_demo_outputs(console: Console, out: Path, model_folder: Path, overwrite: bool) -> None:
    """The demo replaces only what an earlier demo wrote (or what --overwrite allows), and says so."""
    from churnml.errors import ConfigError

    ours = (out / _DEMO_MARK).is_file()
    taken = [str(p) for p in (out, model_folder) if p.exists() and (p.is_file() or any(p.iterdir()))]
    if taken and not ours and not overwrite:
        raise ConfigError(f"{' and '.join(repr(p) for p in taken)} already exist and were not written by "
                          "`churnml demo`. Fix: pass --overwrite to replace them, or --out another folder.")
    if taken:
        console.print(f"replacing the previous outputs in {' and '.join(taken)}", soft_wrap=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / _DEMO_MARK).write_text("written by `churnml demo`; a later demo may replace this folder\n")


@app.command()
@_with_source
def features(
    as_of: Annotated[str, typer.Option("--as-of", help="Date of the features (YYYY-MM-DD); events before it only.")],
    out: OutOpt,
    source: SourceOptions = _SOURCE,
    churn: ChurnOpt = None, horizon_days: HorizonOpt = None, active_window_days: ActiveWindowOpt = None,
    gap_tolerance_days: GapOpt = None, lead_time_days: LeadOpt = None, engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    windows: WindowsOpt = None, trend_windows: TrendWindowsOpt = None,
    activation_event: ActivationOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Features of every eligible user as of a date (one row per user, no labels)."""
    from churnml._io import write_table

    settings = source.settings()
    data = _load_usage(source, spark=engine is Engine.spark, spark_master=spark_master)
    definition = _definition(settings, churn, horizon_days, active_window_days, gap_tolerance_days, lead_time_days)
    builder = _builder(settings, windows, trend_windows, activation_event, engine)
    from churnml.contract import check_after_first_event, no_eligible_users, parse_dates

    span = (data.events.report.first, data.events.report.last)
    check_after_first_event("--as-of", parse_dates([as_of]), *span, definition)
    frame = builder.fit(data, observation_dates=[as_of], definition=definition).transform(
        data, [as_of], definition=definition)
    if engine is not Engine.spark and len(frame) == 0:
        raise no_eligible_users("--as-of", parse_dates([as_of]), *span, definition)
    if engine is Engine.spark:
        path, rows = _spark_output(frame, out, overwrite), frame.sparkSession.read.parquet(str(out)).count()
    else:
        path, rows = write_table(frame, out, overwrite=overwrite), len(frame)
    _console().print(f"wrote {rows:,} users x {len(builder.feature_names_out_)} features as of {as_of} "
                     f"to {path}", soft_wrap=True)


@app.command()
@_with_source
def dataset(
    out: OutOpt,
    source: SourceOptions = _SOURCE,
    churn: ChurnOpt = None, horizon_days: HorizonOpt = None, active_window_days: ActiveWindowOpt = None,
    gap_tolerance_days: GapOpt = None, lead_time_days: LeadOpt = None,
    step_days: Annotated[Optional[int], typer.Option(
        "--step-days", min=1, help="Days between observation dates (default 30, or 14 or 7 when that gives "
        "fewer than 8 dates).")] = None,
    dates: Annotated[Optional[str], typer.Option(
        "--dates", help="Explicit observation dates, comma-separated (instead of the grid).")] = None,
    engine: EngineOpt = Engine.duckdb, spark_master: SparkMasterOpt = None,
    windows: WindowsOpt = None, trend_windows: TrendWindowsOpt = None,
    activation_event: ActivationOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """The point-in-time training set: one row per eligible user and observation date, with its label."""
    from rich.table import Table

    from churnml._io import write_table
    from churnml.features import build_dataset

    settings = source.settings()
    data = _load_usage(source, spark=engine is Engine.spark, spark_master=spark_master)
    definition = _definition(settings, churn, horizon_days, active_window_days, gap_tolerance_days, lead_time_days)
    training = build_dataset(
        data, definition, builder=_builder(settings, windows, trend_windows, activation_event, engine),
        step_days=settings.step_days(step_days), observation_dates=dates.split(",") if dates else None)
    if engine is Engine.spark:
        path = _spark_output(training.frame, out, overwrite)
        written = training.frame.sparkSession.read.parquet(path)
        summary = written.groupBy("observation_date").agg({"*": "count", "label": "avg"}).toPandas()
        summary.columns = ["observation_date", "rows", "label_rate"]
        summary = summary.sort_values("observation_date")
        summary["observation_date"] = summary["observation_date"].astype("datetime64[ns]")
        totals = written.selectExpr("count(*)", "count(DISTINCT user_id)", "avg(label)").first()
        rows, users, rate = int(totals[0]), int(totals[1]), float(totals[2] or 0.0)
    else:
        path = write_table(training.frame, out, overwrite=overwrite)
        summary, frame = training.summary(), training.frame
        rows, users, rate = len(frame), frame["user_id"].nunique(), float(frame["label"].mean())
    console = _console()
    table = Table(title=f"{definition.kind} churn, {definition.horizon_days}-day horizon", title_justify="left")
    for column in ("observation date", "rows", "label rate"):
        table.add_column(column, justify="right")
    for row in summary.itertuples():
        table.add_row(f"{row.observation_date:%Y-%m-%d}", f"{row.rows:,}", f"{row.label_rate:.1%}")
    console.print(table)
    console.print(f"wrote {rows:,} rows ({users:,} users, {len(training.observation_dates)} dates, label rate "
                  f"{rate:.1%}, {len(training.feature_names)} features) to {path}", soft_wrap=True)


class Calibration(str, enum.Enum):
    auto = "auto"
    isotonic = "isotonic"
    platt = "platt"
    none = "none"


class ShapEngine(str, enum.Enum):
    auto = "auto"
    fast = "fast"
    xgboost = "xgboost"


ShapEngineOpt = Annotated[ShapEngine, typer.Option(
    "--shap-engine", help="Exact TreeSHAP by churnml's fast CPU engine, or XGBoost's (auto: XGBoost on a CUDA "
    "model, else fast).")]


class Device(str, enum.Enum):
    cpu = "cpu"
    cuda = "cuda"


@app.command()
@_with_source
def train(
    source: SourceOptions = _SOURCE, table: TableOpt = None, label: LabelOpt = None, id_col: IdColOpt = None,
    positive: PositiveOpt = None,
    churn: ChurnOpt = None, horizon_days: HorizonOpt = None, active_window_days: ActiveWindowOpt = None,
    gap_tolerance_days: GapOpt = None, lead_time_days: LeadOpt = None,
    step_days: Annotated[Optional[int], typer.Option(
        "--step-days", min=1, help="Days between observation dates (default 30, or 14 or 7 when that gives "
        "fewer than 8 dates).", rich_help_panel="Churn")] = None,
    engine: EngineOpt = Engine.duckdb, spark_master: SparkMasterOpt = None,
    spark_workers: Annotated[int, typer.Option(
        "--spark-workers", min=1, help="XGBoost workers (Spark tasks) for --engine spark.",
        rich_help_panel="Engine")] = 1,
    windows: WindowsOpt = None, trend_windows: TrendWindowsOpt = None,
    activation_event: ActivationOpt = None,
    calibration: Annotated[Calibration, typer.Option(
        "--calibration", help="Probability calibration ('auto' picks by cross-validated log loss).",
        rich_help_panel="Model")] = Calibration.auto,
    class_weight: Annotated[bool, typer.Option(
        "--balanced", help="Up-weight churners (no resampling is ever done).", rich_help_panel="Model")] = False,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=0.0001, max=1.0,
                                                 rich_help_panel="Model")] = 0.05,
    max_depth: Annotated[int, typer.Option("--max-depth", min=1, rich_help_panel="Model")] = 4,
    n_estimators: Annotated[int, typer.Option("--n-estimators", min=1, help="Most boosting rounds (early stopping).",
                                              rich_help_panel="Model")] = 2000,
    device: Annotated[Device, typer.Option("--device", help="XGBoost device.", rich_help_panel="Model")] = Device.cpu,
    seed: Annotated[int, typer.Option("--seed", rich_help_panel="Model")] = 0,
    refit: Annotated[bool, typer.Option(
        "--refit/--no-refit", help="Ship the booster refitted on every labelled date (the evaluation stays "
        "the out-of-time one), or the evaluated model itself.", rich_help_panel="Model")] = True,
    tune: Annotated[int, typer.Option("--tune", min=0, help="Random-search trials (nested MLflow runs); "
                                      "chosen by validation log loss.", rich_help_panel="Model")] = 0,
    tracking_uri: TrackingOpt = None,
    experiment: Annotated[str, typer.Option("--experiment", rich_help_panel="MLflow")] = "churnml",
    register: Annotated[str, typer.Option("--register", help="Registered model name.",
                                          rich_help_panel="MLflow")] = "churn",
    promote: Annotated[bool, typer.Option("--promote", help="Move the alias 'champion' to this version.",
                                          rich_help_panel="MLflow")] = False,
    export: Annotated[Optional[Path], typer.Option(
        "--export", help="Also write the model folder here (e.g. models/churn).", rich_help_panel="MLflow")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --export folder.",
                                            rich_help_panel="MLflow")] = False,
) -> None:
    """Train a calibrated XGBoost churn model with out-of-time validation; track and register it in MLflow."""
    from churnml.tracking import TrainingOptions, run_training

    console = _console()
    if table is not None:
        data: Any = _load_labelled(table, label, id_col, positive)
        described: dict[str, Any] = {"source": {"table": table, "label": label, "id": id_col}}
    else:
        settings = source.settings()
        usage = _load_usage(source, spark=engine is Engine.spark, spark_master=spark_master)
        definition = _definition(settings, churn, horizon_days, active_window_days, gap_tolerance_days,
                                 lead_time_days)
        from churnml.features import build_dataset

        data = build_dataset(usage, definition,
                             builder=_builder(settings, windows, trend_windows, activation_event, engine),
                             step_days=settings.step_days(step_days))
        described = {"source": {report.table: report.to_dict() for report in usage.reports},
                     "features": data.builder.get_params(), "step_days": settings.step_days(step_days)}
    options = TrainingOptions(
        trainer={"calibration": calibration.value, "class_weight": "balanced" if class_weight else None,
                 "learning_rate": learning_rate, "max_depth": max_depth, "n_estimators": n_estimators,
                 "device": device.value, "random_state": seed, "refit": refit,
                 **({"num_workers": spark_workers} if engine is Engine.spark and table is None else {})},
        tune_trials=tune, tracking_uri=tracking_uri, experiment=experiment, register=register, promote=promote,
        export=export, overwrite=overwrite)
    result = run_training(data, described, options)
    _print_training(console, result)


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


@app.command()
@_with_source
def backtest(
    cutoff: Annotated[list[str], typer.Option(
        "--cutoff", help="A cutoff date (YYYY-MM-DD), repeatable: train on the events before it, score at it, "
        "label from the events after it.")],
    source: SourceOptions = _SOURCE,
    churn: ChurnOpt = None, horizon_days: HorizonOpt = None, active_window_days: ActiveWindowOpt = None,
    gap_tolerance_days: GapOpt = None, lead_time_days: LeadOpt = None,
    step_days: Annotated[Optional[int], typer.Option(
        "--step-days", min=1, help="Days between training dates (default 30, fewer on short histories).",
        rich_help_panel="Churn")] = None,
    windows: WindowsOpt = None, trend_windows: TrendWindowsOpt = None,
    activation_event: ActivationOpt = None,
    refit: Annotated[bool, typer.Option(
        "--refit/--no-refit", help="Score with the model refitted on every labelled date (as train ships it), "
        "or with the evaluated model.", rich_help_panel="Model")] = True,
    seed: Annotated[int, typer.Option("--seed", rich_help_panel="Model")] = 0,
    tracking_uri: TrackingOpt = None,
    experiment: Annotated[str, typer.Option("--experiment", rich_help_panel="MLflow")] = "churnml",
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Also write the table (CSV or Parquet).", rich_help_panel="Output")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Judge the model as it is used: for each cutoff, train before it, score at it, compare with what followed."""
    from churnml._io import TABLE_SUFFIXES, check_output, write_table
    from churnml.modeling import ChurnTrainer, backtest as run_backtest, summary_lines
    from churnml.tracking import log_backtest

    console = _console()
    if out is not None:  # refuse a bad output before the work, not after it
        check_output(out, overwrite=overwrite, suffixes=TABLE_SUFFIXES)
    settings = source.settings()
    usage = _load_usage(source, spark=False, spark_master=None)
    definition = _definition(settings, churn, horizon_days, active_window_days, gap_tolerance_days, lead_time_days)
    result = run_backtest(usage, definition, cutoffs=cutoff,
                          builder=_builder(settings, windows, trend_windows, activation_event, Engine.duckdb),
                          trainer=ChurnTrainer(refit=refit, random_state=seed),
                          step_days=settings.step_days(step_days))
    for line in summary_lines(result):
        console.print(line, soft_wrap=True, highlight=False)
    console.print("model = the shipped model (refitted on every labelled date), evaluated = before the refit; "
                  "mean p = mean churn probability, churned = realised churn rate", soft_wrap=True)
    run_id = log_backtest(result, config={"source": {r.table: r.to_dict() for r in usage.reports},
                                          "step_days": settings.step_days(step_days), "refit": refit,
                                          "cutoffs": [day.isoformat() for day in cutoff]},
                          tracking_uri_=tracking_uri, experiment=experiment)
    console.print(f"run id: {run_id}")
    if out is not None:
        console.print(f"wrote {write_table(result.table(), out, overwrite=overwrite)}", soft_wrap=True)


@app.command()
@_with_source
def explain(
    user: Annotated[str, typer.Option("--user", help="The account to explain (its user_id or table id).")],
    model: ModelOpt = "models:/churn@champion",
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Date of the features (YYYY-MM-DD); events before it only. Needed for event-log models.")] = None,
    source: SourceOptions = _SOURCE, table: TableOpt = None, label: LabelOpt = None, id_col: IdColOpt = None,
    top_k: TopKOpt = 3,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write the account's SHAP waterfall (PNG).")] = None,
    shap_engine: ShapEngineOpt = ShapEngine.auto,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Why one account is at risk: its churn probability, tier and strongest drivers."""
    from rich.table import Table

    from churnml.errors import ConfigError
    from churnml.explain import ChurnExplainer

    churn_model = _open_model(model, tracking_uri)
    if churn_model.spec is not None:
        if as_of is None:
            raise ConfigError("--as-of is required: the features of an event-log model are computed as of a date.")
        from churnml.contract import parse_dates
        from churnml.engines import engine_for

        data = _load_usage(source)
        engine = engine_for(data)
        frame = engine.to_pandas(engine.compute(data, churn_model.spec, churn_model.churn_definition(),
                                                parse_dates([as_of]), labels=False), churn_model.spec)
        rows = frame[frame["user_id"].astype(str) == user]
        if rows.empty:
            raise ConfigError(f"Account {user!r} is not eligible on {as_of} (no activity in the active window, "
                              "no running subscription, or not in the data), so it has no risk score.")
    else:
        if table is None or id_col is None:
            raise ConfigError("This model was trained on a labelled table: pass --table, --id-col and --label.")
        loaded = _load_labelled(table, label, id_col)
        assert loaded.ids is not None
        rows = loaded.X[(loaded.ids.astype(str) == user).to_numpy()]
        if rows.empty:
            raise ConfigError(f"No row with {id_col} = {user!r} in {table!r}.")
    explainer = ChurnExplainer(churn_model, top_k=top_k, engine=shap_engine.value)
    explanation = explainer.explain(rows.head(1))
    reasons = explainer.reasons(rows.head(1), explanation=explanation).iloc[0]
    probability = float(reasons["churn_probability"])
    console = _console()
    console.print(f"account {user}{f' as of {as_of}' if as_of else ''}: churn probability {probability:.1%}, "
                  f"risk tier {churn_model.risk_tier([probability])[0]}", soft_wrap=True)
    if churn_model.churn_definition() is not None:
        from churnml.contract import describe_probability

        console.print(describe_probability(churn_model.churn_definition(), as_of), soft_wrap=True)
    drivers = Table(title="what raises the risk (SHAP, log-odds)", title_justify="left")
    for column in ("#", "reason", "family", "feature", "contribution"):
        drivers.add_column(column, justify="right" if column in ("#", "contribution") else "left")
    for i in range(1, top_k + 1):
        if reasons[f"reason_{i}"] is None:
            break
        drivers.add_row(str(i), str(reasons[f"reason_{i}"]), str(reasons[f"reason_{i}_family"]),
                        str(reasons[f"reason_{i}_feature"]), f"{reasons[f'reason_{i}_contribution']:+.3f}")
    console.print(drivers)
    if plot is not None:
        from churnml._io import write_figure

        path = write_figure(explainer.waterfall_figure(explanation, 0), plot)
        console.print(f"wrote {path}", soft_wrap=True)


class ReasonsFor(str, enum.Enum):
    tiers = "tiers"
    all = "all"
    none = "none"


@app.command()
@_with_source
def score(
    out: OutOpt,
    model: ModelOpt = "models:/churn@champion",
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Date of the features (YYYY-MM-DD); events before it only. Default: the day after the "
        "last event.")] = None,
    source: SourceOptions = _SOURCE, table: TableOpt = None, id_col: IdColOpt = None,
    reasons: Annotated[ReasonsFor, typer.Option(
        "--reasons", help="Which accounts get reasons: the high and medium tiers, all, or none.",
        rich_help_panel="Output")] = ReasonsFor.tiers,
    top_k: TopKOpt = 3,
    high: Annotated[Optional[float], typer.Option(
        "--high", min=0.0, max=1.0, help="Probability from which an account is high risk (default: stored with "
        "the model).", rich_help_panel="Output")] = None,
    medium: Annotated[Optional[float], typer.Option(
        "--medium", min=0.0, max=1.0, help="Probability from which an account is medium risk (default: stored "
        "with the model).", rich_help_panel="Output")] = None,
    batch_rows: Annotated[int, typer.Option(
        "--batch-rows", min=1, help="Accounts per chunk (bounds the memory).", rich_help_panel="Output")] = 50_000,
    drift_threshold: Annotated[float, typer.Option(
        "--drift-threshold", min=0.0, help="PSI above which a feature is reported as drifted.",
        rich_help_panel="Output")] = 0.25,
    memory_limit: Annotated[str, typer.Option(
        "--memory-limit", help="DuckDB's memory limit while computing features (it spills past it); "
        "'none' for DuckDB's default (80% of RAM).", rich_help_panel="Output")] = "2GB",
    shap_engine: ShapEngineOpt = ShapEngine.auto,
    engine: EngineOpt = Engine.duckdb, spark_master: SparkMasterOpt = None,
    overwrite: OverwriteOpt = False,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Score every eligible account: probability, risk tier, rank, revenue at risk and reasons, to a file
    (a Parquet folder with --engine spark)."""
    import os
    import warnings

    from churnml.scoring import check_memory_limit, write_scores

    check_memory_limit(None if memory_limit.lower() == "none" else memory_limit)
    churn_model = _open_model(model, tracking_uri)
    tiers = None
    if high is not None or medium is not None:
        stored = churn_model.info.get("tiers") or {}
        tiers = {"high": high if high is not None else stored.get("high"),
                 "medium": medium if medium is not None else stored.get("medium")}
    if engine is Engine.spark:
        from churnml.errors import ConfigError

        if churn_model.spec is None:
            raise ConfigError("--engine spark scores models trained on an event log; this one was trained on a "
                              "labelled table.")
        data: Any = _load_usage(source, spark=True, spark_master=spark_master)
        result = _score_on_spark(churn_model, data, out, overwrite=overwrite, as_of=as_of, reasons=reasons.value,
                                 top_k=top_k, tiers=tiers, shap_engine=shap_engine.value,
                                 drift_threshold=drift_threshold)
        console = _console()
        _print_scores(console, result)
    elif churn_model.spec is not None:
        data = _load_usage(source)
    else:
        if table is None or id_col is None:
            from churnml.errors import ConfigError

            raise ConfigError("This model was trained on a labelled table: pass --table and --id-col.")
        from churnml.contract import LabelledTableSource

        loaded = LabelledTableSource(table, label=None, id=id_col).load()
        data = loaded.X.assign(**{id_col: loaded.ids})
    if engine is not Engine.spark:
        console = _console()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = write_scores(churn_model, data, out, overwrite=overwrite, as_of=as_of, id_col=id_col,
                                  reasons=reasons.value, top_k=top_k, tiers=tiers, batch_rows=batch_rows,
                                  drift_threshold=drift_threshold, shap_engine=shap_engine.value,
                                  memory_limit=None if memory_limit.lower() == "none" else memory_limit)
        _print_scores(console, result)
        for warning in caught:
            _console(stderr=True).print(f"warning: {warning.message}", markup=False, soft_wrap=True, style="yellow")
    if model.startswith(("models:/", "runs:/")) or tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"):
        from churnml.tracking import log_scoring

        run_id = log_scoring(result, model_uri=model, model=churn_model, tracking_uri_=tracking_uri)
        console.print(f"scoring run logged to MLflow: {run_id}")


def _score_on_spark(model: Any, data: Any, out: Path, *, overwrite: bool, as_of: str | None, reasons: str,
                    top_k: int, tiers: dict[str, Any] | None, shap_engine: str, drift_threshold: float) -> Any:
    """Score on Spark, write the Parquet folder, and sum it up as a ScoringResult (no drift on this path)."""
    import pandas as pd

    from churnml import spark
    from churnml.scoring import ScoringResult, TIERS, tier_thresholds

    frame = spark.score(model, data, as_of=as_of, reasons=reasons, top_k=top_k, tiers=tiers, shap_engine=shap_engine)
    path = _spark_output(frame, out, overwrite)
    written = frame.sparkSession.read.parquet(path)
    revenue = "sum(revenue_at_risk)" if "revenue_at_risk" in written.columns else "CAST(NULL AS DOUBLE)"
    row = written.selectExpr("count(*)", *[f"count_if(risk_tier = '{t}')" for t in TIERS],
                             "count(reason_1)", revenue, "max(as_of)").first()
    return ScoringResult(accounts=int(row[0]), as_of=row[6], tier_counts=dict(zip(TIERS, map(int, row[1:4]))),
                         thresholds=tier_thresholds(model, tiers), explained=int(row[4]),
                         revenue_at_risk=None if row[5] is None else float(row[5]),
                         drift=pd.DataFrame(columns=["feature", "psi", "training_missing_share", "scored_missing_share"]),
                         drift_threshold=drift_threshold, path=Path(path), columns=list(written.columns))


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


@app.command()
@_with_source
def report(
    scores: Annotated[Path, typer.Option("--scores", help="A scores file written by `churnml score`.")],
    out: Annotated[Path, typer.Option("--out", help="The report, .html.")] = Path("report.html"),
    model: Annotated[Optional[str], typer.Option(
        "--model", help="The model that made the scores (URI or folder): adds its test metrics and charts.")] = None,
    top: Annotated[int, typer.Option("--at-risk", "--top", min=1,
                                     help="How many of the riskiest accounts the page lists.")] = 1_000,
    currency: Annotated[Optional[str], typer.Option(
        "--currency", help="Shown with every amount of money, e.g. '£' or 'EUR' (default: plain numbers).")] = None,
    source: SourceOptions = _SOURCE,
    overwrite: OverwriteOpt = False,
    tracking_uri: TrackingOpt = None,
) -> None:
    """The retention report: one self-contained HTML page (headline numbers, at-risk list, drivers, charts;
    with the event log, also churn rate, revenue churn, activation, inactive users, segments and cohorts)."""
    from churnml.reporting import write_report

    churn_model = _open_model(model, tracking_uri) if model else None
    data = None
    if source.events is not None or source.config is not None:
        data = _load_usage(source)
    path = write_report(scores, out, model=churn_model, model_uri=model, tracking_uri_=tracking_uri, data=data,
                        top=top, overwrite=overwrite, currency=currency)
    _console().print(f"wrote {path} (open it in a browser; it needs no network)", soft_wrap=True)


def _open_model(where: str, tracking_uri: str | None) -> Any:
    if where.startswith(("models:/", "runs:/")):
        from churnml.tracking import load_registered

        return load_registered(where, tracking_uri_=tracking_uri)
    from churnml.modeling import load_model

    return load_model(where)


# ----------------------------------------------------------------- monitoring


@app.command()
@_with_source
def evaluate(
    scores: Annotated[Optional[Path], typer.Option(
        "--scores", help="A scores file written by `churnml score` (default: the one of --run).")] = None,
    run: Annotated[Optional[str], typer.Option(
        "--run", help="The MLflow scoring run (id printed by `churnml score`): its scores file, model version and "
        "tier cut-offs; the realised figures are logged to it.", rich_help_panel="MLflow")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="The model that made the scores (default: the run's version, else "
        "models:/churn@champion).")] = None,
    source: SourceOptions = _SOURCE,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the per-model table, .parquet or .csv.")] = None,
    overwrite: OverwriteOpt = False,
    tracking_uri: TrackingOpt = None,
) -> None:
    """How a past scoring run turned out: label its accounts from the events after its date (the model's churn
    definition and horizon) and report ranking and calibration, for the model and each baseline."""
    from churnml.errors import ConfigError
    from churnml.scoring import evaluate as run_evaluation

    tiers = None
    if run is not None:
        from churnml.tracking import scoring_run

        logged = scoring_run(run, tracking_uri_=tracking_uri)
        scores = scores or Path(logged["scores"])
        model = model or logged["model_uri"]
        tiers = logged["tiers"]
    if scores is None:
        raise ConfigError("evaluate needs the scores: --scores FILE, or --run RUN_ID of a logged scoring run.")
    churn_model = _open_model(model or "models:/churn@champion", tracking_uri)
    data = _load_usage(source)
    result = run_evaluation(scores, data, churn_model, tiers=tiers)
    from churnml.reporting import evaluation_lines

    console = _console()
    for line in evaluation_lines(result, churn_model):
        console.print(line, soft_wrap=True, highlight=False)
    if run is not None:
        from churnml.tracking import log_evaluation

        logged_to = log_evaluation(result, run, tracking_uri_=tracking_uri)
        console.print(f"realised figures logged to the scoring run {logged_to}")
    if out is not None:
        from churnml._io import write_table

        console.print(f"wrote {write_table(result.metrics.reset_index(), out, overwrite=overwrite)}", soft_wrap=True)


@app.command()
def monitor(
    model: Annotated[str, typer.Option(
        "--model", help="The registered model: its name, or models:/NAME@ALIAS / models:/NAME/VERSION.")] = "churn",
    auc_drop: Annotated[float, typer.Option(
        "--auc-drop", min=0.0, help="Flag a run whose realised ROC-AUC is below the expected one by more than "
        "this.")] = 0.05,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw expected against realised over time (PNG).")]
    = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the history, .parquet or .csv.")] = None,
    overwrite: OverwriteOpt = False,
    tracking_uri: TrackingOpt = None,
) -> None:
    """The scoring runs of a registered model in time order, expected against realised; exits 1 when a run is
    flagged (ranking fell, or calibration broke), so a scheduler can alert on it."""
    from churnml.reporting import history, history_figure, history_lines
    from churnml.tracking import registered_name

    name = registered_name(model) or model
    frame = history(name, tracking_uri_=tracking_uri, auc_drop=auc_drop)
    console = _console()
    for line in history_lines(frame, name):
        console.print(line, soft_wrap=True, highlight=False)
    if plot is not None:
        _plot(history_figure(frame, title=f"Scoring runs of {name}: expected against realised"), plot)
    if out is not None:
        from churnml._io import write_table

        saved = frame.assign(flags=frame["flags"].map("; ".join), as_of=frame["as_of"].astype(str))
        console.print(f"wrote {write_table(saved, out, overwrite=overwrite)}", soft_wrap=True)
    if frame["flags"].map(bool).any():
        raise typer.Exit(1)


# ----------------------------------------------------------------- analytics

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




# ----------------------------------------------------------------- entry point


# The library's errors give their fix in Python (``where="..."``); on the command line the same
# fix is a flag. Event-log mappings only: the other tables are mapped in the config file.
_FLAG_SPELLING = [
    (re.compile(r"overwrite=True( \(--overwrite\))?"), "--overwrite"),
    (re.compile(r"drop_null_user_ids=True"), "--drop-null-user-ids"),
    (re.compile(r"\b(where|time_format|duplicates|outliers)=(?=['\"]|\.|,|\)| |$)"),
     lambda m: "--" + m.group(1).replace("_", "-") + ("" if m.string[m.end():m.end() + 1] in ".,) " else " ")),
    (re.compile(r"\b(user_id|timestamp|event_type|value)='<column>'"),
     lambda m: {"user_id": "--user-col", "timestamp": "--time-col", "event_type": "--type-col",
                "value": "--value-col"}[m.group(1)] + " <column>"),
]


def _cli_spelling(text: str) -> str:
    """``text`` with the Python spelling of a fix replaced by the command-line flag.

    >>> _cli_spelling('Fix: drop them with where="id IS NOT NULL" or drop_null_user_ids=True.')
    'Fix: drop them with --where "id IS NOT NULL" or --drop-null-user-ids.'
    >>> _cli_spelling("Fix: pass duplicates='drop', or map it, e.g. user_id='<column>'.")
    "Fix: pass --duplicates 'drop', or map it, e.g. --user-col <column>."
    """
    for pattern, flag in _FLAG_SPELLING:
        text = pattern.sub(flag, text)
    return text


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app; known errors become one line on stderr and exit 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="churnml")
    except ChurnMLError as error:
        if "--debug" in args:
            raise
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]  # one line, all problems
        _console(stderr=True).print(f"error: {_cli_spelling(' '.join(lines))}", markup=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as error:  # an internal bug: still no traceback unless asked
        if "--debug" in args:
            raise
        _console(stderr=True).print(f"unexpected error: {type(error).__name__}: {error}\n"
                                    "Rerun with --debug for the traceback.",
                                    markup=False, soft_wrap=True)
        raise SystemExit(1) from None


if __name__ == "__main__":  # python -m churnml.cli
    main()
