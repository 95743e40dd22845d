"""The ``audit`` check: no known-vulnerable dependency at or above the failing severity.

collect: ingest a pip-audit / npm audit JSON report; or, with ``osv_dir``, read the pinned
         requirements and an offline OSV database; or run pip-audit / npm audit online.
parse:   dependencies (audited or skipped with a reason) and vulnerabilities, one per
         vulnerability with all its ids (offline: matched here against the database).
evaluate: severity (CVSS base score, else the advisory's label, else unknown) against
          ``fail_at``; anything not audited keeps the check from passing.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline import proc
from pipeline.checks.audit import osv
from pipeline.checks.audit.accounting import pins_the_gate_skips, unaccounted_lock, unaccounted_pins
from pipeline.checks.audit.offline import match_offline
from pipeline.checks.audit.reports import (
    SEVERITY_RANK,
    Dependency,
    Vulnerability,
    normalise_label,
    read_package_lock,
    read_requirements,
)
from pipeline.checks.audit.tool_reports import ReportContents, read_report
from pipeline.checks.interface import Check, CheckContext, Evaluation, LegacySettings
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import Finding, Measurement, Status, ToolInfo

DEFAULT_FAIL_AT = "high"
DEFAULT_UNKNOWN = "high"  # a vulnerability nobody rated is treated as serious until someone does
SERVICE_HOSTS = {"pypi": "the PyPI vulnerability service (pypi.org)", "osv": "the OSV service (api.osv.dev)"}
SHOWN = 20  # unaccounted pins named in the reasons; the rest are counted


@dataclass(frozen=True)
class AuditRaw:
    mode: str  # offline | pip-audit | npm-audit | ingest
    pins: tuple[Dependency, ...] = ()  # from the requirements files
    lock: tuple[Dependency, ...] = ()  # from the npm lock
    lock_name: str = ""
    database: osv.Database | None = None
    reports: tuple[tuple[str, Path], ...] = ()  # (kind, path) of tool output to read


@dataclass(frozen=True)
class AuditParsed:
    mode: str
    dependencies: tuple[Dependency, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    problems: tuple[str, ...]
    unaccounted: tuple[str, ...] = ()  # pins no report accounts for, one sentence each


class AuditCheck(Check[Any, AuditRaw, AuditParsed]):
    """Dependencies against known vulnerabilities (pip-audit, npm audit, or an offline OSV database)."""

    name = "audit"
    title = "Dependency audit"
    order = 40
    security = True
    Settings = LegacySettings  # a plain mapping until the check gets typed settings
    extra = "audit"

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> AuditRaw:
        requirements = [ctx.resolve(p) for p in settings.get("requirements") or ()]
        lock = ctx.resolve(settings["npm_lock"]) if settings.get("npm_lock") else None
        if not requirements and lock is None and not settings.get("report"):
            raise ArtifactMissing("nothing to audit: checks.audit lists no requirements, npm_lock or report",
                                  "Point checks.audit.requirements at your pinned requirements file.")
        pins = tuple(d for path in requirements for d in read_requirements(path))
        locked = tuple(read_package_lock(lock)) if lock is not None else ()
        # The originals are read (a requirements file may include others by relative path); copies are kept.
        for path in (*requirements, *([lock] if lock else [])):
            _kept(ctx, path)
        raw = AuditRaw("ingest", pins, locked, lock.name if lock else "")
        if settings.get("report"):
            path = ctx.resolve(settings["report"])
            if not path.is_file():
                raise ArtifactMissing(f"the audit report {path} does not exist",
                                      "Produce it with pip-audit -f json or npm audit --json.")
            ctx.tool = ToolInfo("audit report", "unknown", "ingest")
            return replace(raw, reports=(("auto", ctx.add_evidence(path)),))
        if settings.get("osv_dir"):
            return replace(raw, mode="offline", database=_load_offline(ctx.resolve(settings["osv_dir"]), ctx))
        return _collect_online(settings, requirements, lock, raw, ctx)

    def parse(self, raw: AuditRaw) -> AuditParsed:
        if raw.mode == "offline":
            assert raw.database is not None
            dependencies = (*raw.pins, *raw.lock)
            matched = match_offline(dependencies, raw.database)
            dependencies = tuple(replace(d, skip_reason=matched.undecided[d]) if d in matched.undecided else d
                                 for d in dependencies)
            return AuditParsed(raw.mode, dependencies, tuple(matched.vulnerabilities), tuple(raw.database.problems))
        contents = [read_report(path, kind) for kind, path in raw.reports]
        reported = [d for c in contents for d in c.dependencies]
        reported += pins_the_gate_skips(raw.pins) + [d for d in raw.lock if d.skip_reason]
        return AuditParsed(raw.mode, tuple(reported), tuple(v for c in contents for v in c.vulnerabilities), (),
                           tuple(_accounting(raw, contents)))

    def evaluate(self, parsed: AuditParsed, settings: dict[str, Any]) -> Evaluation:
        return evaluate_audit(parsed, settings)


def _accounting(raw: AuditRaw, contents: list[ReportContents]) -> list[str]:
    """Every pin and every locked package must be accounted for by the reports read."""
    names = ", ".join(path.name for _, path in raw.reports)
    pip = [c for c in contents if c.kind == "pip"]
    npm = [c for c in contents if c.kind == "npm"]
    found = unaccounted_pins(raw.pins, [d for c in pip for d in c.dependencies] if pip else None, names) \
        if raw.pins else []
    if raw.lock:
        counts = [c.counted for c in npm]
        counted = None if not counts or None in counts else sum(c for c in counts if c is not None)
        found += unaccounted_lock(raw.lock, counted, raw.lock_name, names, npm_report=bool(npm))
    return found


def _load_offline(folder: Path, ctx: CheckContext) -> osv.Database:
    started = time.perf_counter()
    try:
        database = osv.load_database(folder)
    except FileNotFoundError as exc:
        raise ArtifactMissing(f"the OSV database folder {folder} does not exist: {exc}",
                              "Clone the PyPA advisory database (or unzip an OSV export) there.") from None
    load_s = time.perf_counter() - started
    if database.records == 0:
        raise ArtifactMissing(f"the OSV database {folder} holds no readable record",
                              "An empty database proves nothing; point osv_dir at the records.")
    ctx.tool = ToolInfo("osv-offline", f"{database.records} records ({database.withdrawn} withdrawn), "
                        f"loaded in {load_s:.2f} s", "run", ("osv_dir", str(folder)))
    return database


def _collect_online(settings: dict[str, Any], requirements: list[Path], lock: Path | None, raw: AuditRaw,
                    ctx: CheckContext) -> AuditRaw:
    reports: list[tuple[str, Path]] = []
    service = settings.get("service", "pypi")
    for index, path in enumerate(requirements):
        output = ctx.evidence_dir / f"pip-audit-{index + 1}.json"
        reports.append(("pip", _run_pip_audit(path, output, service, ctx)))
    if lock is not None:
        reports.append(("npm", _run_npm_audit(lock, ctx)))
    return replace(raw, mode="pip-audit" if requirements else "npm-audit", reports=tuple(reports))


def _run_pip_audit(requirements: Path, output: Path, service: str, ctx: CheckContext) -> Path:
    binary = proc.find_tool("pip-audit", [Path(sys.executable).parent])
    if binary is None:
        raise ToolNotFound("pip-audit is not installed.", "pip install pip-audit (the Nox sessions do), or set "
                         "checks.audit.osv_dir to audit offline against an OSV database.")
    output.unlink(missing_ok=True)
    # --no-deps --disable-pip: the pins are audited as written, without installing anything.
    argv = [binary, "-r", str(requirements), "--format", "json", "--output", str(output), "--progress-spinner",
            "off", "--vulnerability-service", service, "--no-deps", "--disable-pip", "--timeout", "15"]
    ctx.tool = ToolInfo("pip-audit", proc.tool_version(binary), "run", tuple(argv))
    log = ctx.evidence_dir / f"{output.stem}.log"
    run = proc.run_tool(argv, log_path=log, timeout_s=ctx.deadline_s, expected=range(256), console=ctx.console)
    ctx.tool = replace(ctx.tool, exit_code=run.exit_code)
    ctx.add_evidence(log)
    # Exit 1 also means "vulnerabilities found"; only the report tells the two apart.
    if not output.is_file() or output.stat().st_size == 0:
        raise ToolFailed(f"pip-audit could not audit {requirements.name}: {SERVICE_HOSTS.get(service, service)} "
                         f"did not answer or pip-audit failed (exit {run.exit_code}); last output:\n{run.tail(8)}",
                         "Nothing was audited, so this cannot pass. Without network access, set "
                         "checks.audit.osv_dir to an offline OSV database (e.g. a clone of the PyPA "
                         "advisory database).")
    ctx.add_evidence(output)
    return output


def _run_npm_audit(lock: Path, ctx: CheckContext) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ToolNotFound("npm is not installed, so the npm lock cannot be audited online.",
                           "Install Node.js and npm, or set checks.audit.osv_dir to audit offline.")
    output = ctx.evidence_dir / "npm-audit.json"
    log = ctx.evidence_dir / "npm-audit.log"
    argv = [npm, "audit", "--json", "--package-lock-only"]
    ctx.tool = ToolInfo("npm audit", proc.tool_version(npm), "run", tuple(argv))
    # stdout is the JSON report and must stay apart from npm's warnings on stderr. npm exits
    # non-zero both when it finds vulnerabilities and when it fails: the report tells them apart.
    run = proc.run_tool(argv, log_path=log, timeout_s=ctx.deadline_s, expected=range(256), cwd=lock.parent,
                        env={**os.environ, "NO_UPDATE_NOTIFIER": "1"}, console=ctx.console,
                        install_hint="Install Node.js and npm, or set checks.audit.osv_dir.", stdout_path=output)
    ctx.tool = replace(ctx.tool, exit_code=run.exit_code)
    ctx.add_evidence(log)
    if not output.is_file() or not output.read_bytes().strip():
        raise ToolFailed(f"npm audit wrote no report (exit {run.exit_code}); last output:\n{run.tail(8)}",
                         f"Nothing was audited, so this cannot pass. The full output is in {log}; or set "
                         "checks.audit.osv_dir to audit offline.")
    ctx.add_evidence(output)
    return output


def evaluate_audit(parsed: AuditParsed, settings: dict[str, Any]) -> Evaluation:
    """Pure policy: severity at or above fail_at fails; anything not audited or unaccounted cannot pass.

    Incomplete evidence is an ``error`` even when vulnerabilities were found: a ``fail``
    could be waived to ``waived``, which would hide the dependencies nobody audited.
    """
    fail_at = normalise_label(settings.get("fail_at", DEFAULT_FAIL_AT))
    allow_unaudited = bool(settings.get("allow_unaudited"))
    findings = [_finding(v, fail_at, normalise_label(settings.get("unknown_severity", DEFAULT_UNKNOWN)))
                for v in parsed.vulnerabilities]
    skipped = [d for d in parsed.dependencies if d.skip_reason]
    audited = [d for d in parsed.dependencies if not d.skip_reason]
    failing = [f for f in findings if f.failing]
    measurements = (
        Measurement("dependencies audited", len(audited), "packages"),
        Measurement("dependencies not audited", len(skipped), "packages", None if allow_unaudited else "== 0",
                    None if allow_unaudited else not skipped),
        Measurement("dependencies unaccounted for", len(parsed.unaccounted), "packages", "== 0",
                    not parsed.unaccounted),
        Measurement("vulnerabilities", len(findings), ""),
        Measurement(f"vulnerabilities at or above {fail_at}", len(failing), "", "== 0", not failing),
    )
    details = {"mode": parsed.mode, "fail_at": fail_at}
    incomplete = _incomplete(parsed, audited, skipped, allow_unaudited)
    found = tuple(f.title for f in failing)
    if incomplete is not None:
        summary, reasons = incomplete
        if failing:
            summary += f" {len(failing)} vulnerabilit{'y' if len(failing) == 1 else 'ies'} at or above {fail_at} " \
                       "were found in what was audited."
        return Evaluation(Status.ERROR, summary, (*reasons, *found), measurements, tuple(findings), details)
    notes = tuple(f"{d.name} ({d.source}) was not audited: {d.skip_reason}." for d in skipped)
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} known vulnerabilit{'y' if len(failing) == 1 else 'ies'} at "
                          f"or above {fail_at} in {len(audited)} audited dependencies.", found + notes, measurements,
                          tuple(findings), details)
    below = f"; {len(findings)} below {fail_at} shown" if findings else ""
    return Evaluation(Status.PASS, f"No known vulnerability at or above {fail_at} in {len(audited)} "
                      f"dependencies{below}.", notes, measurements, tuple(findings), details)


def _finding(vuln: Vulnerability, fail_at: str, unknown_as: str) -> Finding:
    effective = unknown_as if vuln.severity == "unknown" else vuln.severity
    fixed = f"; fixed in {', '.join(vuln.fixed)}" if vuln.fixed else "; no fixed version known"
    shown = vuln.severity if vuln.severity != "unknown" else f"unknown, counted as {unknown_as}"
    return Finding(
        id=vuln.ids[0], severity=effective,
        title=f"{vuln.package} {vuln.version}: {vuln.ids[0]} ({shown}) {vuln.summary}{fixed}".strip(),
        location=f"{vuln.package}=={vuln.version}",
        failing=SEVERITY_RANK.get(effective, 3) >= SEVERITY_RANK[fail_at],
        details={"aliases": list(vuln.ids[1:]), "package": vuln.package, "version": vuln.version,
                 "fixed": list(vuln.fixed), "score": vuln.score, "url": vuln.url, "rule_id": vuln.ids[0],
                 "artifact": vuln.source.split(":")[0], **vuln.details})


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


def _kept(ctx: CheckContext, path: Path) -> Path:
    """The copy of an input the result keeps as evidence (the path itself when it does not exist)."""
    return ctx.add_evidence(path) if path.is_file() else path
