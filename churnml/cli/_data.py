"""Commands that make and read data: ``generate``, ``validate``, ``demo``, ``features``, ``dataset``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from churnml.cli._app import _console, app
from churnml.cli._options import (ActivationOpt, ActiveWindowOpt, ChurnOpt, Engine, EngineOpt, GapOpt, HorizonOpt,
                                  IdColOpt, LabelOpt, LeadOpt, OutOpt, OverwriteOpt, PositiveOpt, SourceOptions,
                                  SparkMasterOpt, TableOpt, TrackingOpt, TrendWindowsOpt, WindowsOpt, _SOURCE,
                                  _builder, _definition, _load_labelled, _load_usage, _print_report, _print_scores,
                                  _print_training, _with_source)

if TYPE_CHECKING:
    from rich.console import Console


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
        from churnml import spark

        path = spark.write_parquet(frame, out, overwrite=overwrite)
        rows = frame.sparkSession.read.parquet(path).count()
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
        import dataclasses

        from churnml import spark

        path = spark.write_parquet(training.frame, out, overwrite=overwrite)
        # summed up from what was written, not by computing the set again
        training = dataclasses.replace(training, frame=training.frame.sparkSession.read.parquet(path))
    else:
        path = write_table(training.frame, out, overwrite=overwrite)
    summary, (rows, users, rate) = training.summary(), training.totals()
    console = _console()
    table = Table(title=f"{definition.kind} churn, {definition.horizon_days}-day horizon", title_justify="left")
    for column in ("observation date", "rows", "label rate"):
        table.add_column(column, justify="right")
    for row in summary.itertuples():
        table.add_row(f"{row.observation_date:%Y-%m-%d}", f"{row.rows:,}", f"{row.label_rate:.1%}")
    console.print(table)
    console.print(f"wrote {rows:,} rows ({users:,} users, {len(training.observation_dates)} dates, label rate "
                  f"{rate:.1%}, {len(training.feature_names)} features) to {path}", soft_wrap=True)
