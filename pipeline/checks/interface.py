"""What every check is made of: collect -> parse -> evaluate, and the errors it may raise.

``collect`` runs a tool or reads an artifact and knows nothing of thresholds.
``parse`` turns raw output into typed measurements and findings, no judgement.
``evaluate`` applies the policy and is pure: no I/O.
A ``CheckError`` anywhere becomes an ``error`` result with the error's reason and hint.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Generic, TypeVar

from pipeline.model import Finding, Ingested, Measurement, Status, ToolInfo
from pipeline.redact import redact_text_file

# Where evidence from outside the reports folder is copied, one folder per check.
INGESTED_DIR = Path("evidence") / "ingested"


@dataclass
class CheckContext:
    """What a check may use from its surroundings (paths, clock, console, environment)."""

    reports_dir: Path
    project_dir: Path
    deadline_s: float
    console: IO[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    today: dt.date = field(default_factory=dt.date.today)
    profile: str = "local"
    evidence: list[Path] = field(default_factory=list)
    tool: ToolInfo | None = None
    check: str = "check"
    ingested: list[Ingested] = field(default_factory=list)

    @property
    def evidence_dir(self) -> Path:
        """Where raw tool output is kept."""
        path = self.reports_dir / "evidence"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def resolve(self, configured: str) -> Path:
        """A configured path, relative to the project folder unless absolute."""
        path = Path(configured)
        return path if path.is_absolute() else self.project_dir / path

    def add_evidence(self, path: Path) -> Path:
        """Remember an evidence file so the result and the sign-off list it; returns the file to read.

        A file outside the reports folder is copied into ``evidence/ingested/<check>/`` first
        (its original path and the copy's SHA-256 are recorded): the sign-off digests the copy,
        so an edit of the original afterwards cannot change what was signed. Read the returned
        copy rather than the original, so that what is judged is what is kept.
        """
        kept = self._ingest(path) if path.is_file() and not is_inside(path, self.reports_dir) else path
        if kept not in self.evidence:
            self.evidence.append(kept)
        return kept

    def _ingest(self, path: Path) -> Path:
        original = path.resolve()
        try:
            relative = original.relative_to(self.project_dir.resolve())
        except ValueError:  # outside the project too: keep its whole path, so names never collide
            relative = Path("_absolute", *original.parts[1:])
        copy = self.reports_dir / INGESTED_DIR / self.check / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, copy)
        redact_text_file(copy)  # a tool's own report may carry a secret into reports/
        digest = hashlib.sha256()
        with copy.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        record = Ingested(str(original), str((INGESTED_DIR / self.check / relative).as_posix()), digest.hexdigest())
        self.ingested[:] = [i for i in self.ingested if i.copy != record.copy] + [record]
        return copy


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies under ``folder`` (both resolved)."""
    return folder.resolve() in path.resolve().parents


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` decides: a status with human-readable reasons and the supporting data."""

    status: Status
    summary: str
    reasons: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    findings: tuple[Finding, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


RawT = TypeVar("RawT")
ParsedT = TypeVar("ParsedT")


class Check(abc.ABC, Generic[RawT, ParsedT]):
    """One mandatory check of the gate."""

    name: ClassVar[str]
    title: ClassVar[str]

    @abc.abstractmethod
    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> RawT:
        """Run the tool or read the artifact; record evidence and ``ctx.tool``."""

    @abc.abstractmethod
    def parse(self, raw: RawT) -> ParsedT:
        """Typed measurements and findings from the raw evidence; raise ParseError if unreadable."""

    @abc.abstractmethod
    def evaluate(self, parsed: ParsedT, settings: dict[str, Any]) -> Evaluation:
        """Apply the policy. Pure."""
