"""Writing result tables: Parquet or CSV by extension, atomically, never over a file by accident."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["write_figure", "write_table"]


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``frame`` to ``path`` (``.parquet`` or ``.csv``) through a temporary file and a rename.

    A crash mid-write leaves any earlier file at ``path`` intact and no partial file.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ConfigError(f"Output {str(target)!r} must end in .parquet or .csv.")
    if target.exists() and not overwrite:
        raise ConfigError(f"{str(target)!r} already exists. Fix: pass --overwrite or choose another path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        if suffix == ".parquet":
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def write_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Save a figure (format from the extension, PNG by default) through a temporary file and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, format=target.suffix.lstrip(".").lower() or "png", dpi=120, bbox_inches="tight")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
