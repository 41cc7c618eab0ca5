"""Writing results atomically: a file appears whole at its path, or not at all.

On Linux the bytes go to an unnamed file (``O_TMPFILE``) in the target's folder,
linked in under a temporary name and renamed over the target only when
complete: a crash, or even ``SIGKILL``, mid-write leaves any earlier file intact
and nothing behind, because an unnamed file vanishes with its process. Where
``O_TMPFILE`` is missing, a named hidden temporary file is used instead and
removed on any Python-level failure.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from churnml.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["atomic_output", "check_output", "neutralise_formulas", "neutralise_formulas_batch", "scratch_file",
           "write_figure", "write_table", "write_text"]

TABLE_SUFFIXES = (".parquet", ".csv")
# A text cell starting with one of these is run as a formula by spreadsheets (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = "^[=+\\-@\t\r]"


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula prefixed by a single quote
    (the OWASP rule); numbers, even negative ones, stay numbers.

    >>> import pandas as pd
    >>> neutralise_formulas(pd.DataFrame({"id": ["=1+1", "a"], "x": [-1.5, 2.0]})).to_dict("list")
    {'id': ["'=1+1", 'a'], 'x': [-1.5, 2.0]}
    """
    import pandas as pd

    out = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype("object").where(column.notna(), None)
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            column = column.map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v)
        out[name] = column
    return pd.DataFrame(out, index=frame.index)[list(frame.columns)]


def neutralise_formulas_batch(batch: Any) -> Any:
    """The same rule on an Arrow record batch (its text columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for array in batch.columns:
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            hit = pc.fill_null(pc.match_substring_regex(array, _FORMULA_PATTERN), False)
            quoted = pc.binary_join_element_wise(pa.scalar("'", array.type), array, pa.scalar("", array.type))
            array = pc.if_else(hit, quoted, array)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def check_output(path: str | os.PathLike[str], *, overwrite: bool, suffixes: tuple[str, ...] | None = None) -> Path:
    """The target path, refused when it exists (unless ``overwrite``) or has the wrong extension."""
    target = Path(path)
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise ConfigError(f"Output {str(target)!r} must end in {' or '.join(suffixes)}.")
    if target.exists() and not overwrite:
        raise ConfigError(f"{str(target)!r} already exists. Fix: pass --overwrite or choose another path.")
    if target.is_dir():
        raise ConfigError(f"{str(target)!r} is a folder; give a file path.")
    return target


def _unnamed(folder: Path) -> int | None:
    """A file descriptor of an unnamed file in ``folder``, or None where the OS cannot make one."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        return os.open(folder, flag | os.O_RDWR, 0o644)
    except OSError:  # the file system does not support it
        return None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write; it becomes ``path`` when the block ends without an error."""
    target = check_output(path, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = _unnamed(target.parent)
    if fd is not None:
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            staged = _link_unnamed(handle.fileno(), target)
        try:
            os.replace(staged, target)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return
    handle_fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle_fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _link_unnamed(fd: int, target: Path) -> Path:
    """Give the unnamed file a hidden name beside ``target`` (a rename then replaces the target)."""
    root = os.open("/", os.O_RDONLY)
    try:
        for attempt in range(100):
            staged = target.with_name(f".{target.name}.{os.getpid()}.{attempt}.tmp")
            try:
                # linkat(AT_SYMLINK_FOLLOW) on the /proc magic link: how an O_TMPFILE file gets a name
                os.link(f"/proc/self/fd/{fd}", staged, src_dir_fd=root, follow_symlinks=True)
                return staged
            except FileExistsError:
                continue
        raise ConfigError(f"Could not find a free temporary name beside {str(target)!r}.")
    finally:
        os.close(root)


@contextlib.contextmanager
def scratch_file(suffix: str = "") -> Iterator[tuple[IO[bytes], str]]:
    """An intermediate file that nobody else sees and that never outlives the process: the handle,
    and a path this process (DuckDB included) can read it back by."""
    fd = _unnamed(Path(tempfile.gettempdir()))
    if fd is not None:
        with os.fdopen(fd, "w+b") as handle:
            yield handle, f"/proc/self/fd/{handle.fileno()}"
        return
    with tempfile.NamedTemporaryFile(prefix="churnml-", suffix=suffix) as handle:
        yield handle, handle.name


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``frame`` to ``path`` (``.parquet`` or ``.csv``) atomically (see the module docstring)."""
    target = check_output(path, overwrite=overwrite, suffixes=TABLE_SUFFIXES)
    with atomic_output(target, overwrite=overwrite) as handle:
        if target.suffix.lower() == ".parquet":
            frame.to_parquet(handle, index=False)
        else:
            neutralise_formulas(frame).to_csv(handle, index=False)
    return target


def write_figure(figure: Figure, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Save a figure (format from the extension, PNG by default) atomically."""
    target = Path(path)
    with atomic_output(target, overwrite=overwrite) as handle:
        figure.savefig(handle, format=target.suffix.lstrip(".").lower() or "png", dpi=120, bbox_inches="tight")
    return target


def write_text(text: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write a text file (UTF-8) atomically."""
    target = Path(path)
    with atomic_output(target, overwrite=overwrite) as handle:
        handle.write(text.encode())
    return target
