"""Commands that score and follow up: ``score``, ``report``, ``evaluate``, ``monitor``.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from churnml._duckdb import SCORING_MEMORY_LIMIT
from churnml.cli._analytics import _plot
from churnml.cli._app import _console, app
from churnml.cli._options import (Engine, EngineOpt, IdColOpt, ModelOpt, OutOpt, OverwriteOpt, ShapEngine,
                                  ShapEngineOpt, SourceOptions, SparkMasterOpt, TableOpt, TopKOpt, TrackingOpt,
                                  _SOURCE, _load_usage, _open_model, _print_scores, _with_source)

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
        "'none' for DuckDB's default (80% of RAM).", rich_help_panel="Output")] = SCORING_MEMORY_LIMIT,
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
        from churnml import spark

        result = spark.write_scores(churn_model, data, out, overwrite=overwrite, as_of=as_of, reasons=reasons.value,
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
