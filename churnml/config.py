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

Relative paths are read from the folder that holds the config file. Command
line flags override the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from churnml.errors import ConfigError
from churnml.sources import AccountSource, EventSource, SubscriptionSource

__all__ = ["SourcesConfig", "read_config"]

_TABLES = {"events": EventSource, "subscriptions": SubscriptionSource, "accounts": AccountSource}


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
    unknown_tables = set(document) - set(_TABLES)
    if unknown_tables:
        raise ConfigError(f"Config file {str(path)!r} has unknown table(s) "
                          f"{sorted(unknown_tables)!r}; known: {sorted(_TABLES)!r}.")
    tables: dict[str, dict[str, Any]] = {}
    for table, source_class in _TABLES.items():
        settings = dict(document.get(table, {}))
        allowed = _options(source_class) | {"path"}
        unknown = set(settings) - allowed
        if unknown:
            raise ConfigError(f"[{table}] in {str(path)!r} has unknown key(s) {sorted(unknown)!r}; "
                              f"known: {sorted(allowed)!r}.")
        if "path" in settings:
            settings["path"] = str((path.parent / settings["path"]))
        tables[table] = settings
    return SourcesConfig(**tables)
