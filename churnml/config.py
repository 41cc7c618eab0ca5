"""``churnml.toml``: where the data is and how its columns map, defined once.

Example::

    [events]
    path = "../shared/data/online_retail/online_retail.parquet"
    user_id = "CustomerID"
    timestamp = "InvoiceDate"
    value = "Quantity * UnitPrice"
    where = "CustomerID IS NOT NULL"

    [subscriptions]
    path = "data/demo/subscriptions.parquet"   # already named as in the contract

    [accounts]
    path = "data/demo/accounts.parquet"

    [churn]
    definition = "subscription"      # or "inactivity"
    horizon_days = 30
    gap_tolerance_days = 3
    step_days = 30

    [features]
    windows = [7, 30, 90]
    activation_events = ["core_action"]

Relative paths are read from the folder that holds the config file. Command
line flags override the file; what neither sets takes the library's defaults.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from churnml.contract import AccountSource, EventSource, SubscriptionSource
from churnml.errors import ConfigError

__all__ = ["SourcesConfig", "read_config"]

_TABLES = {"events": EventSource, "subscriptions": SubscriptionSource, "accounts": AccountSource}
_CHURN_KEYS = {"definition", "horizon_days", "active_window_days", "gap_tolerance_days", "lead_time_days",
               "involuntary_reasons", "step_days"}
_FEATURE_KEYS = {"windows", "trend_windows", "min_type_share", "max_types", "activation_events",
                 "activation_days", "max_levels"}


_BOOL_KEYS = {"drop_null_user_ids"}
_INT_KEYS = {"horizon_days", "active_window_days", "gap_tolerance_days", "lead_time_days", "step_days",
             "max_types", "activation_days", "max_levels"}
_INT_LIST_KEYS = {"windows", "trend_windows"}
_TEXT_LIST_KEYS = {"involuntary_reasons", "activation_events"}
_NUMBER_KEYS = {"min_type_share"}


def _kind_of(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _check_types(table: str, settings: dict[str, Any], path: Path) -> None:
    """Each key's value has the type churnml needs (TOML's own types), or a ConfigError naming the key."""
    for key, value in settings.items():
        if key in _BOOL_KEYS:
            ok, wanted = isinstance(value, bool), "true or false"
        elif key in _INT_KEYS:
            ok, wanted = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif key in _NUMBER_KEYS:
            ok, wanted = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        elif key in _INT_LIST_KEYS:
            ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            wanted = "a list of integers, e.g. [7, 30, 90]"
        elif key in _TEXT_LIST_KEYS:
            ok, wanted = isinstance(value, list) and all(isinstance(v, str) for v in value), \
                'a list of strings, e.g. ["core_action"]'
        else:  # paths, column mappings, filters, formats and policy names are strings
            ok, wanted = isinstance(value, str), ("a string (a file path)" if key == "path" else "a string")
        if not ok:
            raise ConfigError(f"[{table}] {key} in {str(path)!r} must be {wanted}. Got {_kind_of(value)} "
                              f"({value!r}) instead.")


def _options(source_class: type) -> set[str]:
    return {f.name for f in fields(source_class) if f.name != "data"}


@dataclass(frozen=True)
class SourcesConfig:
    """The ``[events]``, ``[subscriptions]`` and ``[accounts]`` tables of a config file.

    Each holds ``path`` plus the keyword arguments of its source class.
    """

    events: dict[str, Any] = field(default_factory=dict)
    subscriptions: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, Any] = field(default_factory=dict)
    churn: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)

    def definition(self, overrides: dict[str, Any] | None = None) -> Any:
        """The churn definition from ``[churn]``, with flags in ``overrides`` (not None) winning."""
        from churnml.contract import InactivityChurn, SubscriptionChurn

        settings = {**self.churn, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        settings.pop("step_days", None)
        kind = settings.pop("definition", "inactivity")
        if kind == "inactivity":
            allowed = {"horizon_days", "active_window_days", "lead_time_days"}
            cls: type = InactivityChurn
        elif kind == "subscription":
            allowed = {"horizon_days", "gap_tolerance_days", "lead_time_days", "involuntary_reasons"}
            cls = SubscriptionChurn
        else:
            raise ConfigError(f"[churn] definition must be 'inactivity' or 'subscription'. Got {kind!r} instead.")
        if "involuntary_reasons" in settings:
            settings["involuntary_reasons"] = tuple(settings["involuntary_reasons"])
        return cls(**{k: v for k, v in settings.items() if k in allowed})

    def step_days(self, override: int | None = None) -> int | None:
        """The grid's step; None lets :func:`churnml.build_dataset` choose (30 days, fewer on short histories)."""
        if override is not None:
            return override
        return int(self.churn["step_days"]) if self.churn.get("step_days") is not None else None

    def feature_builder(self, overrides: dict[str, Any] | None = None) -> Any:
        """A FeatureBuilder from ``[features]``, with flags in ``overrides`` (not None) winning."""
        from churnml.features import FeatureBuilder

        settings = {**self.features, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        for key in ("windows", "trend_windows", "activation_events"):
            if key in settings and settings[key] is not None:
                settings[key] = tuple(settings[key])
        return FeatureBuilder(**settings)

    def source(self, table: str, overrides: dict[str, Any] | None = None
               ) -> EventSource | SubscriptionSource | AccountSource | None:
        """Build the source of ``table``; flags in ``overrides`` (not None) win over the file.

        Returns None when neither the file nor the flags name a path for it.
        """
        settings = dict(getattr(self, table))
        settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
        path = settings.pop("path", None)
        if path is None:
            if table == "events":
                raise ConfigError("No events source: pass --events PATH or set [events] path in "
                                  "churnml.toml.")
            return None
        return _TABLES[table](path, **settings)


def read_config(path: str | Path | None) -> SourcesConfig:
    """Read a ``churnml.toml``; ``None`` gives an empty configuration.

    Raises
    ------
    churnml.errors.ConfigError
        The file is missing, is not valid TOML, or has keys churnml does not know.
    """
    if path is None:
        return SourcesConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist.")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"Config file {str(path)!r} is not valid TOML: {error}.") from error
    known = set(_TABLES) | {"churn", "features"}
    unknown_tables = set(document) - known
    if unknown_tables:
        raise ConfigError(f"Config file {str(path)!r} has unknown table(s) "
                          f"{sorted(unknown_tables)!r}; known: {sorted(known)!r}.")
    for table in known:
        if table in document and not isinstance(document[table], dict):
            raise ConfigError(f"{table} in {str(path)!r} must be a table ([{table}]). Got "
                              f"{_kind_of(document[table])} instead.")
    for table, allowed in (("churn", _CHURN_KEYS), ("features", _FEATURE_KEYS)):
        unknown = set(document.get(table, {})) - allowed
        if unknown:
            raise ConfigError(f"[{table}] in {str(path)!r} has unknown key(s) {sorted(unknown)!r}; "
                              f"known: {sorted(allowed)!r}.")
        _check_types(table, document.get(table, {}), path)
    tables: dict[str, dict[str, Any]] = {}
    for table, source_class in _TABLES.items():
        settings = dict(document.get(table, {}))
        allowed = _options(source_class) | {"path"}
        unknown = set(settings) - allowed
        if unknown:
            raise ConfigError(f"[{table}] in {str(path)!r} has unknown key(s) {sorted(unknown)!r}; "
                              f"known: {sorted(allowed)!r}.")
        _check_types(table, settings, path)
        if "path" in settings:
            settings["path"] = str((path.parent / settings["path"]))
        tables[table] = settings
    return SourcesConfig(**tables, churn=dict(document.get("churn", {})),
                         features=dict(document.get("features", {})))
