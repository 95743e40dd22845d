"""The ``coverage`` check: the tests pass and line coverage is at least the minimum (0.90).

collect: run the configured test command (or not: ingest mode) and find the reports.
parse:   Cobertura or LCOV counts (every number validated), JUnit outcomes, and which
         source files that must be measured the report lacks (coverage_sources).
evaluate: rates from line counts (never a rounded attribute), any failing test fails;
          no test that ran, or files missing from the report, is an error.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from pipeline import proc
from pipeline.checks.coverage.reports import (
    CaseOutcome,
    CoverageReport,
    read_cobertura,
    read_junit,
    read_lcov,
    report_tool,
)
from pipeline.checks.coverage.sources import (
    Completeness,
    check_completeness,
    completeness_details,
    completeness_measurements,
    completeness_reasons,
)
from pipeline.checks.interface import Check, CheckContext, Evaluation, LegacySettings
from pipeline.errors import ArtifactMissing, CheckError
from pipeline.model import Finding, Measurement, Status, ToolInfo

DEFAULT_MIN_LINE_RATE = 0.90
MAX_GROUPS_SHOWN = 40


@dataclass(frozen=True)
class CoverageRaw:
    """Where the evidence is, and how the test command ended (None in ingest mode)."""

    report: Path
    report_format: str
    junit: tuple[Path, ...]
    command_exit: int | None
    sources: tuple[Path, ...] = ()  # checks.coverage.sources, resolved
    omit: tuple[str, ...] = ()
    project_dir: Path = Path(".")
    cwd: Path = Path(".")  # where the test command ran: relative <source> paths start there


@dataclass(frozen=True)
class CoverageParsed:
    """Counts and test outcomes."""

    report: CoverageReport
    tests: tuple[CaseOutcome, ...]
    junit_files: int
    command_exit: int | None
    completeness: Completeness | None = None
    junit_paths: tuple[str, ...] = ()


class CoverageCheck(Check[Any, CoverageRaw, CoverageParsed]):
    """Tests pass; line coverage >= min_line_rate; branch coverage >= min_branch_rate if set."""

    name = "coverage"
    title = "Tests and coverage"
    order = 10
    Settings = LegacySettings  # a plain mapping until the check gets typed settings

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> CoverageRaw:
        """Run the test command if one is configured, then locate fresh reports."""
        report, report_format = _report_setting(settings, ctx)
        junit = tuple(ctx.resolve(p) for p in _as_list(settings.get("junit")))
        command = settings.get("command")
        cwd = ctx.resolve(settings.get("cwd", "."))
        exit_code: int | None = None
        started = time.time()
        argv: tuple[str, ...] = ()
        if command:
            argv = tuple(shlex.split(command) if isinstance(command, str) else command)
            log = ctx.evidence_dir / "coverage-command.log"
            env = {**os.environ, **settings.get("env", {})}
            # The version comes from the report afterwards: never `their-command --version`.
            ctx.tool = ToolInfo(Path(argv[0]).name, "unknown", "run", argv)
            run = proc.run_tool(argv, log_path=log, timeout_s=ctx.deadline_s, expected=range(256),
                                cwd=cwd, env=env, console=ctx.console,
                                install_hint="Install the test runner, or fix checks.coverage.command.")
            ctx.add_evidence(log)
            exit_code = run.exit_code
            ctx.tool = replace(ctx.tool, exit_code=exit_code)
        for path in (report, *junit):
            _require_fresh(path, started if command else None)
            ctx.add_evidence(_keep_as_evidence(path, ctx))
        producer, version = report_tool(report, report_format)
        name = producer or (Path(argv[0]).name if argv else report_format)
        ctx.tool = ToolInfo(name, version, "run" if command else "ingest", argv, exit_code)
        return CoverageRaw(report, report_format, junit, exit_code,
                           tuple(ctx.resolve(s) for s in _as_list(settings.get("sources"))),
                           tuple(_as_list(settings.get("omit"))), ctx.project_dir, cwd)

    def parse(self, raw: CoverageRaw) -> CoverageParsed:
        """Read the coverage report and every JUnit file; list what the report lacks."""
        reader = read_cobertura if raw.report_format == "cobertura" else read_lcov
        report = reader(raw.report)
        tests = tuple(t for path in raw.junit for t in read_junit(path))
        completeness = check_completeness(report, raw.sources, raw.omit, raw.project_dir, raw.cwd)
        return CoverageParsed(report, tests, len(raw.junit), raw.command_exit, completeness,
                              tuple(str(p) for p in raw.junit))

    def evaluate(self, parsed: CoverageParsed, settings: dict[str, Any]) -> Evaluation:
        """Judge the counts against the thresholds; any failing test fails the check."""
        return evaluate_coverage(parsed, settings)


def evaluate_coverage(parsed: CoverageParsed, settings: dict[str, Any]) -> Evaluation:
    """Pure policy for the coverage check."""
    report = parsed.report
    min_line = Fraction(str(settings.get("min_line_rate", DEFAULT_MIN_LINE_RATE)))
    line_rate = Fraction(report.lines_covered, report.lines_valid)
    line_ok = line_rate >= min_line
    measurements = [
        Measurement("line_rate", round(float(line_rate), 6), "ratio", f">= {float(min_line):g}",
                    line_ok),
        Measurement("lines_covered", report.lines_covered, "lines"),
        Measurement("lines_valid", report.lines_valid, "lines"),
    ]
    findings: list[Finding] = []
    reasons: list[str] = [
        f"Gated figure: line coverage from line counts, {report.lines_covered} of "
        f"{report.lines_valid} lines = {_pct(line_rate)} (minimum {_pct(min_line)})."
    ]
    if report.tool_line_rate is not None and report.branches_valid:
        reasons.append(
            "Branch data is present; coverage.py's own total mixes lines and branches, so it "
            "can differ from the gated line figure."
        )
    if not line_ok:
        findings.append(Finding("coverage:line_rate", "high",
                                f"Line coverage {_pct(line_rate)} is below {_pct(min_line)}",
                                report.source, details={"measurement": "line_rate"}))
    _judge_branches(report, settings.get("min_branch_rate"), measurements, findings)
    findings += _test_findings(parsed.tests)
    measurements += _test_measurements(parsed) + completeness_measurements(parsed.completeness)
    reasons += completeness_reasons(parsed.completeness)
    status, summary = _status(parsed, line_rate, findings)
    if parsed.command_exit and not any(f.id.startswith("test:") for f in findings):
        reasons.append(f"The test command exited with {parsed.command_exit} although no test "
                       "failed; see evidence/coverage-command.log.")
        if status is Status.PASS:
            status, summary = Status.ERROR, (
                f"The test command exited with {parsed.command_exit} but no failing test explains it.")
    return Evaluation(status, summary, tuple(reasons), tuple(measurements), tuple(findings),
                      {"groups": _groups(report), "format": report.format,
                       "min_line_rate": float(min_line), "completeness": completeness_details(parsed.completeness)})


def _judge_branches(report: CoverageReport, min_branch: Any, measurements: list[Measurement],
                    findings: list[Finding]) -> None:
    if not report.branches_valid:
        if min_branch is not None:
            raise CheckError(
                f"{report.source}: min_branch_rate is set but the report holds no branch data.",
                "Turn on branch measurement (coverage.py: --cov-branch) or remove min_branch_rate.")
        return
    branch_rate = Fraction(report.branches_covered, report.branches_valid)
    branch_ok = None if min_branch is None else branch_rate >= Fraction(str(min_branch))
    measurements.append(Measurement(
        "branch_rate", round(float(branch_rate), 6), "ratio",
        None if min_branch is None else f">= {float(min_branch):g}", branch_ok))
    if branch_ok is False:
        findings.append(Finding("coverage:branch_rate", "high",
                                f"Branch coverage {_pct(branch_rate)} is below "
                                f"{_pct(Fraction(str(min_branch)))}", report.source,
                                details={"measurement": "branch_rate"}))


def _status(parsed: CoverageParsed, line_rate: Fraction,
            findings: list[Finding]) -> tuple[Status, str]:
    """A failing test is a definite no; otherwise incomplete evidence is an error, never a verdict."""
    counts = _counts(parsed.tests)
    tests = (f"{counts['total']} tests, {counts['failed']} failed, {counts['error']} errors"
             if parsed.junit_files else "no JUnit report configured")
    if any(f.id.startswith("test:") for f in findings):
        return Status.FAIL, f"Line coverage {_pct(line_rate)}; {tests}."
    problem = _incomplete(parsed)
    if problem:
        return Status.ERROR, problem
    verdict = Status.FAIL if findings else Status.PASS
    return verdict, f"Line coverage {_pct(line_rate)}; {tests}."


def _incomplete(parsed: CoverageParsed) -> str:
    """Why the evidence cannot support a verdict, or ''."""
    counts = _counts(parsed.tests)
    if parsed.junit_files and counts["total"] == 0:
        return "The JUnit reports hold no test case: the tests did not really run."
    if parsed.junit_files and counts["skipped"] == counts["total"]:
        return f"All {counts['total']} tests were skipped: the suite did not really run."
    ran = {t.source for t in parsed.tests if t.outcome != "skipped"}
    idle = [p for p in parsed.junit_paths if p not in ran]
    if idle:
        return f"No test ran in {', '.join(idle)}: that part of the suite did not really run."
    missing = parsed.completeness.missing if parsed.completeness else ()
    if missing:
        return (f"The coverage report lacks {len(missing)} source file(s) that must be measured: "
                "the report is incomplete (cut or partial).")
    return ""


def _test_findings(tests: tuple[CaseOutcome, ...]) -> list[Finding]:
    return [
        Finding(
            f"test:{t.suite}::{t.classname}::{t.name}",
            "high",
            f"{'Test error' if t.outcome == 'error' else 'Test failed'}: {t.name}",
            t.classname or t.suite,
            details={"message": t.message[:2000], "suite": t.suite, "file": t.source},
        )
        for t in tests
        if t.outcome in ("failed", "error")
    ]


def _counts(tests: tuple[CaseOutcome, ...]) -> dict[str, int]:
    counts = {"total": len(tests), "passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for test in tests:
        counts[test.outcome] += 1
    return counts


def _test_measurements(parsed: CoverageParsed) -> list[Measurement]:
    if not parsed.junit_files:
        return []
    counts = _counts(parsed.tests)
    return [
        Measurement("tests_total", counts["total"], "tests", "> 0", counts["total"] > 0),
        Measurement("tests_failed", counts["failed"], "tests", "== 0", counts["failed"] == 0),
        Measurement("tests_errored", counts["error"], "tests", "== 0", counts["error"] == 0),
        Measurement("tests_skipped", counts["skipped"], "tests"),
    ]


def _groups(report: CoverageReport) -> list[dict[str, Any]]:
    """Coverage per package (or per file when there is one package), lowest first."""
    by_group: dict[str, list[int]] = {}
    by_file = len({f.group for f in report.files}) == 1
    for item in report.files:
        counts = by_group.setdefault(item.path if by_file else item.group, [0, 0])
        counts[0] += item.lines_covered
        counts[1] += item.lines_valid
    groups = [
        {"name": name, "covered": c, "valid": v, "rate": round(c / v, 6)}
        for name, (c, v) in by_group.items()
        if v
    ]
    return sorted(groups, key=lambda g: (g["rate"], g["name"]))[:MAX_GROUPS_SHOWN]


def _pct(rate: Fraction) -> str:
    # Truncate, never round up: 89.999% must not be shown as 90.00%.
    hundredths = (rate * 10000).numerator // (rate * 10000).denominator
    return f"{hundredths / 100:.2f}%"


def _report_setting(settings: dict[str, Any], ctx: CheckContext) -> tuple[Path, str]:
    if settings.get("cobertura"):
        return ctx.resolve(settings["cobertura"]), "cobertura"
    if settings.get("lcov"):
        return ctx.resolve(settings["lcov"]), "lcov"
    raise CheckError("checks.coverage names no coverage report.",
                     "Set checks.coverage.cobertura (Cobertura XML) or checks.coverage.lcov.")


def _require_fresh(path: Path, not_before: float | None) -> None:
    if not path.is_file():
        raise ArtifactMissing(f"{path}: the report does not exist.",
                              "Check the path in the config and that the test command writes it.")
    # 2 s slack for filesystems with coarse timestamps.
    if not_before is not None and path.stat().st_mtime < not_before - 2:
        raise ArtifactMissing(
            f"{path}: the report is older than this run; the test command did not rewrite it.",
            "Make the test command write this report (e.g. pytest --cov-report=xml:PATH).")


def _keep_as_evidence(path: Path, ctx: CheckContext) -> Path:
    evidence = ctx.evidence_dir
    if evidence.resolve() in path.resolve().parents:
        return path
    copy = evidence / f"coverage-{path.name}"
    shutil.copyfile(path, copy)
    return copy


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
