"""The ``audit`` check: no known-vulnerable dependency at or above the failing severity.

collect: ingest a pip-audit / npm audit JSON report; or, with ``osv_dir``, read the pinned
         requirements and an offline OSV database; or run pip-audit / npm audit online.
parse:   dependencies (audited or skipped with a reason) and vulnerabilities, one per
         vulnerability with all its ids (offline: matched here against the database).
evaluate: severity (CVSS base score, else the advisory's label, else unknown) against
          ``fail_at``; anything not audited keeps the check from passing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline import proc
from pipeline.checks import osv
from pipeline.checks.audit_reports import (
    SEVERITY_RANK,
    Dependency,
    Vulnerability,
    canonical_ids,
    normalise_label,
    read_npm_audit,
    read_package_lock,
    read_pip_audit,
    read_requirements,
    severity_from_vector,
)
from pipeline.checks.interface import Check, CheckContext, Evaluation
from pipeline.errors import ArtifactMissing, CheckError, CheckTimeout, ToolFailed
from pipeline.model import Finding, Measurement, Status, ToolInfo

DEFAULT_FAIL_AT = "high"
DEFAULT_UNKNOWN = "high"  # a vulnerability nobody rated is treated as serious until someone does
NPM_KEYS = {"auditReportVersion", "advisories", "vulnerabilities", "error"}
SERVICE_HOSTS = {"pypi": "the PyPI vulnerability service (pypi.org)", "osv": "the OSV service (api.osv.dev)"}


@dataclass(frozen=True)
class AuditRaw:
    mode: str  # offline | pip-audit | npm-audit | ingest
    dependencies: tuple[Dependency, ...] = ()
    database: osv.Database | None = None
    reports: tuple[tuple[str, Path], ...] = ()  # (kind, path) of tool output to read


@dataclass(frozen=True)
class AuditParsed:
    mode: str
    dependencies: tuple[Dependency, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    problems: tuple[str, ...]


class AuditCheck(Check[AuditRaw, AuditParsed]):
    """Dependencies against known vulnerabilities (pip-audit, npm audit, or an offline OSV database)."""

    name = "audit"
    title = "Dependency audit"

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> AuditRaw:
        if settings.get("report"):
            path = ctx.resolve(settings["report"])
            if not path.is_file():
                raise ArtifactMissing(f"the audit report {path} does not exist",
                                      "Produce it with pip-audit -f json or npm audit --json.")
            ctx.add_evidence(path)
            ctx.tool = ToolInfo("audit report", "unknown", "ingest")
            return AuditRaw("ingest", reports=(("auto", path),))
        requirements = [ctx.resolve(p) for p in settings.get("requirements") or ()]
        lock = ctx.resolve(settings["npm_lock"]) if settings.get("npm_lock") else None
        if not requirements and lock is None:
            raise ArtifactMissing("nothing to audit: checks.audit lists no requirements, npm_lock or report",
                                  "Point checks.audit.requirements at your pinned requirements file.")
        if settings.get("osv_dir"):
            return _collect_offline(ctx.resolve(settings["osv_dir"]), requirements, lock, ctx)
        return _collect_online(settings, requirements, lock, ctx)

    def parse(self, raw: AuditRaw) -> AuditParsed:
        if raw.mode == "offline":
            assert raw.database is not None
            return AuditParsed(raw.mode, raw.dependencies, tuple(match_offline(raw.dependencies, raw.database)),
                               tuple(raw.database.problems))
        dependencies: list[Dependency] = []
        vulnerabilities: list[Vulnerability] = []
        for kind, path in raw.reports:
            deps, vulns = read_npm_audit(path) if kind == "npm" or (kind == "auto" and _is_npm(path)) \
                else read_pip_audit(path)
            dependencies += deps
            vulnerabilities += vulns
        return AuditParsed(raw.mode, tuple(dependencies), tuple(vulnerabilities), ())

    def evaluate(self, parsed: AuditParsed, settings: dict[str, Any]) -> Evaluation:
        return evaluate_audit(parsed, settings)


def _collect_offline(folder: Path, requirements: list[Path], lock: Path | None, ctx: CheckContext) -> AuditRaw:
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
    dependencies = [d for path in requirements for d in read_requirements(path)]
    if lock is not None:
        dependencies += read_package_lock(lock)
    for path in (*requirements, *([lock] if lock else [])):
        ctx.add_evidence(path)
    ctx.tool = ToolInfo("osv-offline", f"{database.records} records ({database.withdrawn} withdrawn), "
                        f"loaded in {load_s:.2f} s", "run", ("osv_dir", str(folder)))
    return AuditRaw("offline", tuple(dependencies), database)


def _collect_online(settings: dict[str, Any], requirements: list[Path], lock: Path | None,
                    ctx: CheckContext) -> AuditRaw:
    reports: list[tuple[str, Path]] = []
    service = settings.get("service", "pypi")
    for index, path in enumerate(requirements):
        output = ctx.evidence_dir / f"pip-audit-{index + 1}.json"
        reports.append(("pip", _run_pip_audit(path, output, service, ctx)))
    if lock is not None:
        reports.append(("npm", _run_npm_audit(lock, ctx)))
    return AuditRaw("pip-audit" if requirements else "npm-audit", reports=tuple(reports))


def _run_pip_audit(requirements: Path, output: Path, service: str, ctx: CheckContext) -> Path:
    binary = proc.find_tool("pip-audit", [Path(sys.executable).parent])
    if binary is None:
        raise CheckError("pip-audit is not installed.", "pip install pip-audit (the Nox sessions do), or set "
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
        raise CheckError("npm is not installed, so the npm lock cannot be audited online.",
                         "Install Node.js and npm, or set checks.audit.osv_dir to audit offline.")
    output = ctx.evidence_dir / "npm-audit.json"
    argv = [npm, "audit", "--json", "--package-lock-only"]
    # stdout is the JSON report and must stay apart from npm's warnings on stderr.
    try:
        done = subprocess.run(argv, cwd=lock.parent, capture_output=True, text=True, timeout=ctx.deadline_s,
                              env={**os.environ, "NO_UPDATE_NOTIFIER": "1"}, check=False)
    except subprocess.TimeoutExpired:
        raise CheckTimeout(f"npm audit did not finish within {ctx.deadline_s:g} s.",
                           "Raise checks.audit.timeout_s, or audit offline with osv_dir.") from None
    output.write_text(done.stdout)
    (ctx.evidence_dir / "npm-audit.log").write_text(done.stderr)
    ctx.tool = ToolInfo("npm audit", proc.tool_version(npm), "run", tuple(argv), done.returncode)
    ctx.add_evidence(output)
    return output


def _is_npm(path: Path) -> bool:
    """An ingested report is npm audit's when it has npm's top-level keys; else pip-audit's."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the pip-audit reader reports what is wrong with it
    return isinstance(document, dict) and bool(NPM_KEYS & document.keys())


