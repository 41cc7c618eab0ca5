"""The data contract: what churnml reads, what churn means, and the judgement of a load.

- ``_sources``: :class:`EventSource`, :class:`SubscriptionSource` and :class:`AccountSource` map a
  user's tables onto churnml's logical columns; :func:`load` validates and loads them (the embedded
  DuckDB session) into :class:`UsageData`, with a :class:`LoadReport` per table.
- ``_rules``: the contract's rules (the three tables, the text patterns) and the engine-neutral judgement
  of a load: bad-row counts in, errors, drops and notes out. The Spark loader
  (:mod:`churnml.engines.spark`) gives it its own counts and gets the same verdicts.
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
from churnml.contract._rules import (AWARE_PATTERN, BLANK_PATTERN, DAY_MONTH_PATTERN, EPOCH_PATTERN, EXACT_FLOAT_ID,
                                     INTEGER_PART, LEADING_ZERO, Mapped, OUTLIER_QUANTILES, WHOLE_PATTERN,
                                     WORDED_PATTERN, apply_duplicate_policy, assess, check_scalar_id, first_line,
                                     judge_outliers, judge_summary, listed, number_checks, outlier_bounds,
                                     outlier_example, resolve_column, validate_options, with_signup_note)
from churnml.contract._sources import (AccountSource, EventSource, LoadReport, LoadedTable, Source, SubscriptionSource,
                                       UsageData, is_csv_path, load, text_columns)

__all__ = ["AWARE_PATTERN", "AccountSource", "BLANK_PATTERN", "ChurnDefinition", "DAY_MONTH_PATTERN",
           "DEFAULT_ACTIVE_WINDOW_DAYS", "EPOCH_PATTERN", "EXACT_FLOAT_ID", "EventSource", "INTEGER_PART",
           "INVOLUNTARY_REASONS", "InactivityChurn", "LEADING_ZERO", "LabelledTable", "LabelledTableSource",
           "LoadReport", "LoadedTable", "Mapped", "OUTLIER_QUANTILES", "Source", "SubscriptionChurn",
           "SubscriptionSource", "UsageData", "WHOLE_PATTERN", "WORDED_PATTERN", "apply_duplicate_policy", "assess",
           "check_after_first_event", "check_labelled", "check_scalar_id", "definition_from_dict",
           "describe_probability", "eligibility_rule", "first_line", "is_csv_path", "judge_outliers", "judge_summary",
           "listed", "load", "no_eligible_users", "number_checks", "observation_grid", "outlier_bounds",
           "outlier_example", "parse_date", "parse_dates", "resolve_column", "text_columns", "validate_options",
           "with_signup_note"]
