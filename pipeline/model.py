"""The records that cross layer boundaries: check results, waivers and the verdict.

Every record is a frozen dataclass that serialises to plain JSON (``to_dict``) and
back (``from_dict``). Result and verdict files carry a ``schema`` version so that
a reader can refuse a file it does not understand instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.views import View, view_from_dict

RESULT_SCHEMA = "readiness.result/1"
VERDICT_SCHEMA = "readiness.verdict/1"



class Status(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    WAIVED = "waived"
    NOT_APPLICABLE = "not_applicable"  # declared so, with a reason, an owner and a review date

    @property
    def exit_code(self) -> int:
        """Exit code of ``readiness check``: 0 pass/waived/not_applicable, 1 fail, 2 error/skipped."""
        return {Status.PASS: 0, Status.WAIVED: 0, Status.NOT_APPLICABLE: 0, Status.FAIL: 1}.get(self, 2)


class Verdict(enum.StrEnum):
    """The gate's one answer."""

    READY = "ready"
    NOT_READY = "not_ready"
    INCOMPLETE = "incomplete"

    @property
    def exit_code(self) -> int:
        """Exit code of ``readiness run`` and ``readiness verdict``."""
        return {Verdict.READY: 0, Verdict.NOT_READY: 1, Verdict.INCOMPLETE: 2}[self]


def now_utc() -> dt.datetime:
    """The current time, timezone-aware, to the millisecond (durations of fast checks stay visible)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Measurement:
    """One measured value, with the threshold it is judged against (if any)."""

    name: str
    value: float | int | str | None
    unit: str = ""
    threshold: str | None = None
    ok: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, without the name (the name is the key in the result)."""
        return {"value": self.value, "unit": self.unit, "threshold": self.threshold, "ok": self.ok}

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Measurement:
        """Inverse of ``to_dict``."""
        return cls(name, data.get("value"), data.get("unit", ""), data.get("threshold"), data.get("ok"))


@dataclass(frozen=True)
class Instance:
    """One place a finding was seen, with what was seen there (a ZAP alert instance, say)."""

    uri: str
    method: str = ""
    param: str = ""
    evidence: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"uri": self.uri, "method": self.method, "param": self.param, "evidence": self.evidence}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instance:
        """Inverse of ``to_dict``."""
        return cls(data["uri"], data.get("method", ""), data.get("param", ""), data.get("evidence", ""))


