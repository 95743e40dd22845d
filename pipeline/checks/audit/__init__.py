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

from pipeline import proc
from pipeline.checks.audit import osv, osvcache
from pipeline.checks.audit.accounting import locate, pins_the_gate_skips, unaccounted_lock, unaccounted_pins
from pipeline.checks.audit.inputs import NPM_AUDITS, Inputs, mark_dev, pinned_requirements, read_inputs, shown
from pipeline.checks.audit.offline import match_offline
from pipeline.checks.audit.policy import AuditParsed, evaluate_audit
from pipeline.checks.audit.reports import Dependency
from pipeline.checks.audit.settings import AuditSettings
from pipeline.checks.audit.tool_reports import ReportContents, read_report
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import ToolInfo

__all__ = ["AuditCheck", "AuditParsed", "AuditRaw", "AuditSettings", "evaluate_audit", "osv"]

SERVICE_HOSTS = {"pypi": "the PyPI vulnerability service (pypi.org)", "osv": "the OSV service (api.osv.dev)"}


@dataclass(frozen=True)
class ToolReport:
    """A report to read: which tool wrote it, the copy to read, and the file a finding may point at."""

    kind: str  # pip | npm | auto
    path: Path
    shown: str  # relative to the project when it lies inside


@dataclass(frozen=True)
class AuditRaw:
    """What collect gathered: the pins and the locks as written, and the database or the reports to judge them by."""

    mode: str  # offline | pip-audit | npm-audit | ingest
    pins: tuple[Dependency, ...] = ()  # from the requirements files
    lock: tuple[Dependency, ...] = ()  # from the Node lock files
    lock_name: str = ""
    database: osv.Database | None = None
    reports: tuple[ToolReport, ...] = ()
    lock_pins: tuple[Dependency, ...] = ()  # from the Python lock files
    database_age_days: float | None = None  # offline: days since the newest record changed (inf: undated)


class AuditCheck(Check[AuditSettings, AuditRaw, AuditParsed]):
    """Dependencies against known vulnerabilities (pip-audit, npm audit, or an offline OSV database)."""

    name = "audit"
    title = "Dependency audit"
    order = 40
    security = True
    Settings = AuditSettings
    extra = "audit"
    findings = {
        "vulnerability": FindingKind(
            "a pinned or locked package has a known vulnerability at or above fail_at (vulnerability:<CVE, else "
            "the first id>; every id of the advisory, CVE, GHSA, PYSEC, is an alias)",
            "Upgrade the package to a fixed version and update its pin; with no fix yet, record a waiver for one "
            "of its ids with the reason it does not reach you."),
    }

    def collect(self, settings: AuditSettings, ctx: CheckContext) -> AuditRaw:
        """Read the pins and the locks; then ingest the report, load the OSV database, or run the tools online."""
        inputs = read_inputs(settings, ctx)
        if inputs.empty and not settings.report:
            raise ArtifactMissing("nothing to audit: checks.audit lists no requirements, lock_files, npm_lock or "
                                  "report", "Point checks.audit.lock_files at your lock file (or requirements at "
                                  "your pinned requirements file).")
        raw = AuditRaw("ingest", inputs.pins, inputs.locked, ", ".join(p.name for p in inputs.node_locks),
                       lock_pins=inputs.lock_pins)
        if settings.report:
            path = ctx.resolve(settings.report)
            if not path.is_file():
                raise ArtifactMissing(f"the audit report {path} does not exist",
                                      "Produce it with pip-audit -f json or npm audit --json.")
            ctx.tool = ToolInfo("audit report", "unknown", "ingest")
            return replace(raw, reports=(ToolReport("auto", ctx.add_evidence(path), shown(path, ctx)),))
        if settings.osv_dir:
            database = _load_offline(ctx.resolve(settings.osv_dir), ctx)
            return replace(raw, mode="offline", database=database, database_age_days=osv.age_days(database.newest))
        return _collect_online(settings, inputs, raw, ctx)

    def parse(self, raw: AuditRaw) -> AuditParsed:
        """Offline: the pins matched against the database. Else: the reports, every pin accounted for."""
        dependencies = (*raw.pins, *raw.lock_pins, *raw.lock)
        if raw.mode == "offline":
            assert raw.database is not None
            matched = match_offline(dependencies, raw.database)
            dependencies = tuple(replace(d, skip_reason=matched.undecided[d]) if d in matched.undecided else d
                                 for d in dependencies)
            return AuditParsed(raw.mode, dependencies, tuple(mark_dev(matched.vulnerabilities, dependencies)),
                               tuple(raw.database.problems), database_age_days=raw.database_age_days,
                               database_newest=raw.database.newest)
        contents = [(report, read_report(report.path, report.kind)) for report in raw.reports]
        reported = [d for _, c in contents for d in c.dependencies]
        reported += pins_the_gate_skips(raw.pins) + [d for d in (*raw.lock_pins, *raw.lock) if d.skip_reason]
        python = (*raw.pins, *raw.lock_pins)
        vulnerabilities = [v for report, c in contents
                           for v in locate(c.vulnerabilities, python if c.kind == "pip" else raw.lock,
                                           osv.PYPI if c.kind == "pip" else osv.NPM, report.shown)]
        return AuditParsed(raw.mode, tuple(reported), tuple(mark_dev(vulnerabilities, dependencies)), (),
                           tuple(_accounting(raw, [c for _, c in contents])))

    def evaluate(self, parsed: AuditParsed, settings: AuditSettings) -> Evaluation:
        """Severity against fail_at; anything not audited or unaccounted keeps it from passing (see policy)."""
        return evaluate_audit(parsed, settings)


