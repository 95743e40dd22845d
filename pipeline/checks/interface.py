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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import ArtifactMissing
from pipeline.model import Finding, Ingested, Measurement, Status, ToolInfo
from pipeline.redact import redact_text_file
from pipeline.views import View

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

    def database(self, configured: str | None, purpose: str) -> str:
        """The configured DSN, else READINESS_DATABASE_URL (the gate's own database); ArtifactMissing otherwise."""
        dsn = configured or self.env.get("READINESS_DATABASE_URL")
        if not dsn:
            raise ArtifactMissing(f"no database to {purpose}: checks.{self.check}.dsn is empty and "
                                  "READINESS_DATABASE_URL is not set",
                                  "Let the gate start the service (service.start), or set the DSN.")
        return dsn

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
    details: dict[str, Any] = field(default_factory=dict)  # check-specific data; no report reads it
    views: tuple[View, ...] = ()  # what the HTML report draws for this check


class NotApplicableRecord(BaseModel):
    """``checks.<name>.not_applicable``: the check does not apply to this service, on the record."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    reason: str = Field(min_length=1, description="why the check does not apply to this service")
    owner: str = Field(min_length=1, description="who decided it and answers for it")
    review_by: dt.date = Field(description="the date it must be reviewed by; after it, the verdict is incomplete "
                                           "again")


class CheckSettings(BaseModel):
    """The keys every check accepts; a check's own ``Settings`` subclass adds its keys and defaults.

    Frozen, strict (``true`` is not a number, ``"5"`` is not an integer) and closed
    (an unknown key is an error): the config is validated against the JSON Schema these
    models produce before anything runs, then each check gets its typed instance.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    enabled: bool = Field(True, description="false: the check is skipped (the verdict is then incomplete)")
    timeout_s: float | None = Field(None, gt=0, allow_inf_nan=False,
                                    description="time budget of this check (default: defaults.timeout_s)")
    not_applicable: NotApplicableRecord | None = Field(
        None, description="{reason, owner, review_by}: the check does not run and counts toward ready as "
        "not_applicable until review_by")


@dataclass(frozen=True)
class FindingKind:
    """One kind of finding a check can report: what it means and what to do about it.

    A finding's id starts with its kind (``seq-scan:orders_by_customer:orders``); the
    kinds are the stable, documented part a waiver and a baseline can rely on.
    """

    summary: str
    remediation: str


SettingsT = TypeVar("SettingsT", bound=CheckSettings)
RawT = TypeVar("RawT")
ParsedT = TypeVar("ParsedT")


class Check(abc.ABC, Generic[SettingsT, RawT, ParsedT]):
    """One mandatory check of the gate, declared once: the registry derives everything else from this.

    A check lives in its own package ``pipeline/checks/<name>/``; its ``__init__`` defines
    exactly one subclass. The class attributes below are its whole registration.
    """

    name: ClassVar[str]  # the package's name; used in config, results, sessions and waivers
    title: ClassVar[str]  # what the reports call it
    order: ClassVar[int]  # place in the run (and in the Nox sessions), lowest first
    needs_target: ClassVar[bool] = False  # it talks to the running service or its database
    security: ClassVar[bool] = False  # its findings are security findings (SARIF, code scanning)
    Settings: ClassVar[type[CheckSettings]] = CheckSettings  # its config section, with defaults
    extra: ClassVar[str | None] = None  # the package extra with its optional tools ("load" installs k6)
    findings: ClassVar[Mapping[str, FindingKind]] = {}  # id prefix -> meaning and remediation

    @classmethod
    def wants_target(cls, settings: SettingsT) -> bool:
        """Whether, with these settings, the check needs the service under test (default: ``needs_target``)."""
        return cls.needs_target

    @abc.abstractmethod
    def collect(self, settings: SettingsT, ctx: CheckContext) -> RawT:
        """Run the tool or read the artifact; record evidence and ``ctx.tool``. No thresholds here."""

    @abc.abstractmethod
    def parse(self, raw: RawT) -> ParsedT:
        """Typed measurements and findings from the raw evidence; raise ParseError if unreadable."""

    @abc.abstractmethod
    def evaluate(self, parsed: ParsedT, settings: SettingsT) -> Evaluation:
        """Apply the policy (every threshold and rule). Pure: no I/O, no environment."""

    @classmethod
    def remediation(cls, finding_id: str) -> str:
        """The catalogued remediation of a finding id (its kind is the part before the first ':')."""
        kind = cls.findings.get(finding_id.split(":", 1)[0])
        return kind.remediation if kind else ""