@dataclass(frozen=True)
class Finding:
    """One thing a check found: a failing test, an alert, a vulnerable package.

    ``id`` is stable across versions (its kind, the part before the first ':', is
    catalogued by the check); ``aliases`` are other ids a waiver may use (CVE, GHSA...);
    ``urls`` are where it was seen (a waiver may be narrowed to them). The typed fields
    are what the reports show; ``details`` holds check-specific data no report reads.
    """

    id: str
    severity: str
    title: str
    location: str = ""
    failing: bool = True
    waived_by: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    message: str = ""  # the long text: a failed test's message, an alert's description
    remediation: str = ""  # what to do: the tool's solution, else the check's catalogue
    references: tuple[str, ...] = ()  # links to read more (http(s) only are shown as links)
    fixed: tuple[str, ...] = ()  # versions that fix a vulnerable package
    tags: tuple[str, ...] = ()  # classifications such as CWE-79
    instances: tuple[Instance, ...] = ()
    file: str = ""  # the file it is about, relative to the project (a requirements pin, a rule file)
    line: int | None = None  # its line in ``file``, when known
    measurement: str = ""  # the measurement this finding restates (a failed threshold), if any

    def identities(self) -> set[str]:
        """The finding's id and its aliases: the names a waiver may use."""
        return {self.id, *self.aliases}

    def seen_at(self) -> list[str]:
        """Where the finding was seen (its urls, else its location), for URL-narrowed waivers."""
        return list(self.urls) or [self.location]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "location": self.location,
            "failing": self.failing,
            "waived_by": self.waived_by,
            "aliases": list(self.aliases),
            "urls": list(self.urls),
            "message": self.message,
            "remediation": self.remediation,
            "references": list(self.references),
            "fixed": list(self.fixed),
            "tags": list(self.tags),
            "instances": [i.to_dict() for i in self.instances],
            "file": self.file,
            "line": self.line,
            "measurement": self.measurement,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Inverse of ``to_dict``."""
        return cls(
            id=data["id"],
            severity=data["severity"],
            title=data["title"],
            location=data.get("location", ""),
            failing=data.get("failing", True),
            waived_by=data.get("waived_by"),
            details=data.get("details", {}),
            aliases=tuple(data.get("aliases", ())),
            urls=tuple(data.get("urls", ())),
            message=data.get("message", ""),
            remediation=data.get("remediation", ""),
            references=tuple(data.get("references", ())),
            fixed=tuple(data.get("fixed", ())),
            tags=tuple(data.get("tags", ())),
            instances=tuple(Instance.from_dict(i) for i in data.get("instances", ())),
            file=data.get("file", ""),
            line=data.get("line"),
            measurement=data.get("measurement", ""),
        )


@dataclass(frozen=True)
class Waiver:
    """An accepted, time-limited exception for one finding of one check."""

    check: str
    id: str
    reason: str
    owner: str
    expires: dt.date
    url: str | None = None  # zap: a regex; the waiver covers an alert only where every URL matches

    def is_expired(self, today: dt.date) -> bool:
        """A waiver is valid up to and including its expiry date."""
        return today > self.expires

    def covers(self, finding_ids: set[str], urls: list[str]) -> bool:
        """Whether this waiver applies to a finding with these ids (and, if narrowed, these URLs)."""
        if self.id not in finding_ids:
            return False
        if self.url is None:
            return True
        try:
            return bool(urls) and all(re.search(self.url, u) for u in urls)
        except re.error:  # a result file may carry any text; a broken pattern covers nothing
            return False

    def covers_finding(self, check: str, finding: Finding, day: dt.date) -> bool:
        """Whether this waiver covers ``finding`` of ``check`` on ``day`` (same check, id or alias, not expired)."""
        return self.check == check and not self.is_expired(day) and self.covers(finding.identities(),
                                                                                finding.seen_at())

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "check": self.check,
            "id": self.id,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            **({"url": self.url} if self.url else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Waiver:
        """Inverse of ``to_dict``; also reads the config form where ``expires`` is a date."""
        expires = data["expires"]
        if not isinstance(expires, dt.date):
            expires = dt.date.fromisoformat(str(expires))
        return cls(data["check"], str(data["id"]), data["reason"], data["owner"], expires, data.get("url"))


@dataclass(frozen=True)
class ToolInfo:
    """Which tool produced the evidence, which version, and how it ran."""

    name: str
    version: str = "unknown"
    mode: str = "run"  # run | ingest | docker | api
    command: tuple[str, ...] = ()
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "version": self.version,
            "mode": self.mode,
            "command": list(self.command),
            "exit_code": self.exit_code,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolInfo:
        """Inverse of ``to_dict``."""
        return cls(
            data["name"],
            data.get("version", "unknown"),
            data.get("mode", "run"),
            tuple(data.get("command", ())),
            data.get("exit_code"),
        )


@dataclass(frozen=True)
class Ingested:
    """An evidence file from outside the reports folder, copied in at check time."""

    original: str  # absolute path of the file the check read
    copy: str  # the copy, relative to the reports folder (what the sign-off digests)
    sha256: str  # of the copy, when it was made

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"original": self.original, "copy": self.copy, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ingested:
        """Inverse of ``to_dict``."""
        return cls(data["original"], data["copy"], data["sha256"])


@dataclass(frozen=True)
class NotApplicable:
    """The record that a check does not apply to this service: why, who says so, and until when."""

    reason: str
    owner: str
    review_by: dt.date

    def expired(self, today: dt.date) -> bool:
        """Past its review date (the review date itself still counts)."""
        return today > self.review_by

    def shown(self) -> str:
        """How every report says it: ``not applicable: reason, owner``."""
        return f"not applicable: {self.reason}, {self.owner}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"reason": self.reason, "owner": self.owner, "review_by": self.review_by.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NotApplicable:
        """Inverse of ``to_dict``."""
        return cls(data["reason"], data["owner"], dt.date.fromisoformat(data["review_by"]))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, as written to ``results/<check>.json``."""

    check: str
    status: Status
    summary: str
    reasons: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    findings: tuple[Finding, ...] = ()
    evidence: tuple[str, ...] = ()
    tool: ToolInfo = field(default_factory=lambda: ToolInfo("none"))
    started_at: dt.datetime = field(default_factory=now_utc)
    finished_at: dt.datetime = field(default_factory=now_utc)
    waivers_applied: tuple[Waiver, ...] = ()
    waivers_expired: tuple[Waiver, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    ingested: tuple[Ingested, ...] = ()
    views: tuple[View, ...] = ()
    not_applicable: NotApplicable | None = None  # the record, when the check was declared not applicable
    settings_digest: str | None = None  # of the settings it ran under (pipeline.settings_digest); None: not recorded

    @property
    def duration_s(self) -> float:
        """Wall time of the check in seconds."""
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def with_status(self, status: Status, *extra_reasons: str) -> CheckResult:
        """A copy with another status and more reasons."""
        return replace(self, status=status, reasons=self.reasons + extra_reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (schema ``readiness.result/1``)."""
        return {
            "schema": RESULT_SCHEMA,
            "check": self.check,
            "status": self.status.value,
            "summary": self.summary,
            "reasons": list(self.reasons),
            "measurements": {m.name: m.to_dict() for m in self.measurements},
            "findings": [f.to_dict() for f in self.findings],
            "evidence": list(self.evidence),
            "tool": self.tool.to_dict(),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_s": self.duration_s,
            "waivers": {
                "applied": [w.to_dict() for w in self.waivers_applied],
                "expired": [w.to_dict() for w in self.waivers_expired],
            },
            "details": self.details,
            "ingested": [i.to_dict() for i in self.ingested],
            "views": [v.to_dict() for v in self.views],
            **({"not_applicable": self.not_applicable.to_dict()} if self.not_applicable else {}),
            **({"settings_digest": self.settings_digest} if self.settings_digest else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """Inverse of ``to_dict``; the caller validates the schema first."""
        waivers = data.get("waivers", {})
        return cls(
            check=data["check"],
            status=Status(data["status"]),
            summary=data["summary"],
            reasons=tuple(data.get("reasons", ())),
            measurements=tuple(
                Measurement.from_dict(k, v) for k, v in data.get("measurements", {}).items()
            ),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", ())),
            evidence=tuple(data.get("evidence", ())),
            tool=ToolInfo.from_dict(data.get("tool", {"name": "none"})),
            started_at=dt.datetime.fromisoformat(data["started_at"]),
            finished_at=dt.datetime.fromisoformat(data["finished_at"]),
            waivers_applied=tuple(Waiver.from_dict(w) for w in waivers.get("applied", ())),
            waivers_expired=tuple(Waiver.from_dict(w) for w in waivers.get("expired", ())),
            details=data.get("details", {}),
            ingested=tuple(Ingested.from_dict(i) for i in data.get("ingested", ())),
            views=tuple(view_from_dict(v) for v in data.get("views", ())),
            not_applicable=NotApplicable.from_dict(data["not_applicable"]) if data.get("not_applicable") else None,
            settings_digest=data.get("settings_digest"),
        )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader never sees half a file: temp file, fsync, rename."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text atomically in the target's own folder (rename is atomic on one filesystem)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes atomically: temp file in the target's folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
