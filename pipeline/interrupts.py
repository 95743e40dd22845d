"""Defer SIGINT and SIGTERM around work that must not be cut short (a clean-up, a result write).

Below every other layer: the runner, the target and the CLI use it; it imports nothing
of the gate.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType


@dataclass
class Signals:
    """How many SIGINT/SIGTERM arrived while they were deferred."""

    count: int = 0


_deferring: Signals | None = None


@contextlib.contextmanager
def deferred_signals(reraise: bool = True) -> Iterator[Signals]:
    """Inside, SIGINT and SIGTERM are only counted, so that a clean-up or a write is never cut short.

    On the way out the previous handlers return and, when a signal came and ``reraise`` is
    set, KeyboardInterrupt is raised: the interrupt goes on once the critical part is done.
    A nested use shares the outer one. Outside the main thread nothing changes (Python runs
    signal handlers in the main thread only).
    """
    global _deferring
    if _deferring is not None or threading.current_thread() is not threading.main_thread():
        yield _deferring or Signals()
        return
    state = Signals()

    def count(signum: int, frame: FrameType | None) -> None:
        state.count += 1

    previous = {sig: signal.signal(sig, count) for sig in (signal.SIGINT, signal.SIGTERM)}
    _deferring = state
    try:
        yield state
    finally:
        _deferring = None
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    if state.count and reraise:
        raise KeyboardInterrupt