def match_offline(dependencies: tuple[Dependency, ...], database: osv.Database) -> list[Vulnerability]:
    """Each pinned dependency against the database: one Vulnerability per alias group."""
    found = []
    for dep in dependencies:
        if dep.version is None or dep.skip_reason:
            continue
        hits = [(record, affected) for record, affected in database.candidates(dep.ecosystem, dep.name)
                if osv.is_affected(affected, dep.ecosystem, dep.version)]
        by_id = {record.id: (record, affected) for record, affected in hits}
        for group in osv.merge_by_alias([record for record, _ in by_id.values()]):
            ids = canonical_ids({i for record in group for i in (record.id, *record.aliases)})
            severity, score = _group_severity(group)
            fixed = sorted({v for record in group for v in osv.fixed_versions(by_id[record.id][1])})
            found.append(Vulnerability(dep.name, dep.version, ids, group[0].summary, severity, score,
                                       tuple(fixed), dep.source,
                                       details={"records": sorted(record.source for record in group)}))
    return found


def _group_severity(group: list[osv.Record]) -> tuple[str, float | None]:
    """The highest severity any record of the group gives: CVSS vector first, then labels."""
    best: tuple[str, float | None] = ("unknown", None)
    for record in group:
        for entry in record.severity:
            computed = severity_from_vector(str(entry.get("score", "")))
            if computed and (best[1] is None or computed[1] > best[1]):
                best = computed
    if best[1] is not None:
        return best
    labels = [normalise_label(str(r.database_specific.get("severity"))) for r in group
              if r.database_specific.get("severity")]
    labels = [label for label in labels if label in SEVERITY_RANK]
    return (max(labels, key=SEVERITY_RANK.__getitem__), None) if labels else best


