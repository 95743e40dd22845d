"""Aggregate result files into one verdict. Reads files only; never re-runs a check.

``ready`` needs every mandatory check to be ``pass`` or ``waived``; one ``fail`` makes
it ``not_ready``; otherwise an ``error``, ``skipped`` or missing check makes it
``incomplete``. A result file that cannot be read counts as an ``error``.
"""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from pipeline import __version__
from pipeline.model import (
    MANDATORY_CHECKS,
    RESULT_SCHEMA,
    VERDICT_SCHEMA,
    CheckResult,
    Status,
    Verdict,
    now_utc,
)


@dataclass(frozen=True)
class Merge:
    """One check found in several result folders: which file was kept and which dropped."""

    check: str
    kept: str
    dropped: tuple[str, ...]


@dataclass(frozen=True)
class VerdictReport:
    """Everything the reporters need, and nothing they would have to compute."""

    verdict: Verdict
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    missing: tuple[str, ...]
    merged: tuple[Merge, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: now_utc().isoformat())

    def to_dict(self) -> dict[str, Any]:
        """JSON form (schema ``readiness.verdict/1``)."""
        return {
            "schema": VERDICT_SCHEMA,
            "verdict": self.verdict.value,
            "exit_code": self.verdict.exit_code,
            "generated_at": self.generated_at,
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
            "missing": list(self.missing),
            "merged": [{"check": m.check, "kept": m.kept, "dropped": list(m.dropped)}
                       for m in self.merged],
            "waivers": {
                "applied": [w.to_dict() for c in self.checks for w in c.waivers_applied],
                "expired": [w.to_dict() for c in self.checks for w in c.waivers_expired],
            },
            "environment": self.environment,
        }


def load_results(dirs: Iterable[Path]) -> tuple[list[CheckResult], list[Merge]]:
    """Every ``*.json`` result in ``dirs``; for a check seen twice the later ``finished_at`` wins."""
    by_check: dict[str, list[tuple[CheckResult, str]]] = {}
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.json")):
            result = read_result(path)
            by_check.setdefault(result.check, []).append((result, str(path)))
    results: list[CheckResult] = []
    merges: list[Merge] = []
    for check, found in by_check.items():
        found.sort(key=lambda item: item[0].finished_at)
        kept, kept_path = found[-1]
        results.append(kept)
        if len(found) > 1:
            merges.append(Merge(check, kept_path, tuple(p for _, p in found[:-1])))
    return results, merges


def read_result(path: Path) -> CheckResult:
    """One result file; an unreadable or invalid file becomes an ``error`` result for its check."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
            raise ValueError(f"it is not a {RESULT_SCHEMA} file")
        jsonschema.validate(data, _schema("result.schema.json"))
        return CheckResult.from_dict(data)
    except (OSError, ValueError, jsonschema.ValidationError, KeyError) as exc:
        problem = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
        return CheckResult(
            check=path.stem,
            status=Status.ERROR,
            summary=f"The result file {path} cannot be read.",
            reasons=(f"{path}: {problem}", "Re-run the check to write a fresh result."),
        )


def decide(results: Iterable[CheckResult], merges: Iterable[Merge] = (),
           mandatory: tuple[str, ...] = MANDATORY_CHECKS) -> VerdictReport:
    """The verdict over ``results``, in the fixed check order."""
    order = {name: i for i, name in enumerate(mandatory)}
    checks = tuple(sorted(results, key=lambda r: (order.get(r.check, len(order)), r.check)))
    present = {r.check for r in checks}
    missing = tuple(name for name in mandatory if name not in present)
    failed = [r for r in checks if r.status is Status.FAIL]
    unfinished = [r for r in checks if r.status in (Status.ERROR, Status.SKIPPED)]
    reasons = [f"{r.check} failed: {r.summary}" for r in failed]
    reasons += [f"{r.check} is {r.status.value}: {r.summary}" for r in unfinished]
    reasons += [f"{name} has no result: the check did not run." for name in missing]
    merges = tuple(merges)
    reasons += [f"{m.check} was found in {len(m.dropped) + 1} result folders; the latest "
                f"({m.kept}) was kept." for m in merges]
    if failed:
        verdict = Verdict.NOT_READY
    elif unfinished or missing:
        verdict = Verdict.INCOMPLETE
    else:
        verdict = Verdict.READY
        reasons.insert(0, "Every mandatory check passed or is covered by valid waivers.")
    return VerdictReport(verdict, tuple(reasons), checks, missing, merges, environment())


def environment() -> dict[str, Any]:
    """Where the verdict was computed: gate version, Python, platform, host, git commit."""
    return {
        "gate_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "git_commit": git_commit(),
    }


def git_commit() -> str | None:
    """The current git commit, if the working folder is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def validate_verdict(data: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if ``data`` is not a valid verdict document."""
    registry = _registry()
    validator = jsonschema.Draft202012Validator(_schema("verdict.schema.json"), registry=registry)
    validator.validate(data)


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files("pipeline.schemas").joinpath(name).read_text())
    return schema


def _registry() -> Any:
    from referencing import Registry, Resource

    result = _schema("result.schema.json")
    return Registry().with_resource(result["$id"], Resource.from_contents(result))
