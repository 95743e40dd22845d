"""What the audit check works with: dependencies, vulnerabilities, severities, and the pins it reads.

A dependency is audited, or skipped with a reason; a vulnerability is one problem of one
installed package, with all its ids. The tools' own reports are read in tool_reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from pipeline.checks.audit import osv
from pipeline.checks.audit.osv import PYPI
from pipeline.errors import ParseError

SEVERITY_RANK = {"none": 0, "info": 0, "low": 1, "medium": 2, "moderate": 2, "high": 3, "critical": 4}


@dataclass(frozen=True)
class Dependency:
    """A package at a version, from a pin, a lock or a report; ``skip_reason`` says why it was not audited."""

    ecosystem: str
    name: str
    version: str | None
    file: str  # the file it is written in (a requirements file, a lock, a report)
    line: int | None = None  # its line there, when known
    skip_reason: str | None = None
    entry: str = ""  # its key in a lock (node_modules/x), which names it better than a line
    dev: bool = False  # only a development dependency needs it (a lock that says so; see lockfiles)

    @property
    def source(self) -> str:
        """Where it is written, as the reasons name it: ``requirements.txt:3``, ``package-lock.json:node_modules/x``."""
        where = self.entry or (str(self.line) if self.line else "")
        return f"{Path(self.file).name}:{where}" if where else Path(self.file).name


@dataclass(frozen=True)
class Vulnerability:
    """One vulnerability of one installed package; ``ids[0]`` is the one it is shown as."""

    package: str
    version: str
    ids: tuple[str, ...]
    summary: str
    severity: str  # critical | high | medium | low | unknown
    score: float | None
    fixed: tuple[str, ...]
    file: str = ""  # where the vulnerable package is pinned (or the report that names it), once known
    line: int | None = None
    references: tuple[str, ...] = ()  # advisory links
    tags: tuple[str, ...] = ()  # CWE-n
    records: tuple[str, ...] = ()  # offline: the advisory files it was read from
    dev: bool = False  # only development dependencies have it (see lockfiles)


def canonical_ids(ids: set[str]) -> tuple[str, ...]:
    """CVE first (what people search for), then GHSA, then the rest; stable."""
    def rank(i: str) -> tuple[int, str]:
        return ({"CVE": 0, "GHSA": 1, "PYSEC": 2}.get(i.split("-")[0], 3), i)
    return tuple(sorted(ids, key=rank))


def label_for_score(score: float) -> str:
    """The CVSS qualitative rating of a base score."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "none"


def severity_from_vector(vector: str) -> tuple[str, float] | None:
    """The base score of a CVSS v2/v3/v4 vector and its label, or None if the vector is unreadable."""
    try:
        if vector.startswith("CVSS:4"):
            score = float(CVSS4(vector).base_score)
        elif vector.startswith("CVSS:3"):
            score = float(CVSS3(vector).base_score)
        else:
            score = float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError):
        return None
    return label_for_score(score), score


def normalise_label(label: str) -> str:
    """One name per severity level, whatever the advisory source calls it."""
    label = label.strip().lower()
    return {"moderate": "medium", "important": "high", "informational": "low", "info": "low"}.get(label, label)


def advisory_link(vulnerability_id: str) -> str:
    """The OSV page of an advisory id (PYSEC, GHSA and CVE ids all have one)."""
    return f"https://osv.dev/vulnerability/{quote(vulnerability_id, safe='')}"


def read_requirements(path: Path) -> list[Dependency]:
    """Pinned requirements (``name==version``), following ``-r`` includes; others are skipped with why."""
    if not path.is_file():
        raise ParseError(path, "", "does not exist")
    try:
        from pip_requirements_parser import RequirementsFile  # 60 ms: only when a requirements file is read

        parsed = RequirementsFile.from_file(str(path), include_nested=True)
    except (OSError, ValueError) as exc:  # an unreadable include, a file that is not text
        raise ParseError(path, "", f"cannot be read as a requirements file: {exc}") from None
    if parsed.invalid_lines:
        bad = parsed.invalid_lines[0]
        raise ParseError(path, f"line {bad.requirement_line.line_number}",
                         f"is not a requirement: {bad.requirement_line.line!r}")
    return [_pin(req, path) for req in parsed.requirements]


def _pin(req: Any, path: Path) -> Dependency:
    line = req.requirement_line
    where = {"file": str(line.filename), "line": line.line_number} if line else {"file": str(path)}
    pins = [s.version for s in req.specifier or () if s.operator in ("==", "===") and "*" not in s.version]
    if req.is_editable or not req.name:
        return Dependency(PYPI, req.name or "?", None, **where, skip_reason="an editable or URL requirement")
    if len(pins) != 1:
        return Dependency(PYPI, req.name, None, **where,
                          skip_reason=f"not pinned to one version ({req.specifier or 'no version'})")
    try:
        osv.parse_version(PYPI, pins[0])
    except ValueError as exc:
        return Dependency(PYPI, req.name, pins[0], **where, skip_reason=f"pinned to {exc}, so it cannot be compared")
    return Dependency(PYPI, req.name, pins[0], **where)


def read_package_lock(path: Path) -> list[Dependency]:
    """Installed packages of an npm package-lock.json (see lockfiles.npm, which reads every version)."""
    from pipeline.checks.audit.lockfiles.npm import read_npm_lock  # lockfiles build on this module

    return read_npm_lock(path)
