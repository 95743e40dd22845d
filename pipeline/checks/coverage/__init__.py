"""The ``coverage`` check: the tests pass and line coverage is at least the minimum (0.90).

collect: run the configured test command (or not: ingest mode) and find the reports.
parse:   Cobertura or LCOV counts (every number validated), JUnit outcomes, and which
         source files that must be measured the report lacks (sources).
evaluate: rates from line counts (never a rounded attribute), any failing test fails;
          no test that ran, or files missing from the report, is an error (policy).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import proc
from pipeline.checks.coverage.policy import CoverageParsed, evaluate_coverage
from pipeline.checks.coverage.reports import read_cobertura, read_junit, read_lcov, report_tool
from pipeline.checks.coverage.settings import CoverageSettings
from pipeline.checks.coverage.sources import check_completeness, shown_path
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.errors import ArtifactMissing, CheckError
from pipeline.model import ToolInfo

__all__ = ["FINDINGS", "CoverageCheck", "CoverageParsed", "CoverageRaw", "CoverageSettings", "evaluate_coverage"]

FINDINGS = {
    "line-rate": FindingKind("line coverage from the line counts is below min_line_rate (line-rate:total)",
                             "Add tests for the least covered packages (the report's bars), or lower "
                             "min_line_rate with an approval."),
    "branch-rate": FindingKind("branch coverage is below min_branch_rate (branch-rate:total)",
                               "Add tests for the untaken branches (coverage.py: --cov-report=term-missing "
                               "with --cov-branch lists them)."),
    "test": FindingKind("a test failed or errored (test:<suite>::<class>::<name>; whitespace becomes '_', the "
                        "spelling with spaces stays an alias)",
                        "Fix the test or the code it tests; its message is in the finding and in "
                        "evidence/coverage-command.log."),
    "suite-not-run": FindingKind("no test ran in one of the JUnit files (suite-not-run:<file>)",
                                 "Make that part of the suite run (its runner, its test selection), or remove "
                                 "the file from checks.coverage.junit."),
    "missing-source": FindingKind("a source file that must be measured is not in the coverage report "
                                  "(missing-source:<file>; missing-source:more stands for those past the "
                                  "first 200)",
                                  "Make the test command measure it (coverage.py: --cov=<package>) and "
                                  "regenerate the report, or add it to checks.coverage.omit."),
}


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


class CoverageCheck(Check[CoverageSettings, CoverageRaw, CoverageParsed]):
    """Tests pass; line coverage >= min_line_rate; branch coverage >= min_branch_rate if set."""

    name = "coverage"
    title = "Tests and coverage"
    order = 10
    Settings = CoverageSettings
    findings = FINDINGS

    @classmethod
    def wants_target(cls, settings: CoverageSettings) -> bool:
        """The test suite needs the gate's PostgreSQL when it asks for a database."""
        return settings.database != "none"

    def collect(self, settings: CoverageSettings, ctx: CheckContext) -> CoverageRaw:
        """Run the test command if one is configured, then locate fresh reports."""
        report, report_format = _report_setting(settings, ctx)
        junit = tuple(ctx.resolve(p) for p in settings.junit_files())
        argv = settings.argv()
        cwd = ctx.resolve(settings.cwd)
        started = time.time()
        # checks.coverage.env last: its {db_*} placeholders are the suite database's parts.
        database = _suite_database(settings, ctx) if argv else {}
        exit_code = _run_tests(argv, cwd, {**ctx.env, **database}, ctx) if argv else None
        for path in (report, *junit):
            _require_fresh(path, started if argv else None)
            ctx.add_evidence(_keep_as_evidence(path, ctx))
        producer, version = report_tool(report, report_format)
        name = producer or (Path(argv[0]).name if argv else report_format)
        ctx.tool = ToolInfo(name, version, "run" if argv else "ingest", argv, exit_code)
        return CoverageRaw(report, report_format, junit, exit_code, tuple(ctx.resolve(s) for s in settings.sources),
                           settings.omit, ctx.project_dir, cwd)

    def parse(self, raw: CoverageRaw) -> CoverageParsed:
        """Read the coverage report and every JUnit file; list what the report lacks."""
        reader = read_cobertura if raw.report_format == "cobertura" else read_lcov
        report = reader(raw.report)
        # Each JUnit file is named as the user wrote it (relative to the project), in the findings too.
        junit = tuple(read_junit(path, shown_path(path, raw.project_dir)) for path in raw.junit)
        completeness = check_completeness(report, raw.sources, raw.omit, raw.project_dir, raw.cwd)
        return CoverageParsed(report, junit, raw.command_exit, completeness)

    def evaluate(self, parsed: CoverageParsed, settings: CoverageSettings) -> Evaluation:
        """Judge the counts against the thresholds; any failing test fails the check (see ``policy``)."""
        return evaluate_coverage(parsed, settings)


def _run_tests(argv: tuple[str, ...], cwd: Path, env: dict[str, str], ctx: CheckContext) -> int:
    """Run the test command (output to the console and evidence/coverage-command.log); its exit code."""
    log = ctx.evidence_dir / "coverage-command.log"
    # The version comes from the report afterwards: never `their-command --version`.
    ctx.tool = ToolInfo(Path(argv[0]).name, "unknown", "run", argv)
    run = proc.run_tool(argv, log_path=log, timeout_s=ctx.deadline_s, expected=range(256), cwd=cwd, env=env,
                        console=ctx.console, install_hint="Install the test runner, or fix checks.coverage.command.")
    ctx.add_evidence(log)
    ctx.tool = replace(ctx.tool, exit_code=run.exit_code)
    return run.exit_code


def _report_setting(settings: CoverageSettings, ctx: CheckContext) -> tuple[Path, str]:
    if settings.cobertura:
        return ctx.resolve(settings.cobertura), "cobertura"
    if settings.lcov:
        return ctx.resolve(settings.lcov), "lcov"
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


def _suite_database(settings: CoverageSettings, ctx: CheckContext) -> dict[str, str]:
    """The suite's database variables; psycopg is imported only when a suite runs (80 ms for every process)."""
    from pipeline.target.testdb import suite_database

    return suite_database(settings.database, ctx.env, settings.env)
