"""Every notebook runs top to bottom without a cell error, and is committed without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_three_walkthroughs_exist():
    assert [p.name for p in ALL] == ["01-quickstart.ipynb", "02-online-retail.ipynb", "03-retention-analytics.ipynb"]


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_committed_without_outputs(path):
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code), \
        f"{path.name} has outputs: clear them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_runs_top_to_bottom(path, shared_data, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("CHURNML_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("CHURNML_SHARED_DATA", str(shared_data))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel then draws figures inline (PNG outputs)
    notebook = nbformat.read(path, as_version=4)
    # raises CellExecutionError, with the cell and its traceback, on the first failing cell
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # its charts were drawn
    assert not (NOTEBOOKS / "mlruns").exists()  # what it wrote went to its output folder


def test_runs_leave_no_mlflow_artifacts_in_the_working_folder(tmp_path, monkeypatch):
    """A SQLite store keeps its artifacts beside the database (the notebooks' stores are in their output
    folder), so running from notebooks/ leaves no notebooks/mlruns."""
    from churnml.tracking._runs import set_experiment

    import mlflow

    work, store = tmp_path / "work", tmp_path / "out" / "mlflow.db"
    work.mkdir()
    store.parent.mkdir()
    monkeypatch.chdir(work)
    uri = f"sqlite:///{store.as_posix()}"
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment(set_experiment("notebook", uri))
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.log_dict({"a": 1}, "a.json")
    finally:
        mlflow.set_tracking_uri(None)
    assert not (work / "mlruns").exists()
    assert experiment.artifact_location.startswith((store.parent / "mlruns").as_uri())
    assert list((store.parent / "mlruns").rglob("a.json"))
