"""The data contract: what churnml reads, what churn means, and the judgement of a load.

- ``_sources``: :class:`EventSource`, :class:`SubscriptionSource` and :class:`AccountSource` map a
  user's tables onto churnml's logical columns; :func:`load` validates and loads them (the embedded
  DuckDB session) into :class:`UsageData`, with a :class:`LoadReport` per table.
- ``_loading``: the load itself, written once (:func:`load_with`): map the columns, plan each
  conversion and its checks (:func:`plan_conversion`), count every check in one pass, judge the
  counts, bound the timestamps, count duplicates, select and summarise. An engine supplies only a
  :class:`LoadDialect` (its SQL spelling) and a :class:`LoadRun` (how a query runs): DuckDB's are in
  ``_sources``, Spark's in :mod:`churnml.engines.spark`.
- ``_rules``: the contract's rules (the three tables, the text patterns) and the engine-neutral judgement
  of a load: bad-row counts in, errors, drops and notes out.
- ``_definitions``: :class:`InactivityChurn` and :class:`SubscriptionChurn` (what churn means, who can
  churn at a date, which dates can be labelled) and the observation grid.
- ``_labelled``: tables that already carry a churn label (:class:`LabelledTableSource`).

The lowest layer above the foundations: it imports nothing of churnml but errors, ``_duckdb`` and ``_io``.
"""

from churnml.contract._definitions import (ChurnDefinition, DEFAULT_ACTIVE_WINDOW_DAYS, INVOLUNTARY_REASONS,
                                           InactivityChurn, SubscriptionChurn, check_after_first_event, check_labelled,
                                           definition_from_dict, describe_probability, eligibility_rule,
                                           no_eligible_users, observation_grid, parse_date, parse_dates)
from churnml.contract._labelled import LabelledTable, LabelledTableSource
from churnml.contract._loading import FAMILIES, LoadDialect, LoadReport, LoadRun, load_with, plan_conversion, text_id
from churnml.contract._rules import listed, validate_options, with_signup_note
from churnml.contract._sources import (DUCKDB as DUCKDB_LOAD, AccountSource, EventSource, LoadedTable, Source,
                                       SubscriptionSource, UsageData, is_csv_path, load, text_columns)

__all__ = ["AccountSource", "ChurnDefinition", "DEFAULT_ACTIVE_WINDOW_DAYS", "DUCKDB_LOAD", "EventSource", "FAMILIES",
           "INVOLUNTARY_REASONS", "InactivityChurn", "LabelledTable", "LabelledTableSource", "LoadDialect",
           "LoadReport", "LoadRun", "LoadedTable", "Source", "SubscriptionChurn", "SubscriptionSource",
           "UsageData", "check_after_first_event", "check_labelled", "definition_from_dict",
           "describe_probability", "eligibility_rule", "is_csv_path", "listed", "load", "load_with",
           "no_eligible_users", "observation_grid", "parse_date", "parse_dates", "plan_conversion",
           "text_columns", "text_id", "validate_options", "with_signup_note"]
