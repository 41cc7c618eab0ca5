"""Shared fixtures: the real data beside the project, and small generated products."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Under pytest-xdist each worker gets its share of the cores for OpenMP (XGBoost) and BLAS. Left at the
# default, every worker starts a thread per core, and OpenMP's spinning threads starve the other workers:
# measured on 2 cores, tests/modeling/test_backtest.py beside the Spark tests ran in 102 s with the default and 51 s
# with one thread per worker. Set before anything loads libgomp; the CLI tests' subprocesses inherit it.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


@pytest.fixture(autouse=True)
def _mlflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the MLFLOW_* variables it inherited: MLflow writes the tracking URI and the
    active experiment into ``os.environ`` when they are set, which would leak one test's store into the next."""
    for name, value in os.environ.items():
        if name.startswith("MLFLOW_"):
            monkeypatch.setenv(name, value)  # restored, and any MLflow adds is removed, at teardown
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        if name not in os.environ:
            monkeypatch.setenv(name, "placeholder")
            monkeypatch.delenv(name)  # registered with monkeypatch: removed again at teardown


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (the project expects ../shared beside it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_product(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated product of 3,000 users over a year (a few seconds)."""
    from churnml.generator import GeneratorConfig, generate

    out = tmp_path_factory.mktemp("product")
    return generate(out, GeneratorConfig(users=3_000, days=365, seed=11, chunk_size=1_000))