def _accounting(raw: AuditRaw, contents: list[ReportContents]) -> list[str]:
    """Every pin and every locked package must be accounted for by the reports read."""
    names = ", ".join(report.path.name for report in raw.reports)
    pip = [c for c in contents if c.kind == "pip"]
    npm = [c for c in contents if c.kind == "npm"]
    pins = [*raw.pins, *(d for d in raw.lock_pins if not d.skip_reason)]
    found = unaccounted_pins(pins, [d for c in pip for d in c.dependencies] if pip else None, names) \
        if pins else []
    if raw.lock:
        counts = [c.counted for c in npm]
        counted = None if not counts or None in counts else sum(c for c in counts if c is not None)
        found += unaccounted_lock(raw.lock, counted, raw.lock_name, names, npm_report=bool(npm))
    return found


def _load_offline(folder: Path, ctx: CheckContext) -> osv.Database:
    """The OSV database, loaded once; a folder without a readable record proves nothing."""
    started = time.perf_counter()
    try:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")
        database, how = osvcache.load(folder, osvcache.default_dir(ctx.env))
    except FileNotFoundError as exc:
        raise ArtifactMissing(f"the OSV database folder {folder} does not exist: {exc}",
                              "Clone the PyPA advisory database (or unzip an OSV export) there.") from None
    load_s = time.perf_counter() - started
    if database.records == 0:
        raise ArtifactMissing(f"the OSV database {folder} holds no readable record",
                              "An empty database proves nothing; point osv_dir at the records.")
    newest = f"newest record modified {database.newest}" if database.newest else "no record says when it changed"
    ctx.tool = ToolInfo("osv-offline", f"{database.records} records ({database.withdrawn} withdrawn), {newest}, "
                        f"loaded in {load_s:.2f} s, {how}", "run", ("osv_dir", str(folder)))
    return database


