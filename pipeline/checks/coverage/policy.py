"""The coverage check's policy: pure, over the counts and test outcomes (no I/O, no clock).

The gated figure is line coverage from the line counts (never a rounded attribute); any
failing test fails; evidence that cannot support a verdict (no test ran, files missing from
the report, a non-zero exit no failing test explains) is an error, never a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from pipeline.checks.coverage.model import CoverageReport
from pipeline.checks.coverage.reports import JUnitFile
from pipeline.checks.coverage.settings import CoverageSettings
from pipeline.checks.coverage.sources import (
    Completeness,
    completeness_details,
    completeness_measurements,
    completeness_reasons,
)
from pipeline.checks.interface import Evaluation
from pipeline.errors import CheckError
from pipeline.model import Finding, Measurement, Status
from pipeline.views import Bar, Bars

MAX_GROUPS_SHOWN = 40
# Each missing file is a finding (a waiver names the file); past this many, one finding stands for the rest.
MAX_MISSING_FINDINGS = 200
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class CoverageParsed:
    """The coverage counts, what each configured JUnit file says, the test command's exit code."""

    report: CoverageReport
    junit: tuple[JUnitFile, ...]
    command_exit: int | None
    completeness: Completeness | None = None


def evaluate_coverage(parsed: CoverageParsed, settings: CoverageSettings) -> Evaluation:
    """Pure policy for the coverage check."""
    report = parsed.report
    min_line = Fraction(str(settings.min_line_rate))
    line_rate = Fraction(report.lines_covered, report.lines_valid)
    measurements = [
        Measurement("line_rate", round(float(line_rate), 6), "ratio", f">= {float(min_line):g}", line_rate >= min_line),
        Measurement("lines_covered", report.lines_covered, "lines"),
        Measurement("lines_valid", report.lines_valid, "lines"),
    ]
    reasons = [f"Gated figure: line coverage from line counts, {report.lines_covered} of {report.lines_valid} "
               f"lines = {_pct(line_rate)} (minimum {_pct(min_line)})."]
    if report.tool_line_rate is not None and report.branches_valid:
        reasons.append("Branch data is present; coverage.py's own total mixes lines and branches, so it "
                       "can differ from the gated line figure.")
    findings: list[Finding] = []
    if line_rate < min_line:
        findings.append(Finding("line-rate:total", "high", f"Line coverage {_pct(line_rate)} is below "
                                f"{_pct(min_line)}", report.source, aliases=("coverage:line_rate",),
                                measurement="line_rate"))
    _judge_branches(report, settings.min_branch_rate, measurements, findings)
    findings += _test_findings(parsed.junit) + _incomplete_findings(parsed)
    measurements += _test_measurements(parsed) + completeness_measurements(parsed.completeness)
    reasons += completeness_reasons(parsed.completeness)
    status, summary = _status(parsed, line_rate, findings)
    if parsed.command_exit and not _failed_tests(findings):
        reasons.append(f"The test command exited with {parsed.command_exit} although no test "
                       "failed; see evidence/coverage-command.log.")
        if status is Status.PASS:
            status, summary = Status.ERROR, (
                f"The test command exited with {parsed.command_exit} but no failing test explains it.")
    return Evaluation(status, summary, tuple(reasons), tuple(measurements), tuple(findings),
                      {"format": report.format, "completeness": completeness_details(parsed.completeness)},
                      (coverage_bars(report, min_line),))


def _judge_branches(report: CoverageReport, min_branch: float | None, measurements: list[Measurement],
                    findings: list[Finding]) -> None:
    if not report.branches_valid:
        if min_branch is not None:
            raise CheckError(
                f"{report.source}: min_branch_rate is set but the report holds no branch data.",
                "Turn on branch measurement (coverage.py: --cov-branch) or remove min_branch_rate.")
        return
    branch_rate = Fraction(report.branches_covered, report.branches_valid)
    minimum = None if min_branch is None else Fraction(str(min_branch))
    branch_ok = None if minimum is None else branch_rate >= minimum
    measurements.append(Measurement("branch_rate", round(float(branch_rate), 6), "ratio",
                                    None if minimum is None else f">= {float(minimum):g}", branch_ok))
    if minimum is not None and not branch_ok:
        findings.append(Finding("branch-rate:total", "high", f"Branch coverage {_pct(branch_rate)} is below "
                                f"{_pct(minimum)}", report.source, aliases=("coverage:branch_rate",),
                                measurement="branch_rate"))


def _status(parsed: CoverageParsed, line_rate: Fraction, findings: list[Finding]) -> tuple[Status, str]:
    """A failing test is a definite no; otherwise incomplete evidence is an error, never a verdict."""
    counts = _counts(parsed.junit)
    tests = (f"{counts['total']} tests, {counts['failed']} failed, {counts['error']} errors"
             if parsed.junit else "no JUnit report configured")
    if _failed_tests(findings):
        return Status.FAIL, f"Line coverage {_pct(line_rate)}; {tests}."
    problem = _incomplete(parsed)
    if problem:
        return Status.ERROR, problem
    verdict = Status.FAIL if findings else Status.PASS
    return verdict, f"Line coverage {_pct(line_rate)}; {tests}."


