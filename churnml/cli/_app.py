"""The application: the ``churnml`` Typer app, its root options, its help layout and the entry point that
turns churnml's errors into one line on stderr with exit code 1.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from churnml.errors import ChurnMLError

if TYPE_CHECKING:
    from rich.console import Console


_CHOICES_INLINE = 16  # choices longer than this when joined go into the help text, not the type column


def _metavar(option: Any) -> str:
    """What the help shows after an option: nothing for a flag, the choices, or the kind of value."""
    if option.is_flag:
        return ""
    described = option.type_descriptor
    if described.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in described.choices)
    name = option.name or ""
    kind = described.annotation
    if getattr(kind, "__origin__", None) is list:
        (kind,) = kind.__args__
    if name.endswith("_col"):
        return "COLUMN"
    if name in ("as_of", "cutoff", "start"):
        return "DATE"
    if name == "where":
        return "SQL"
    if name in ("model",):
        return "URI"
    if kind is Path or name in ("events", "subscriptions", "accounts", "table"):
        return "PATH"
    if kind is int:
        return "DAYS" if name.endswith("days") else "N"
    if kind is float:
        return "NUMBER"
    return "TEXT"


def _tidy_help(command: Any) -> None:
    """Plain metavars (DATE, PATH, DAYS, a|b) on every option of ``command`` and its subcommands.

    Typer shows Python types (``<bool>`` after a flag, ``<int range>``) and folds long choice
    lists mid-word; long choice lists move into the option's help instead.
    """
    from typer import _click

    options = [p for p in command.params if hasattr(p, "is_flag")]
    help_option = command.get_help_option(_click.Context(command))
    for option in options + ([help_option] if help_option is not None else []):
        if option.metavar is not None:
            continue
        option.metavar = _metavar(option)
        if len(option.metavar) > _CHOICES_INLINE:
            choices = option.metavar.split("|")
            if not all(c in (option.help or "") for c in choices):
                option.help = f"{option.help or ''} One of: {', '.join(choices)}.".strip()
            option.metavar = "NAME"
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


class _Group(typer.core.TyperGroup):
    """The app's group: tidies its commands' help once they are built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy_help(self)


app = typer.Typer(
    cls=_Group,
    name="churnml",
    help="Point-in-time churn prediction: features, models, explanations, scores, analytics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # logs and pipes: room for the metric tables instead of rich's default 80
        console.width = 120
    return console


def _print_version(value: bool) -> None:
    if value:
        from churnml._version import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    """Point-in-time churn prediction: features, models, explanations, scores, analytics."""
    _quiet_third_parties()


# Libraries that report on stderr what a churnml command already says (MLflow's INFO lines and
# artifact progress bars, Alembic's migrations, py4j's gateway); their warnings and errors still show.
_CHATTY_LOGGERS = ("mlflow", "alembic", "py4j", "urllib3", "numba", "databricks")


def _quiet_third_parties() -> None:
    """Inside a command only (never at import of the library): third-party INFO logging off."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in _CHATTY_LOGGERS:  # and for a logger mlflow or alembic already configured
        logging.getLogger(name).setLevel(logging.WARNING)


# The library's errors give their fix in Python (``where="..."``); on the command line the same
# fix is a flag. Event-log mappings only: the other tables are mapped in the config file.
_FLAG_SPELLING = [
    (re.compile(r"overwrite=True( \(--overwrite\))?"), "--overwrite"),
    (re.compile(r"drop_null_user_ids=True"), "--drop-null-user-ids"),
    (re.compile(r"\b(where|time_format|duplicates|outliers)=(?=['\"]|\.|,|\)| |$)"),
     lambda m: "--" + m.group(1).replace("_", "-") + ("" if m.string[m.end():m.end() + 1] in ".,) " else " ")),
    (re.compile(r"\b(user_id|timestamp|event_type|value)='<column>'"),
     lambda m: {"user_id": "--user-col", "timestamp": "--time-col", "event_type": "--type-col",
                "value": "--value-col"}[m.group(1)] + " <column>"),
]


def _cli_spelling(text: str) -> str:
    """``text`` with the Python spelling of a fix replaced by the command-line flag.

    >>> _cli_spelling('Fix: drop them with where="id IS NOT NULL" or drop_null_user_ids=True.')
    'Fix: drop them with --where "id IS NOT NULL" or --drop-null-user-ids.'
    >>> _cli_spelling("Fix: pass duplicates='drop', or map it, e.g. user_id='<column>'.")
    "Fix: pass --duplicates 'drop', or map it, e.g. --user-col <column>."
    """
    for pattern, flag in _FLAG_SPELLING:
        text = pattern.sub(flag, text)
    return text


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app; known errors become one line on stderr and exit 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="churnml")
    except ChurnMLError as error:
        if "--debug" in args:
            raise
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]  # one line, all problems
        _console(stderr=True).print(f"error: {_cli_spelling(' '.join(lines))}", markup=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as error:  # an internal bug: still no traceback unless asked
        if "--debug" in args:
            raise
        _console(stderr=True).print(f"unexpected error: {type(error).__name__}: {error}\n"
                                    "Rerun with --debug for the traceback.",
                                    markup=False, soft_wrap=True)
        raise SystemExit(1) from None
