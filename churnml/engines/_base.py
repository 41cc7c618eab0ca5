"""The engine contract: what every engine offers, and which engine serves a piece of data.

An engine turns loaded data into features. DuckDB (in process, always there) and
Spark (optional: pyspark and Java) are registered here by the module that holds
each; a module is imported only when data of its kind can exist (skrub's lazy
dispatch: Spark data cannot exist before ``churnml.engines.spark._load`` is imported), so
the base install never imports pyspark. Nothing outside ``churnml.engines`` names an
engine's module: callers ask :func:`engine_for` for the data they hold and use
the :class:`Engine` it returns.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from churnml.contract import ChurnDefinition
    from churnml.features import FeatureBuilder, FeatureSpec


@dataclass(frozen=True)
class FitStatistics:
    """What ``FeatureBuilder.fit`` reads from the data, the same on every engine."""

    type_counts: dict[str, int]
    has_value: bool
    has_signup: bool
    has_subscriptions: bool
    plan_levels: list[str] | None
    attributes: dict[str, list[str] | None]


@runtime_checkable
class Engine(Protocol):
    """One engine: the operations churnml's library code runs on loaded data.

    ``name`` is what ``FeatureBuilder(engine=...)`` and ``--engine`` call it; ``loader``
    the function that loads data for it (named in errors).
    """

    name: str
    loader: str

    def handles(self, data: Any) -> bool:
        """Whether ``data`` (loaded data or a training set) belongs to this engine."""

    def fit_statistics(self, data: Any, *, until: dt.date | None, max_levels: int) -> FitStatistics: ...

    def event_types(self, data: Any) -> list[str]: ...

    def time_span(self, data: Any) -> tuple[dt.datetime, dt.datetime]:
        """First and last event; the last also counts subscription starts and ends."""

    def input_counts(self, data: Any, day: dt.date, *, types: bool) -> tuple[int, int, set[str] | None]:
        """Events before ``day``, those with a value, and (with ``types``, where the data has them) their types."""

    def compute(self, data: Any, spec: FeatureSpec, definition: ChurnDefinition, dates: list[dt.date], *,
                labels: bool) -> Any:
        """Features (and labels) of every eligible user at every date, in the engine's own frame."""

    def to_pandas(self, frame: Any, spec: FeatureSpec) -> pd.DataFrame:
        """:meth:`compute`'s frame in pandas, ordered by date then user and typed as the spec says."""

    def training_set(self, frame: Any, *, observation_dates: list[dt.date], definition: ChurnDefinition,
                     builder: FeatureBuilder) -> Any:
        """:meth:`compute`'s frame with labels as the engine's training set."""

    def trainer_class(self) -> type:
        """The trainer of this engine's training sets."""


# name -> (the module holding the engine, the module its data classes live in): the engine is imported
# only once its data module is, since no data of its kind can exist before.
_REGISTRY: dict[str, tuple[str, str]] = {
    "duckdb": ("churnml.engines.duckdb", "churnml.contract._sources"),
    "spark": ("churnml.engines.spark", "churnml.engines.spark._load"),
}


def register_engine(name: str, module: str, data_module: str) -> None:
    """Register an engine: ``module`` defines ``ENGINE`` (an :class:`Engine`); ``data_module`` is where the
    classes of its loaded data are defined."""
    _REGISTRY[name] = (module, data_module)


def engine_names() -> list[str]:
    return list(_REGISTRY)


def engine_named(name: str) -> Engine:
    """The engine registered as ``name``."""
    if name not in _REGISTRY:
        raise ConfigError(f"There is no engine {name!r}; the engines are {', '.join(map(repr, _REGISTRY))}.")
    engine: Engine = importlib.import_module(_REGISTRY[name][0]).ENGINE
    return engine


def _present() -> list[Engine]:
    """The engines whose data can exist now: those whose data module is imported."""
    return [engine_named(name) for name, (_, data_module) in _REGISTRY.items() if data_module in sys.modules]


def find_engine(data: Any) -> Engine | None:
    """The engine of loaded data or of a training set, or None when no engine holds it (a labelled table)."""
    for engine in _present():
        if engine.handles(data):
            return engine
    return None


def engine_for(data: Any) -> Engine:
    """The engine of loaded data or of a training set: DuckDB for :func:`churnml.load`'s, Spark for
    :func:`churnml.spark.load`'s."""
    engine = find_engine(data)
    if engine is not None:
        return engine
    loaders = " or ".join(engine.loader for engine in _present())
    raise ConfigError(f"churnml computes on loaded data; got an object of type {type(data).__name__!r}. Fix: load "
                      f"the tables with {loaders or 'churnml.load'} first.")


def require_engine(data: Any, name: str, what: str, fix: str = "") -> Any:
    """``data``'s engine, refused with a clear error unless it is ``name`` (for work only one engine does):
    the engine object itself, with what it offers beyond the contract."""
    engine = engine_for(data)
    if engine.name != name:
        wanted = engine_named(name)
        raise ConfigError(f"{what} runs on data loaded by {wanted.loader} ({name}); this data was loaded for "
                          f"{engine.name}. Fix: load the events with {wanted.loader}{fix}.")
    return engine


def check_columns(data: Any, spec: FeatureSpec) -> None:
    """Refuse data that lacks inputs the spec was fitted with, instead of inventing zeros."""
    missing = []
    if spec.has_value and "value" not in data.events.columns:
        missing.append("events.value")
    if spec.event_types and "event_type" not in data.events.columns:
        missing.append("events.event_type")
    if spec.has_subscriptions and data.subscriptions is None:
        missing.append("subscriptions")
    elif data.subscriptions is not None and "end" not in data.subscriptions.columns:
        missing.append("subscriptions.end (map it; null means still active)")
    if spec.attributes and data.accounts is None:
        missing.append("accounts")
    elif data.accounts is not None:
        missing += [f"accounts.{c}" for c in spec.attributes if c not in data.accounts.columns]
    if missing:
        raise ConfigError(f"The features were fitted with inputs this data lacks: {', '.join(missing)}. "
                          "Fix: load the same tables and columns as at fit time.")
