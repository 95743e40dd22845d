"""The counts a coverage report holds, whichever format it came in (Cobertura, LCOV)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileCoverage:
    """Line and branch counts of one source file."""

    path: str
    group: str
    lines_valid: int
    lines_covered: int
    branches_valid: int = 0
    branches_covered: int = 0


@dataclass(frozen=True)
class CoverageReport:
    """Counts of a whole coverage report; rates are left to the policy."""

    source: str
    format: str
    files: tuple[FileCoverage, ...]
    tool_line_rate: float | None = None  # the tool's own root attribute, for contrast only
    # The folders the tool was told to measure (Cobertura <sources>); LCOV names none.
    sources: tuple[str, ...] = ()

    @property
    def lines_valid(self) -> int:
        """Executable lines measured."""
        return sum(f.lines_valid for f in self.files)

    @property
    def lines_covered(self) -> int:
        """Executable lines run at least once."""
        return sum(f.lines_covered for f in self.files)

    @property
    def branches_valid(self) -> int:
        """Branch outcomes measured (0 when branch coverage was off)."""
        return sum(f.branches_valid for f in self.files)

    @property
    def branches_covered(self) -> int:
        """Branch outcomes taken."""
        return sum(f.branches_covered for f in self.files)
