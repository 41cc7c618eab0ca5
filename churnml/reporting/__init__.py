"""What retention teams read: the HTML report, the analytics and the history of a model's runs.

- ``_report``: :func:`write_report`, one self-contained HTML page from a scores file;
- :mod:`churnml.reporting.analytics` (public module): cohorts, retention curves, gaps, the numbers a
  retention team works by, computed in DuckDB;
- ``_monitoring``: a registered model's scoring runs over time: expected, realised, drift.
"""

from churnml.reporting._monitoring import evaluation_lines, expected_lines, history, history_figure, history_lines
from churnml.reporting._report import format_value, write_report

__all__ = ["evaluation_lines", "expected_lines", "format_value", "history", "history_figure", "history_lines",
           "write_report"]
