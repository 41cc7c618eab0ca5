"""Progress of the steps that take seconds, told to whoever listens; nobody listens by default.

The library says what it is doing (``step("computing features for 12 dates")``) and the
command line shows it as one status line on stderr, replaced by the next step. A Python
caller sees nothing unless it listens (``with listening(print): ...``). The listener is a
context variable, so threads and nested calls each see their own.

>>> seen = []
>>> with listening(seen.append):
...     step("loading")
...     with listening(None):
...         step("not told")
>>> step("after")
>>> seen
['loading']
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["listening", "rounds_callback", "step"]

_listener: contextvars.ContextVar[Callable[[str], Any] | None] = contextvars.ContextVar("churnml_progress",
                                                                                        default=None)


def step(message: str) -> None:
    """Tell the listener, if any, what is being done now."""
    listener = _listener.get()
    if listener is not None:
        listener(message)


@contextlib.contextmanager
def listening(listener: Callable[[str], Any] | None) -> Iterator[None]:
    """Send the steps of the block to ``listener`` (None: to nobody)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def rounds_callback(what: str, every: int = 25) -> Any:
    """An XGBoost callback that tells the boosting round every ``every`` rounds (None when nobody listens)."""
    if _listener.get() is None:
        return None
    import xgboost as xgb

    class _Rounds(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if (epoch + 1) % every == 0:
                step(f"{what}: round {epoch + 1:,}")
            return False

    return _Rounds()
