"""The engines under test, as one fixture (ibis's ``backends/tests`` style): ``engine`` runs a test once per
engine, DuckDB always and Spark where pyspark and Java are present (with CI=true a missing Java fails).

Each engine is reached through a small harness that says only what differs between them: how data is
loaded, and how its loaded events, features and training sets come back as pandas. The tests then hold
every engine to the same oracle (the pandas reference, counts read from the raw files, the contract's
rules), not to each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest


def _java_problem() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'churnml[spark]')"
    java = shutil.which("java") or (os.path.join(os.environ["JAVA_HOME"], "bin", "java")
                                    if os.environ.get("JAVA_HOME") else None)
    if java is None or not os.path.exists(java):
        return "no Java runtime (Spark needs Java 17+; apt-get install default-jre-headless)"
    try:
        subprocess.run([java, "-version"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return f"java -version failed: {error}"
    return None


@pytest.fixture(scope="session")
def spark():
    problem = _java_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Spark tests: {problem}")
        pytest.skip(problem)
    from churnml import spark as cs

    session = cs.session("local[2]", config={"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
                                             "spark.default.parallelism": "2"})
    session.sparkContext.setLogLevel("ERROR")
    yield session


@dataclass(frozen=True)
class Harness:
    """One engine, as the parity tests drive it."""

    name: str
    session: Any = None  # the SparkSession for Spark

    def load(self, *sources: Any) -> Any:
        if self.name == "spark":
            from churnml import spark as cs

            return cs.load(self.session, *sources)
        from churnml import load

        return load(*sources)

    def events(self, data: Any) -> pd.DataFrame:
        """The loaded events as pandas, in the order of user, time and the remaining columns."""
        frame = data.events.frame.toPandas() if self.name == "spark" else data.events.to_pandas()
        return frame.sort_values(list(frame.columns)).reset_index(drop=True)

    def frame(self, training: Any) -> pd.DataFrame:
        """A training set's rows as pandas."""
        return training.to_pandas().frame if self.name == "spark" else training.frame


@pytest.fixture(params=["duckdb", "spark"])
def engine(request) -> Harness:
    if request.param == "spark":
        return Harness("spark", request.getfixturevalue("spark"))
    return Harness("duckdb")
