"""The audit check's policy: severity against ``fail_at``; anything not audited keeps the check from passing.

Pure: the facts (dependencies, vulnerabilities, unreadable records, unaccounted pins) come
from parse; nothing here reads a file or the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.checks.audit.reports import SEVERITY_RANK, Dependency, Vulnerability, normalise_label
from pipeline.checks.audit.settings import AuditSettings
from pipeline.checks.interface import Evaluation
from pipeline.model import Finding, Measurement, Status

SHOWN = 20  # unaccounted pins named in the reasons; the rest are counted
_NO_SPACE = re.compile(r"\s+")  # a finding id has no spaces; the advisory's own ids stay aliases


@dataclass(frozen=True)
class AuditParsed:
    """What the evidence says: every dependency (audited or skipped with why) and every vulnerability found."""

    mode: str
    dependencies: tuple[Dependency, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    problems: tuple[str, ...]  # unreadable advisory records
    unaccounted: tuple[str, ...] = ()  # pins no report accounts for, one sentence each
    # offline: days since the database's newest record changed; inf when no record says (None: online)
    database_age_days: float | None = None
    database_newest: str = ""


def evaluate_audit(parsed: AuditParsed, settings: AuditSettings) -> Evaluation:
    """Pure policy: severity at or above fail_at fails; anything not audited or unaccounted cannot pass.

    Incomplete evidence is an ``error`` even when vulnerabilities were found: a ``fail``
    could be waived to ``waived``, which would hide the dependencies nobody audited.
    """
    fail_at = normalise_label(settings.fail_at)
    unknown_as = normalise_label(settings.unknown_severity)
    gate_dev = settings.dev_dependencies == "gate"
    findings = tuple(vulnerability_finding(v, fail_at, unknown_as, gate_dev) for v in parsed.vulnerabilities)
    skipped = [d for d in parsed.dependencies if d.skip_reason and (gate_dev or not d.dev)]
    audited = [d for d in parsed.dependencies if not d.skip_reason]
    failing = [f for f in findings if f.failing]
    measurements = _measurements(parsed, settings.allow_unaudited, len(audited), len(skipped), findings, fail_at)
    details = {"mode": parsed.mode, "fail_at": fail_at}
    found = tuple(f.title for f in failing)
    word = "vulnerability" if len(failing) == 1 else "vulnerabilities"
    incomplete = _stale_database(parsed, settings.max_database_age_days) or \
        _incomplete(parsed, audited, skipped, settings.allow_unaudited)
    if incomplete is not None:
        summary, reasons = incomplete
        if failing:
            summary += f" {len(failing)} {word} at or above {fail_at} were found in what was audited."
        return Evaluation(Status.ERROR, summary, (*reasons, *found), measurements, findings, details)
    notes = tuple(f"{d.name} ({d.source}) was not audited: {d.skip_reason}." for d in skipped)
    notes += tuple(f"{d.name} ({d.source}), a dev dependency, was not audited: {d.skip_reason} (reported, not "
                   "gated: dev_dependencies is report)." for d in parsed.dependencies
                   if d.skip_reason and d.dev and not gate_dev)
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} known {word} at or above {fail_at} in "
                          f"{len(audited)} audited dependencies.", found + notes, measurements, findings, details)
    below = f"; {len(findings)} below {fail_at} shown" if findings else ""
    return Evaluation(Status.PASS, f"No known vulnerability at or above {fail_at} in {len(audited)} "
                      f"dependencies{below}.", notes, measurements, findings, details)


def _measurements(parsed: AuditParsed, allow_unaudited: bool, audited: int, skipped: int,
                  findings: tuple[Finding, ...], fail_at: str) -> tuple[Measurement, ...]:
    """Dependencies audited, not audited (none allowed unless allow_unaudited), unaccounted; vulnerabilities."""
    failing = sum(1 for f in findings if f.failing)
    return (
        Measurement("dependencies audited", audited, "packages"),
        Measurement("dev-only dependencies", sum(1 for d in parsed.dependencies if d.dev), "packages"),
        Measurement("dependencies not audited", skipped, "packages", None if allow_unaudited else "== 0",
                    None if allow_unaudited else not skipped),
        Measurement("dependencies unaccounted for", len(parsed.unaccounted), "packages", "== 0",
                    not parsed.unaccounted),
        Measurement("vulnerabilities", len(findings), ""),
        Measurement(f"vulnerabilities at or above {fail_at}", failing, "", "== 0", not failing),
    )


def vulnerability_finding(vuln: Vulnerability, fail_at: str, unknown_as: str, gate_dev: bool = True) -> Finding:
    """``vulnerability:<CVE or first id>`` with every id as an alias, pointed at the pin when it is known.

    A vulnerability only dev dependencies have is marked ``dev`` (title and tag) and fails only with ``gate_dev``.
    """
    effective = unknown_as if vuln.severity == "unknown" else vuln.severity
    fixed = f"; fixed in {', '.join(vuln.fixed)}" if vuln.fixed else "; no fixed version known"
    shown = vuln.severity if vuln.severity != "unknown" else f"unknown, counted as {unknown_as}"
    pinned = f" at {vuln.file}:{vuln.line}" if vuln.file and vuln.line else ""
    return Finding(
        id=f"vulnerability:{_NO_SPACE.sub('_', vuln.ids[0])}", aliases=vuln.ids, severity=effective,
        title=f"{'[dev] ' if vuln.dev else ''}{vuln.package} {vuln.version}: {vuln.ids[0]} ({shown}) "
              f"{vuln.summary}{fixed}".strip(),
        location=f"{vuln.package}=={vuln.version}",
        failing=SEVERITY_RANK.get(effective, 3) >= SEVERITY_RANK[fail_at] and (gate_dev or not vuln.dev),
        message=vuln.summary, fixed=vuln.fixed, references=vuln.references,
        tags=(*vuln.tags, "dev") if vuln.dev else vuln.tags,
        remediation=f"Upgrade to a fixed version ({', '.join(vuln.fixed)}) and update the pin{pinned}."
        if vuln.fixed else "",
        file=vuln.file, line=vuln.line,
        details={"package": vuln.package, "version": vuln.version, "score": vuln.score, "dev": vuln.dev,
                 **({"records": list(vuln.records)} if vuln.records else {})},
    )


def _stale_database(parsed: AuditParsed, max_days: int | None) -> tuple[str, list[str]] | None:
    """(summary, reasons) when the offline database is older than allowed or cannot be dated; None otherwise."""
    age = parsed.database_age_days
    if age is None or max_days is None or age <= max_days:
        return None
    refresh = (f"Refresh the advisory database (git pull the clone, or download the OSV export again); "
               f"checks.audit.max_database_age_days is {max_days}.")
    if age == float("inf"):
        newest = (f"its newest date, {parsed.database_newest}, is unreadable or in the future"
                  if parsed.database_newest else "no record says when it changed (OSV's modified)")
        return (f"The offline advisory database cannot be dated: {newest}, so what it misses is unknown.", [refresh])
    return (f"The offline advisory database is {age:.0f} days old (newest record modified "
            f"{parsed.database_newest}): vulnerabilities published since are not seen.", [refresh])


def _incomplete(parsed: AuditParsed, audited: list[Dependency], skipped: list[Dependency],
                allow_unaudited: bool) -> tuple[str, list[str]] | None:
    """(summary, reasons) when the evidence does not cover every dependency; None when it does."""
    not_audited = [f"{d.name} ({d.source}) was not audited: {d.skip_reason}." for d in skipped]
    unreadable = [f"Unreadable advisory record {p}" for p in parsed.problems]
    if parsed.unaccounted:
        shown = [f"{line}." for line in parsed.unaccounted[:SHOWN]]
        more = len(parsed.unaccounted) - SHOWN
        shown += [f"... and {more} more."] if more > 0 else []
        return (f"{len(parsed.unaccounted)} pinned dependenc{'y is' if len(parsed.unaccounted) == 1 else 'ies are'} "
                "not accounted for by the audit report.",
                [*shown, "Every pin must be audited or skipped with a reason: audit the same requirements and lock "
                 "the gate reads (or fix checks.audit.requirements / npm_lock).", *not_audited, *unreadable])
    if not audited:
        hint = ("The vulnerability service did not answer for any dependency (pip-audit reports an unreachable "
                "service as 'not found'). Without network access, set checks.audit.osv_dir to an offline OSV "
                "database." if parsed.mode == "pip-audit" and skipped else
                "An empty audit cannot pass; check the requirements file or the report.")
        return "No dependency was audited, so nothing is proven.", [hint, *not_audited, *unreadable]
    if skipped and not allow_unaudited:
        return f"{len(skipped)} dependencies were not audited.", [
            *not_audited, "Pin them (name==version), or set checks.audit.allow_unaudited: true to accept the gap "
            "knowingly.", *unreadable]
    if parsed.problems:
        return (f"{len(parsed.problems)} advisory record(s) could not be read; the audit may miss what they "
                "describe.", unreadable)
    return None