def _failed_tests(findings: list[Finding]) -> bool:
    return any(f.id.startswith("test:") for f in findings)


def _idle_junit(parsed: CoverageParsed) -> list[str]:
    """JUnit files in which no test ran (every case skipped, or none at all)."""
    return [f.source for f in parsed.junit if not f.ran]


def _incomplete(parsed: CoverageParsed) -> str:
    """Why the evidence cannot support a verdict, or ''."""
    counts = _counts(parsed.junit)
    if parsed.junit and counts["total"] == 0:
        return "The JUnit reports hold no test case: the tests did not really run."
    if parsed.junit and counts["skipped"] == counts["total"]:
        return f"All {counts['total']} tests were skipped: the suite did not really run."
    idle = _idle_junit(parsed)
    if idle:
        return f"No test ran in {', '.join(idle)}: that part of the suite did not really run."
    missing = parsed.completeness.missing if parsed.completeness else ()
    if missing:
        return (f"The coverage report lacks {len(missing)} source file(s) that must be measured: "
                "the report is incomplete (cut or partial).")
    return ""


def _incomplete_findings(parsed: CoverageParsed) -> list[Finding]:
    """What the evidence lacks, one finding each, so that waiving the failing tests alone never waives it."""
    findings = [Finding(f"suite-not-run:{_id_part(path)}", "high", f"No test ran in {path}", path,
                        aliases=_spelled(f"suite-not-run:{path}"), file=path)
                for path in _idle_junit(parsed)]
    missing = parsed.completeness.missing if parsed.completeness else ()
    findings += [Finding(f"missing-source:{_id_part(path)}", "high", f"{path} is missing from the coverage report",
                         path, aliases=_spelled(f"missing-source:{path}"), file=path)
                 for path in missing[:MAX_MISSING_FINDINGS]]
    if len(missing) > MAX_MISSING_FINDINGS:
        more = len(missing) - MAX_MISSING_FINDINGS
        findings.append(Finding("missing-source:more", "high", f"{more} more source file(s) are missing from the "
                                "coverage report (not listed one by one)", parsed.report.source))
    return findings


def _test_findings(junit: tuple[JUnitFile, ...]) -> list[Finding]:
    findings = []
    for t in (case for file in junit for case in file.problems):
        spelled = f"{t.suite}::{t.classname}::{t.name}"
        findings.append(Finding(f"test:{_id_part(spelled)}", "high",
                                f"{'Test error' if t.outcome == 'error' else 'Test failed'}: {t.name}",
                                t.classname or t.suite, aliases=_spelled(f"test:{spelled}"),
                                message=t.message[:2000], details={"junit": t.source}))
    return findings


def _id_part(text: str) -> str:
    """``text`` fit for a finding id: whitespace becomes '_' (ids have no spaces)."""
    return _SPACE.sub("_", text.strip())


def _spelled(text: str) -> tuple[str, ...]:
    """The spelling with spaces as an alias, when the id had to change it (waivers written that way match)."""
    return (text,) if _SPACE.search(text) else ()


def _counts(junit: tuple[JUnitFile, ...]) -> dict[str, int]:
    counts = {"total": sum(f.total for f in junit), "passed": sum(f.passed for f in junit), "failed": 0,
              "error": 0, "skipped": sum(f.skipped for f in junit)}
    for case in (case for file in junit for case in file.problems):
        counts[case.outcome] += 1
    return counts


def _test_measurements(parsed: CoverageParsed) -> list[Measurement]:
    if not parsed.junit:
        return []
    counts = _counts(parsed.junit)
    return [
        Measurement("tests_total", counts["total"], "tests", "> 0", counts["total"] > 0),
        Measurement("tests_failed", counts["failed"], "tests", "== 0", counts["failed"] == 0),
        Measurement("tests_errored", counts["error"], "tests", "== 0", counts["error"] == 0),
        Measurement("tests_skipped", counts["skipped"], "tests"),
    ]


def coverage_bars(report: CoverageReport, minimum: Fraction) -> Bars:
    """Line coverage per package (or per file when there is one package) against the minimum, lowest first."""
    by_file = len({f.group for f in report.files}) == 1
    counts: dict[str, tuple[int, int]] = {}
    for item in report.files:
        name = item.path if by_file else item.group
        covered, valid = counts.get(name, (0, 0))
        counts[name] = (covered + item.lines_covered, valid + item.lines_valid)
    rates = sorted(((Fraction(c, v), name, c, v) for name, (c, v) in counts.items() if v),
                   key=lambda row: (row[0], row[1]))
    rows = tuple(Bar(name, round(float(rate), 6), float(minimum), rate >= minimum, f"{_pct(rate)} ({c}/{v})")
                 for rate, name, c, v in rates[:MAX_GROUPS_SHOWN])
    return Bars(f"Line coverage by {'file' if by_file else 'package'}", "ratio", rows,
                f"minimum {float(minimum * 100):g}%")


def _pct(rate: Fraction) -> str:
    # Truncate, never round up: 89.999% must not be shown as 90.00%.
    hundredths = (rate * 10000).numerator // (rate * 10000).denominator
    return f"{hundredths / 100:.2f}%"
