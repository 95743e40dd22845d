"""The one family of errors a check may raise; infrastructure (proc, xmlsafe, target) raises them too.

It sits below the checks layer and imports nothing from it, so low-level code can
raise a typed error without importing the checks. The runner turns any of them into
an ``error`` result with the reason and the hint.
"""

from __future__ import annotations

from pathlib import Path


class CheckError(Exception):
    """The check could not produce a judgement; ``reason`` says why, ``hint`` what to do."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint

    def sentences(self) -> tuple[str, ...]:
        """The reason and the hint, as report sentences."""
        return (self.reason, self.hint) if self.hint else (self.reason,)


class ToolNotFound(CheckError):
    """The external tool is not installed or not on PATH."""


class ToolFailed(CheckError):
    """The tool ran but ended in a way that yields no usable evidence; ``exit_code`` is how it ended."""

    def __init__(self, reason: str, hint: str = "", exit_code: int | None = None) -> None:
        super().__init__(reason, hint)
        self.exit_code = exit_code

    @property
    def interrupted(self) -> bool:
        """Whether the tool was stopped by Ctrl-C or SIGTERM (a signal, or a shell's 128+signal), not by itself."""
        return self.exit_code in (-2, -15, 130, 143)


class CheckTimeout(CheckError):
    """The tool or the whole check ran past its time budget."""


class ArtifactMissing(CheckError):
    """An evidence file that should exist does not, or is empty or stale."""


class ParseError(CheckError):
    """Evidence exists but cannot be read; the message names the file and the place."""

    def __init__(self, path: Path | str, place: str, problem: str, hint: str = "") -> None:
        where = f"{path}: {place}" if place else str(path)
        super().__init__(f"{where}: {problem}", hint)
        self.path = str(path)
        self.place = place
