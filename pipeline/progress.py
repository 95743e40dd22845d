"""What a person watching the console sees while checks run.

A start line per check (``[3/7] zap ...``) on stderr, the finish line (``[3/7] [PASS   ] zap ...
(12.3 s)``) on stdout, each check's console output inside ``::group::``/``::endgroup::`` when
GitHub Actions runs the gate, and the tools' own output (k6's summary, ZAP's log) kept short on a
terminal: it is always complete in the evidence log, and the console shows its last lines only
when the check did not pass (all of it with ``-v``). Imports nothing heavy: the CLI's help and
listing commands load this module's callers without the checks.
"""

from __future__ import annotations

import collections
import io
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from pipeline.redact import one_line, redact

if TYPE_CHECKING:
    from pipeline.model import CheckResult

# Lines of a tool's output shown on a terminal when its check did not pass.
TAIL_LINES = 5
_QUIET_STATUSES = ("pass", "waived", "skipped")


@dataclass(frozen=True)
class View:
    """How much to show: ``verbosity`` (-1 quiet, 0 normal, 1+ verbose), on a terminal, inside GitHub Actions."""

    verbosity: int = 0
    terminal: bool = False
    github: bool = False

    @property
    def stream_tools(self) -> bool:
        """Tool output goes to the console as it comes: with -v, or into a log (CI) unless -q."""
        return self.verbosity > 0 or (self.verbosity == 0 and not self.terminal)


def view(verbosity: int, stream: IO[str] | None = None, env: Mapping[str, str] | None = None) -> View:
    """The view for this process: ``stream`` (stderr by default) decides whether a person is watching."""
    env = os.environ if env is None else env
    stream = sys.stderr if stream is None else stream
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    return View(verbosity, terminal, env.get("GITHUB_ACTIONS") == "true")


class ToolOutput(io.StringIO):
    """The console a check hands its tools: passes their lines on (or not) and keeps the last few.

    The tools' pump threads write to it concurrently (stdout and stderr), hence the lock.
    """

    def __init__(self, sink: IO[str] | None, keep: int = TAIL_LINES) -> None:
        """``sink`` receives every line as it comes (None: the lines are only kept)."""
        super().__init__()
        self._sink = sink
        self._tail: collections.deque[str] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Keep the last lines; pass the text on to the sink, if any."""
        with self._lock:
            self._tail.extend(line for line in text.splitlines() if line.strip())
            if self._sink is not None:
                self._sink.write(text)
        return len(text)

    def flush(self) -> None:
        """Flush the sink."""
        if self._sink is not None:
            self._sink.flush()

    def tail(self) -> list[str]:
        """The last lines the tools wrote (already stripped of terminal escapes by ``pipeline.proc``)."""
        with self._lock:
            return list(self._tail)


def run_check_shown(name: str, run: Callable[[IO[str]], CheckResult], shown: View,
                    position: tuple[int, int] | None = None) -> CheckResult:
    """Run one check through ``run(console)`` with its progress lines, CI group and compact tool output."""
    from pipeline.reporters import console

    prefix = f"[{position[0]}/{position[1]}] " if position else ""
    label = console.safe(name)
    if shown.verbosity >= 0:
        _say(f"{prefix}{label} ...", sys.stderr)
    if shown.github:
        _say(f"::group::{label}", sys.stdout)
    tools = ToolOutput(sys.stderr if shown.stream_tools else None)
    try:
        result = run(tools)
    finally:
        if shown.github:
            sys.stderr.flush()
            _say("::endgroup::", sys.stdout)
    print(prefix + console.check_line(result, sys.stdout), flush=True)
    if shown.verbosity >= 0 and not shown.stream_tools and result.status.value not in _QUIET_STATUSES:
        for line in tools.tail():
            print(f"    | {redact(one_line(line))}", file=sys.stderr)
        if tools.tail():
            print("    (the last lines of the tool's output; all of it is in the evidence folder, or use -v)",
                  file=sys.stderr, flush=True)
    return result


def _say(line: str, stream: IO[str]) -> None:
    print(line, file=stream, flush=True)
