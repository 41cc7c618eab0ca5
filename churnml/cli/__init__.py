"""The ``churnml`` command line: one thin function per command, which parses, calls the library and prints.

- ``_app``: the Typer app, its root options and :func:`main`, the entry point (errors go to stderr as one
  line with exit code 1, no traceback unless ``--debug``);
- ``_options``: the options commands share, defined once (the data options as one ``SourceOptions``);
- one module per group of commands: ``_data`` (generate, validate, demo, features, dataset), ``_model``
  (train, backtest, explain), ``_score`` (score, report, evaluate, monitor), ``_analytics``.

A command registers itself on the app when its module is imported; the imports below are in the order
``churnml --help`` lists the commands.
"""

from churnml.cli import _analytics, _data, _model, _score  # noqa: F401 - each registers its commands
from churnml.cli._app import app, main

__all__ = ["app", "main"]
