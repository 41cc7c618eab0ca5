"""Commands that make and judge models: ``train``, ``backtest``, ``explain``.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from churnml.cli._app import _console, app
from churnml.cli._options import (ActivationOpt, ActiveWindowOpt, ChurnOpt, Engine, EngineOpt, GapOpt, HorizonOpt,
                                  IdColOpt, LabelOpt, LeadOpt, ModelOpt, OverwriteOpt, PositiveOpt, ShapEngine,
                                  ShapEngineOpt, SourceOptions, SparkMasterOpt, TableOpt, TopKOpt, TrackingOpt,
                                  TrendWindowsOpt, WindowsOpt, _SOURCE, _builder, _definition, _load_labelled,
                                  _load_usage, _open_model, _print_training, _with_source)

class Calibration(str, enum.Enum):
    auto = "auto"
    isotonic = "isotonic"
    platt = "platt"
    none = "none"


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
