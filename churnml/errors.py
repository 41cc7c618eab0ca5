"""The one error hierarchy of churnml.

Every error a user can cause derives from :class:`ChurnMLError` and from the
builtin exception it matches, so ``except ValueError`` keeps working. Messages
name the argument or column, show the bad value with ``!r``, count the bad rows
and say how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ChurnMLError",
    "ConfigError",
    "SourceNotFoundError",
    "SourceFormatError",
    "SchemaError",
    "MissingColumnError",
    "MappingError",
    "DataValidationError",
    "EmptySourceError",
    "TimestampParseError",
    "MixedTimezoneError",
    "NullUserIdError",
    "NonNumericValueError",
    "DuplicateRowsError",
    "DuplicateKeyError",
    "InvalidIntervalError",
    "InvalidValueError",
    "OutlierTimestampError",
    "NoEligibleUsersError",
    "LabelError",
    "MissingFeatureError",
    "LabelWindowOpenError",
]


class ChurnMLError(Exception):
    """Base class of every error churnml raises on purpose."""


class ConfigError(ChurnMLError, ValueError):
    """A parameter or configuration value is not valid."""


class SourceNotFoundError(ChurnMLError, FileNotFoundError):
    """A data source path (file, folder or glob) matches nothing."""


class SourceFormatError(ChurnMLError, ValueError):
    """A file's bytes are not the format or encoding its name says (gzip behind ``.csv``, Latin-1 text)."""


class SchemaError(ChurnMLError, ValueError):
    """The data does not have the columns or types the mapping needs."""


class MissingColumnError(SchemaError, KeyError):
    """A mapped column does not exist in the source."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class MappingError(SchemaError):
    """A mapping expression or ``where`` filter does not compile against the source."""


class DataValidationError(ChurnMLError, ValueError):
    """Values in a column break the data contract.

    Attributes
    ----------
    column : str
        The source column (or expression) that holds the bad values.
    n_bad : int
        How many rows are affected.
    example : object
        One offending value (or row), for the message.
    others : list of str
        Further problems found in the same pass, so one run reports them all.
    """

    def __init__(self, message: str, *, column: str, n_bad: int, example: object = None) -> None:
        super().__init__(message)
        self.column = column
        self.n_bad = n_bad
        self.example = example
        self.others: list[str] = []

    def __str__(self) -> str:
        text = str(self.args[0])
        if self.others:
            text += "\nAlso found:\n" + "\n".join(f"  - {line}" for line in self.others)
        return text


class EmptySourceError(DataValidationError):
    """A source has no rows, or none are left after its ``where`` filter."""


class TimestampParseError(DataValidationError):
    """Timestamps that are null or do not parse."""


class MixedTimezoneError(DataValidationError):
    """A timestamp column mixes time-zone-aware and naive values."""


class NullUserIdError(DataValidationError):
    """Rows without a user id, and the mapping does not say to drop them."""


class NonNumericValueError(DataValidationError):
    """A column that must be numeric holds text that is not a number."""


class DuplicateRowsError(DataValidationError):
    """Exact duplicate rows when ``duplicates='error'`` was asked for."""


class DuplicateKeyError(DataValidationError):
    """A key that must be unique (an account's ``user_id``) repeats."""


class InvalidIntervalError(DataValidationError):
    """An interval ends before it starts (a subscription's ``end`` < ``start``)."""


class InvalidValueError(DataValidationError):
    """Numbers outside what the column can mean: infinite, NaN, absurdly large, or a negative MRR."""


class OutlierTimestampError(DataValidationError):
    """Timestamps far outside the bulk of the data (a stray year 1 or 2262), or subscriptions starting
    after the event log ends."""


class LabelError(DataValidationError):
    """A label column that is not binary, or has missing labels."""


class MissingFeatureError(DataValidationError):
    """A feature the model relies on cannot be computed from this data: its input is missing entirely."""


class NoEligibleUsersError(ChurnMLError, ValueError):
    """Dates with nothing to compute: before the first event, or so late that no user is eligible."""


class ModelFileError(ChurnMLError, ValueError):
    """A model folder is missing a file, or a file does not match its manifest."""


class LabelWindowOpenError(ChurnMLError, ValueError):
    """Scores whose label window is not yet fully observed in the data: their outcome is not known.

    ``ready_on`` is the first date the data must reach for them to be labelled.
    """

    def __init__(self, message: str, *, ready_on: object) -> None:
        super().__init__(message)
        self.ready_on = ready_on
