"""The ``churnml`` command line: one thin function per command.

Errors go to stderr with exit code 1 and no traceback unless ``--debug``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from churnml.errors import ChurnMLError, NotBuiltError

if TYPE_CHECKING:
    from rich.console import Console

    from churnml.sources import LoadReport

app = typer.Typer(
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
Config = Annotated[Optional[Path], typer.Option(
    "--config", help="churnml.toml with sources and mappings; flags override it.",
    rich_help_panel="Data")]


def _load_usage(config: Path | None, events: str | None, user_col: str | None,
                time_col: str | None, type_col: str | None, value_col: str | None,
                where: str | None, duplicates: str | None, subscriptions: str | None,
                accounts: str | None) -> Any:
    from churnml.config import read_config
    from churnml.sources import load

    settings = read_config(config)
    event_source = settings.source("events", {
        "path": events, "user_id": user_col, "timestamp": time_col, "event_type": type_col,
        "value": value_col, "where": where, "duplicates": duplicates})
    return load(event_source,  # type: ignore[arg-type]
                settings.source("subscriptions", {"path": subscriptions}),  # type: ignore[arg-type]
                settings.source("accounts", {"path": accounts}))  # type: ignore[arg-type]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


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
        table.add_row("dropped", f"{count:,} rows: {reason}")
    for note in report.notes:
        table.add_row("note", note)
    console.print(table, markup=False)
    console.print()


# ----------------------------------------------------------------- commands


def _print_version(value: bool) -> None:
    if value:
        from churnml import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    """Point-in-time churn prediction: features, models, explanations, scores, analytics."""


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

    from churnml.errors import ConfigError
    from churnml.generator import GeneratorConfig, generate as run_generator

    try:
        first_day = dt.date.fromisoformat(start)
    except ValueError as error:
        raise ConfigError(f"--start must be a date as YYYY-MM-DD. Got {start!r} instead.") from error
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
def validate(
    events: Events = None, user_col: UserCol = None, time_col: TimeCol = None,
    type_col: TypeCol = None, value_col: ValueCol = None, where: Where = None,
    duplicates: Duplicates = None, subscriptions: Subscriptions = None, accounts: Accounts = None,
    config: Config = None,
    table: Annotated[Optional[str], typer.Option(
        "--table", help="A table that already has a label (instead of an event log).")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="Label column of --table.")] = None,
    id_col: Annotated[Optional[str], typer.Option("--id-col", help="Id column of --table.")] = None,
) -> None:
    """Load and check a data source against the contract; print what was read and dropped."""
    console = _console()
    if table is not None:
        from churnml.errors import ConfigError
        from churnml.labelled import LabelledTableSource

        if label is None:
            raise ConfigError("--table needs --label, the column that says who churned.")
        _print_report(console, LabelledTableSource(table, label=label, id=id_col).load().report)
        return
    data = _load_usage(config, events, user_col, time_col, type_col, value_col, where, duplicates,
                       subscriptions, accounts)
    for report in data.reports:
        _print_report(console, report)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's data.")] = Path("data/demo"),
    users: Annotated[int, typer.Option("--users", min=1)] = 5_000,
    days: Annotated[int, typer.Option("--days", min=60)] = 365,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Run the pipeline end to end on a generated product (grows with each capability)."""
    from churnml.sources import AccountSource, EventSource, SubscriptionSource, load

    console = _console()
    console.rule("1. generate a product's usage history")
    paths = _generate(out, users, days, seed, "2024-01-01", 20_000, overwrite=True)
    _print_tables(console, paths)
    console.rule("2. load and validate it against the data contract")
    data = load(EventSource(paths["events"]), SubscriptionSource(paths["subscriptions"]),
                AccountSource(paths["accounts"]))
    for report in data.reports:
        _print_report(console, report)
    truth = data.backend.fetchone(
        f"SELECT count(*), count(churn_date), count(*) FILTER (WHERE churn_type = 'involuntary') "
        f"FROM read_parquet('{paths['ground_truth'].as_posix()}')")
    assert truth is not None
    console.print(f"ground truth: {truth[1]:,} of {truth[0]:,} users churned "
                  f"({truth[2]:,} involuntary) within the {days} days")
    console.rule("next")
    console.print("Training sets, models, explanations, scoring and the report join this demo as "
                  "they are built (issues #3 to #6).")


def _not_built(command: str, issue: int, what: str) -> None:
    def stub(ctx: typer.Context) -> None:
        raise NotBuiltError(f"`churnml {command}` is not built yet: issue #{issue} builds it ({what}).")

    stub.__doc__ = f"(not built yet: issue #{issue}) {what}"
    app.command(command, context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                           "help_option_names": []})(stub)


_not_built("features", 3, "features of every eligible user as of a date")
_not_built("dataset", 3, "the point-in-time training set")
_not_built("train", 4, "calibrated XGBoost models tracked in MLflow")
_not_built("score", 6, "batch scoring of at-risk accounts")
_not_built("explain", 5, "the drivers behind one account's risk")
_not_built("report", 6, "the retention report")
_not_built("analytics", 7, "churn rate, activation, inactive users, segments, cohorts")


# ----------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app; known errors become one line on stderr and exit 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="churnml")
    except ChurnMLError as error:
        if "--debug" in args:
            raise
        _console(stderr=True).print(f"error: {error}", markup=False, soft_wrap=True)
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