def _collect_online(settings: AuditSettings, inputs: Inputs, raw: AuditRaw, ctx: CheckContext) -> AuditRaw:
    """pip-audit on each requirements file and on the Python lock pins; npm audit on each npm lock."""
    other = [p.name for p in inputs.node_locks if p.name not in NPM_AUDITS]
    if other:
        raise ToolNotFound(f"{', '.join(other)} cannot be audited online: npm audit reads package-lock.json only.",
                           "Set checks.audit.osv_dir to audit it offline against an OSV database.")
    sources = list(inputs.requirements)
    if inputs.lock_pins:
        sources.append(pinned_requirements(inputs.lock_pins, ctx.evidence_dir / "locked-requirements.txt"))
    reports: list[ToolReport] = []
    for index, path in enumerate(sources):
        output = _run_pip_audit(path, ctx.evidence_dir / f"pip-audit-{index + 1}.json", settings.service, ctx)
        reports.append(ToolReport("pip", output, shown(output, ctx)))
    for index, lock in enumerate(inputs.node_locks):
        output = _run_npm_audit(lock, ctx, "" if index == 0 else f"-{index + 1}")
        reports.append(ToolReport("npm", output, shown(output, ctx)))
    return replace(raw, mode="pip-audit" if sources else "npm-audit", reports=tuple(reports))


def _run_pip_audit(requirements: Path, output: Path, service: str, ctx: CheckContext) -> Path:
    """pip-audit on one requirements file; no report means nothing was audited (a failure, not a pass)."""
    # On the environment's PATH, else beside the interpreter running the gate (a virtualenv not activated).
    binary = shutil.which("pip-audit", path=os.pathsep.join((ctx.env.get("PATH", ""),
                                                             str(Path(sys.executable).parent))))
    if binary is None:
        raise ToolNotFound("pip-audit is not installed.", "pip install pip-audit (the Nox sessions do), or set "
                         "checks.audit.osv_dir to audit offline against an OSV database.")
    output.unlink(missing_ok=True)
    # --no-deps --disable-pip: the pins are audited as written, without installing anything.
    argv = [binary, "-r", str(requirements), "--format", "json", "--output", str(output), "--progress-spinner",
            "off", "--vulnerability-service", service, "--no-deps", "--disable-pip", "--timeout", "15"]
    ctx.tool = ToolInfo("pip-audit", proc.tool_version(binary), "run", tuple(argv))
    log = ctx.evidence_dir / f"{output.stem}.log"
    run = proc.run_tool(argv, log_path=log, timeout_s=ctx.deadline_s, expected=range(256), env=dict(ctx.env),
                        console=ctx.console)
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


def _run_npm_audit(lock: Path, ctx: CheckContext, suffix: str = "") -> Path:
    """npm audit on the lock; its stdout is the report, kept apart from its warnings."""
    npm = shutil.which("npm", path=ctx.env.get("PATH"))
    if npm is None:
        raise ToolNotFound("npm is not installed, so the npm lock cannot be audited online.",
                           "Install Node.js and npm, or set checks.audit.osv_dir to audit offline.")
    output = ctx.evidence_dir / f"npm-audit{suffix}.json"
    log = ctx.evidence_dir / f"npm-audit{suffix}.log"
    argv = [npm, "audit", "--json", "--package-lock-only"]
    ctx.tool = ToolInfo("npm audit", proc.tool_version(npm), "run", tuple(argv))
    # stdout is the JSON report and must stay apart from npm's warnings on stderr. npm exits
    # non-zero both when it finds vulnerabilities and when it fails: the report tells them apart.
    run = proc.run_tool(argv, log_path=log, timeout_s=ctx.deadline_s, expected=range(256), cwd=lock.parent,
                        env={**ctx.env, "NO_UPDATE_NOTIFIER": "1"}, console=ctx.console,
                        install_hint="Install Node.js and npm, or set checks.audit.osv_dir.", stdout_path=output)
    ctx.tool = replace(ctx.tool, exit_code=run.exit_code)
    ctx.add_evidence(log)
    if not output.is_file() or not output.read_bytes().strip():
        raise ToolFailed(f"npm audit wrote no report (exit {run.exit_code}); last output:\n{run.tail(8)}",
                         f"Nothing was audited, so this cannot pass. The full output is in {log}; or set "
                         "checks.audit.osv_dir to audit offline.")
    ctx.add_evidence(output)
    return output
