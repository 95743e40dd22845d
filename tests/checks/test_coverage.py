"""The coverage check: policy at its edges, and collect against real pytest + coverage.py."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.checks.coverage import CoverageCheck, CoverageParsed, evaluate_coverage
from pipeline.checks.coverage_reports import CaseOutcome, CoverageReport, FileCoverage
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import cobertura_xml, config_from, junit_xml, python_test_command


def parsed(covered: int, valid: int, tests: tuple[CaseOutcome, ...] = (), junit_files: int = 0,
           branches: tuple[int, int] = (0, 0), exit_code: int | None = None) -> CoverageParsed:
    files = (FileCoverage("pkg/a.py", "pkg", valid, covered, branches[1], branches[0]),)
    return CoverageParsed(CoverageReport("cov.xml", "cobertura", files), tests, junit_files,
                          exit_code)


def outcome(name: str, result: str) -> CaseOutcome:
    return CaseOutcome("suite", "tests.t", name, result, f"msg {name}", "j.xml")


@pytest.mark.parametrize(("covered", "valid", "minimum", "status"), [
    (8999, 10000, 0.90, Status.FAIL),
    (9000, 10000, 0.90, Status.PASS),
    (899999, 1000000, 0.90, Status.FAIL),
    (9, 10, 0.9, Status.PASS),
    (2, 3, 0.6667, Status.FAIL),  # 0.66666.. < 0.6667
    (2, 3, 0.6666, Status.PASS),
    (0, 5, 0.0, Status.PASS),
    (10, 10, 1.0, Status.PASS),
])
def test_line_rate_edges(covered: int, valid: int, minimum: float, status: Status) -> None:
    evaluation = evaluate_coverage(parsed(covered, valid), {"min_line_rate": minimum})
    assert evaluation.status is status
    line_rate = next(m for m in evaluation.measurements if m.name == "line_rate")
    assert line_rate.ok is (status is Status.PASS)


def test_default_minimum_is_ninety_percent_and_display_never_rounds_up() -> None:
    evaluation = evaluate_coverage(parsed(89999, 100000), {})
    assert evaluation.status is Status.FAIL
    assert "89.99%" in evaluation.summary and "90.00%" not in evaluation.summary


def test_failing_test_fails_even_with_full_coverage() -> None:
    tests = (outcome("test_ok", "passed"), outcome("test_bad", "failed"))
    evaluation = evaluate_coverage(parsed(10, 10, tests, 1), {})
    assert evaluation.status is Status.FAIL
    ids = [f.id for f in evaluation.findings]
    assert ids == ["test:suite::tests.t::test_bad"]
    assert evaluation.findings[0].details["message"] == "msg test_bad"


def test_erroring_test_fails_and_skipped_does_not() -> None:
    tests = (outcome("a", "skipped"), outcome("b", "error"))
    assert evaluate_coverage(parsed(10, 10, tests, 1), {}).status is Status.FAIL
    tests = (outcome("a", "skipped"), outcome("b", "passed"))
    assert evaluate_coverage(parsed(10, 10, tests, 1), {}).status is Status.PASS


def test_junit_without_tests_is_an_error() -> None:
    evaluation = evaluate_coverage(parsed(10, 10, (), junit_files=1), {})
    assert evaluation.status is Status.ERROR
    assert "did not really run" in evaluation.summary


@pytest.mark.parametrize(("branches", "minimum", "status"), [
    ((79, 100), 0.8, Status.FAIL), ((80, 100), 0.8, Status.PASS), ((1, 100), None, Status.PASS)])
def test_branch_rate_gated_only_when_set(branches: tuple[int, int], minimum: float | None,
                                         status: Status) -> None:
    settings: dict[str, Any] = {} if minimum is None else {"min_branch_rate": minimum}
    evaluation = evaluate_coverage(parsed(10, 10, branches=branches), settings)
    assert evaluation.status is status
    assert any(m.name == "branch_rate" for m in evaluation.measurements)


def test_non_zero_exit_without_failing_test_is_not_a_pass() -> None:
    tests = (outcome("a", "passed"),)
    evaluation = evaluate_coverage(parsed(10, 10, tests, 1, exit_code=4), {})
    assert evaluation.status is Status.ERROR


def test_groups_list_lowest_coverage_first() -> None:
    files = (FileCoverage("a/x.py", "a", 10, 10), FileCoverage("b/y.py", "b", 10, 5))
    data = CoverageParsed(CoverageReport("c", "cobertura", files), (), 0, None)
    groups = evaluate_coverage(data, {}).details["groups"]
    assert [g["name"] for g in groups] == ["b", "a"]


# --- collect against the real tools ------------------------------------------------------


def coverage_config(project: Path, command: list[str] | str | None, extra: str = "") -> str:
    cmd = "" if command is None else f"    command: {json.dumps(command)}\n"
    return (f"version: 1\nchecks:\n  coverage:\n{cmd}"
            f"    cobertura: reports/evidence/coverage.xml\n"
            f"    junit: [reports/evidence/junit.xml]\n{extra}")


def run_coverage(project: Path, body: str) -> Any:
    config = config_from(project, body)
    return run_check("coverage", config, project / "reports", project)


def test_real_pytest_run_passes_and_keeps_evidence(tiny_project: Path) -> None:
    result = run_coverage(tiny_project, coverage_config(tiny_project, python_test_command()))
    assert result.status is Status.PASS, result.reasons
    values = {m.name: m.value for m in result.measurements}
    assert values["tests_total"] == 2 and values["line_rate"] == 1.0
    assert "evidence/coverage-command.log" in result.evidence
    assert (tiny_project / "reports/results/coverage.json").is_file()
    assert result.tool.exit_code == 0


def test_real_failing_test_fails_with_its_name(tiny_project: Path) -> None:
    test_file = tiny_project / "tests" / "test_pkg.py"
    test_file.write_text(test_file.read_text() + "\n\ndef test_broken():\n    assert 1 == 2\n")
    result = run_coverage(tiny_project, coverage_config(tiny_project, python_test_command()))
    assert result.status is Status.FAIL
    assert [f.title for f in result.findings] == ["Test failed: test_broken"]


def test_real_low_coverage_fails(tiny_project: Path) -> None:
    test_file = tiny_project / "tests" / "test_pkg.py"
    test_file.write_text("from pkg import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    result = run_coverage(tiny_project, coverage_config(tiny_project, python_test_command()))
    assert result.status is Status.FAIL
    assert "Line coverage 75.00%" in result.summary


def test_command_not_found_is_an_error_with_a_hint(tiny_project: Path) -> None:
    result = run_coverage(tiny_project, coverage_config(tiny_project, ["no-such-test-runner-x"]))
    assert result.status is Status.ERROR
    assert "no-such-test-runner-x was not found" in result.summary
    assert any("checks.coverage.command" in r for r in result.reasons)


def test_stale_report_is_not_read(tiny_project: Path) -> None:
    evidence = tiny_project / "reports" / "evidence"
    evidence.mkdir(parents=True)
    (evidence / "coverage.xml").write_text(cobertura_xml(10, 10))
    (evidence / "junit.xml").write_text(junit_xml())
    old = time.time() - 3600
    for name in ("coverage.xml", "junit.xml"):
        os.utime(evidence / name, (old, old))
    command = [sys.executable, "-c", "pass"]
    result = run_coverage(tiny_project, coverage_config(tiny_project, command))
    assert result.status is Status.ERROR
    assert "older than this run" in result.summary


def test_ingest_mode_reads_existing_reports(tmp_path: Path) -> None:
    (tmp_path / "reports" / "evidence").mkdir(parents=True)
    (tmp_path / "reports/evidence/coverage.xml").write_text(cobertura_xml(95, 100))
    (tmp_path / "reports/evidence/junit.xml").write_text(junit_xml(passed=3))
    result = run_coverage(tmp_path, coverage_config(tmp_path, None))
    assert result.status is Status.PASS
    assert result.tool.mode == "ingest"


def test_ingest_lcov_copies_foreign_report_into_evidence(tmp_path: Path) -> None:
    (tmp_path / "lcov.info").write_text("SF:a.js\nDA:1,1\nDA:2,1\nend_of_record\n")
    body = "version: 1\nchecks:\n  coverage:\n    lcov: lcov.info\n"
    result = run_coverage(tmp_path, body)
    assert result.status is Status.PASS
    assert result.evidence == ("evidence/coverage-lcov.info",)


def test_missing_report_in_ingest_mode_is_an_error(tmp_path: Path) -> None:
    result = run_coverage(tmp_path, coverage_config(tmp_path, None))
    assert result.status is Status.ERROR
    assert "does not exist" in result.summary


def test_no_report_configured_is_an_error(tmp_path: Path) -> None:
    result = run_coverage(tmp_path, "version: 1\nchecks:\n  coverage: {command: 'true'}\n")
    assert result.status is Status.ERROR
    assert "names no coverage report" in result.summary


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and str(os.getpid()) != entry.name:
                found.append(int(entry.name))
    return found


def test_hanging_command_is_killed_with_its_children(tiny_project: Path) -> None:
    marker = "987.654321"
    script = (f"import subprocess, time; subprocess.Popen(['sleep', '{marker}']); "
              f"time.sleep({marker})")
    body = coverage_config(tiny_project, [sys.executable, "-c", script], "    timeout_s: 2\n")
    started = time.monotonic()
    result = run_coverage(tiny_project, body)
    assert result.status is Status.ERROR
    assert "did not finish within 2 s" in result.summary
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []


def test_check_class_names() -> None:
    assert CoverageCheck.name == "coverage"
