"""Console lines: one per check and the verdict; colour only on a terminal.

``NO_COLOR`` (any non-empty value, https://no-color.org) turns colour off everywhere;
``FORCE_COLOR`` (non-empty) turns it on when the output is not a terminal (a CI log that
renders colours). NO_COLOR wins when both are set: the reader asked for none.

Everything from a tool or a result file is printed through ``redact.one_line``: no
escape sequence, control or bidi character and no line break of its own, so a
scanned site cannot repaint the terminal or print a verdict line that looks like ours.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING

from pipeline.redact import one_line, redact

if TYPE_CHECKING:
    from pipeline.model import CheckResult
    from pipeline.verdict import VerdictReport

_COLOURS = {"pass": "32", "waived": "32", "fail": "31", "error": "33", "skipped": "90", "not_applicable": "36",
            "ready": "32", "not_ready": "31", "incomplete": "33"}


def check_line(result: CheckResult, stream: IO[str]) -> str:
    """``[PASS] coverage  Line coverage 93.10%; ... (12.3 s)``."""
    label = _paint(f"[{result.status.value.upper():7}]", result.status.value, stream)
    return f"{label} {safe(result.check):<11} {safe(result.summary)} ({result.duration_s:.1f} s)"


def reason_lines(result: CheckResult) -> list[str]:
    """The reasons of one result, one indented line each (for ``readiness check``)."""
    return [f"  - {safe(reason)}" for reason in result.reasons]


def verdict_lines(report: VerdictReport, stream: IO[str]) -> list[str]:
    """The verdict line and, below it, why."""
    head = _paint(f"VERDICT: {report.verdict.value.upper()}", report.verdict.value, stream)
    lines = [f"{head} (exit code {report.verdict.exit_code})"]
    lines += [f"  - {safe(reason)}" for reason in report.reasons]
    return lines


def safe(text: str) -> str:
    """Foreign text as one printable line, secrets masked."""
    return redact(one_line(str(text)))


def colour_on(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """Whether lines written to ``stream`` get colours: NO_COLOR, then FORCE_COLOR, then is it a terminal."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return False
    return bool(env.get("FORCE_COLOR")) or bool(getattr(stream, "isatty", lambda: False)())


def _paint(text: str, key: str, stream: IO[str]) -> str:
    if not colour_on(stream):
        return text
    return f"\033[{_COLOURS.get(key, '0')}m{text}\033[0m"