def evaluate_audit(parsed: AuditParsed, settings: dict[str, Any]) -> Evaluation:
    """Pure policy: severity at or above fail_at fails; anything not audited cannot pass."""
    fail_at = normalise_label(settings.get("fail_at", DEFAULT_FAIL_AT))
    unknown_as = normalise_label(settings.get("unknown_severity", DEFAULT_UNKNOWN))
    findings = []
    for vuln in parsed.vulnerabilities:
        effective = unknown_as if vuln.severity == "unknown" else vuln.severity
        at_or_above = SEVERITY_RANK.get(effective, 3) >= SEVERITY_RANK[fail_at]
        fixed = f"; fixed in {', '.join(vuln.fixed)}" if vuln.fixed else "; no fixed version known"
        shown = vuln.severity if vuln.severity != "unknown" else f"unknown, counted as {unknown_as}"
        findings.append(Finding(
            id=vuln.ids[0], severity=effective,
            title=f"{vuln.package} {vuln.version}: {vuln.ids[0]} ({shown}) {vuln.summary}{fixed}".strip(),
            location=f"{vuln.package}=={vuln.version}", failing=at_or_above,
            details={"aliases": list(vuln.ids[1:]), "package": vuln.package, "version": vuln.version,
                     "fixed": list(vuln.fixed), "score": vuln.score, "url": vuln.url, "rule_id": vuln.ids[0],
                     "artifact": vuln.source.split(":")[0], **vuln.details}))
    skipped = [d for d in parsed.dependencies if d.skip_reason]
    audited = [d for d in parsed.dependencies if not d.skip_reason]
    failing = [f for f in findings if f.failing]
    measurements = (
        Measurement("dependencies audited", len(audited), "packages"),
        Measurement("dependencies not audited", len(skipped), "packages", "== 0", not skipped),
        Measurement("vulnerabilities", len(findings), ""),
        Measurement(f"vulnerabilities at or above {fail_at}", len(failing), "", "== 0", not failing),
    )
    reasons = [f"{d.name} ({d.source}) was not audited: {d.skip_reason}." for d in skipped]
    reasons += [f"Unreadable advisory record {p}" for p in parsed.problems]
    details = {"mode": parsed.mode, "fail_at": fail_at}
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} known vulnerabilit{'y' if len(failing) == 1 else 'ies'} at "
                          f"or above {fail_at} in {len(audited)} audited dependencies.",
                          tuple(f.title for f in failing) + tuple(reasons), measurements, tuple(findings), details)
    if not audited:
        hint = ("The vulnerability service did not answer for any dependency (pip-audit reports an unreachable "
                "service as 'not found'). Without network access, set checks.audit.osv_dir to an offline OSV "
                "database." if parsed.mode == "pip-audit" and skipped else
                "An empty audit cannot pass; check the requirements file or the report.")
        return Evaluation(Status.ERROR, "No dependency was audited, so nothing is proven.", (hint, *reasons),
                          measurements, tuple(findings), details)
    if skipped and not settings.get("allow_unaudited"):
        return Evaluation(Status.ERROR, f"{len(skipped)} dependencies were not audited.",
                          (*reasons, "Pin them (name==version), or set checks.audit.allow_unaudited: true to "
                           "accept the gap knowingly."), measurements, tuple(findings), details)
    if parsed.problems:
        return Evaluation(Status.ERROR, f"{len(parsed.problems)} advisory record(s) could not be read; the "
                          "audit may miss what they describe.", tuple(reasons), measurements, tuple(findings), details)
    below = f"; {len(findings)} below {fail_at} shown" if findings else ""
    return Evaluation(Status.PASS, f"No known vulnerability at or above {fail_at} in {len(audited)} "
                      f"dependencies{below}.", tuple(reasons), measurements, tuple(findings), details)
