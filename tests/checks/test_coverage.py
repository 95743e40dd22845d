"""The coverage check: policy at its edges, and collect against real pytest + coverage.py."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.checks.coverage import CoverageCheck, CoverageParsed, CoverageSettings, evaluate_coverage
from pipeline.checks.coverage.reports import CaseOutcome, CoverageReport, FileCoverage
from pipeline.checks.coverage.sources import Completeness
from pipeline.model import Status
from pipeline.runner import run_check
from pipeline.views import Bars
from tests.conftest import cobertura_xml, config_from, junit_files, junit_xml, python_test_command


def parsed(covered: int, valid: int, tests: tuple[CaseOutcome, ...] = (), junit: tuple[str, ...] = (),
           branches: tuple[int, int] = (0, 0), exit_code: int | None = None) -> CoverageParsed:
    files = (FileCoverage("pkg/a.py", "pkg", valid, covered, branches[1], branches[0]),)
    return CoverageParsed(CoverageReport("cov.xml", "cobertura", files), junit_files(tests, junit), exit_code)


DEFAULTS = CoverageSettings.model_validate({})
J = ("j.xml",)  # one JUnit file configured


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
    evaluation = evaluate_coverage(parsed(covered, valid), CoverageSettings.model_validate({"min_line_rate": minimum}))
    assert evaluation.status is status
    line_rate = next(m for m in evaluation.measurements if m.name == "line_rate")
    assert line_rate.ok is (status is Status.PASS)


def test_default_minimum_is_ninety_percent_and_display_never_rounds_up() -> None:
    evaluation = evaluate_coverage(parsed(89999, 100000), DEFAULTS)
    assert evaluation.status is Status.FAIL
    assert "89.99%" in evaluation.summary and "90.00%" not in evaluation.summary


def test_failing_test_fails_even_with_full_coverage() -> None:
    tests = (outcome("test_ok", "passed"), outcome("test_bad", "failed"))
    evaluation = evaluate_coverage(parsed(10, 10, tests, J), DEFAULTS)
    assert evaluation.status is Status.FAIL
    ids = [f.id for f in evaluation.findings]
    assert ids == ["test:suite::tests.t::test_bad"]
    assert evaluation.findings[0].message == "msg test_bad"


def test_erroring_test_fails_and_skipped_does_not() -> None:
    tests = (outcome("a", "skipped"), outcome("b", "error"))
    assert evaluate_coverage(parsed(10, 10, tests, J), DEFAULTS).status is Status.FAIL
    tests = (outcome("a", "skipped"), outcome("b", "passed"))
    assert evaluate_coverage(parsed(10, 10, tests, J), DEFAULTS).status is Status.PASS


def test_junit_without_tests_is_an_error() -> None:
    evaluation = evaluate_coverage(parsed(10, 10, (), J), DEFAULTS)
    assert evaluation.status is Status.ERROR
    assert "did not really run" in evaluation.summary


@pytest.mark.parametrize(("branches", "minimum", "status"), [
    ((79, 100), 0.8, Status.FAIL), ((80, 100), 0.8, Status.PASS), ((1, 100), None, Status.PASS)])
def test_branch_rate_gated_only_when_set(branches: tuple[int, int], minimum: float | None,
                                         status: Status) -> None:
    typed = CoverageSettings.model_validate({"min_branch_rate": minimum})
    evaluation = evaluate_coverage(parsed(10, 10, branches=branches), typed)
    assert evaluation.status is status
    assert any(m.name == "branch_rate" for m in evaluation.measurements)


def test_non_zero_exit_without_failing_test_is_not_a_pass() -> None:
    tests = (outcome("a", "passed"),)
    evaluation = evaluate_coverage(parsed(10, 10, tests, J, exit_code=4), DEFAULTS)
    assert evaluation.status is Status.ERROR


def test_groups_list_lowest_coverage_first() -> None:
    files = (FileCoverage("a/x.py", "a", 10, 10), FileCoverage("b/y.py", "b", 10, 5))
    data = CoverageParsed(CoverageReport("c", "cobertura", files), (), 0, None)
    (bars,) = evaluate_coverage(data, DEFAULTS).views
    assert isinstance(bars, Bars)
    assert [row.label for row in bars.rows] == ["b", "a"]


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


# --- a suite that did not really run is not a pass ----------------------------------------


def test_every_test_skipped_is_an_error_not_a_pass() -> None:
    tests = (outcome("a", "skipped"), outcome("b", "skipped"))
    evaluation = evaluate_coverage(parsed(10, 10, tests, J), DEFAULTS)
    assert evaluation.status is Status.ERROR
    assert evaluation.summary == "All 2 tests were skipped: the suite did not really run."


def test_a_junit_file_where_no_test_ran_is_an_error() -> None:
    ran = CaseOutcome("s", "c", "a", "passed", "", "backend.xml")
    idle = CaseOutcome("s", "c", "b", "skipped", "", "frontend.xml")
    data = parsed(10, 10, (ran, idle), ("backend.xml", "frontend.xml"))
    evaluation = evaluate_coverage(data, DEFAULTS)
    assert evaluation.status is Status.ERROR and "No test ran in frontend.xml" in evaluation.summary
    both = parsed(10, 10, (ran, idle._replace(outcome="passed")), ("backend.xml", "frontend.xml"))
    assert evaluate_coverage(both, DEFAULTS).status is Status.PASS


def test_missing_source_files_are_an_error_unless_a_test_failed() -> None:
    completeness = Completeness("configured", ("pkg",), 3, ("pkg/b.py", "pkg/c.py"))
    data = replace(parsed(10, 10, (outcome("a", "passed"),), J), completeness=completeness)
    evaluation = evaluate_coverage(data, DEFAULTS)
    assert evaluation.status is Status.ERROR and "lacks 2 source file(s)" in evaluation.summary
    assert any("pkg/b.py, pkg/c.py" in r for r in evaluation.reasons)
    assert any("checks.coverage.omit" in r for r in evaluation.reasons)
    missing = next(m for m in evaluation.measurements if m.name == "source_files_missing")
    assert (missing.value, missing.ok) == (2, False)
    failed = replace(data, junit=junit_files((outcome("a", "failed"),)))
    assert evaluate_coverage(failed, DEFAULTS).status is Status.FAIL  # a failing test is a definite no


def test_low_coverage_with_missing_files_is_an_error_not_a_fail() -> None:
    # The missing files could hold enough covered lines to lift the figure: nothing is proven.
    data = replace(parsed(10, 100), completeness=Completeness("report", ("pkg",), 2, ("pkg/b.py",)))
    assert evaluate_coverage(data, DEFAULTS).status is Status.ERROR


# --- the report is compared with the files that must be there (real pytest + coverage.py) ---


def write_project(root: Path) -> Path:
    """A project whose package has an unimported module, an empty __init__.py, a sub-package
    and a folder that is not a package (coverage.py does not look in it)."""
    files = {
        "pkg/__init__.py": "",
        "pkg/mod.py": "def add(a, b):\n    return a + b\n",
        "pkg/unused.py": "VALUE = 1\n",
        "pkg/sub/__init__.py": "# only a comment\n",
        "pkg/sub/deep.py": "def deep():\n    return 2\n",
        "pkg/scripts/tool.py": "print('not a package')\n",
        "tests/test_mod.py": "from pkg.mod import add\nfrom pkg.sub.deep import deep\n\n\n"
                             "def test_add():\n    assert add(1, 2) == 3 and deep() == 2\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_complete_coveragepy_report_passes_the_completeness_rule(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    result = run_coverage(project, coverage_config(project, python_test_command(), "    min_line_rate: 0.5\n"))
    assert result.status is Status.PASS, result.reasons
    report = (project / "reports/evidence/coverage.xml").read_text()
    # What coverage.py really lists: the unimported module and the empty __init__.py too,
    # not the file in the folder that is not a package.
    assert 'filename="unused.py"' in report and 'filename="__init__.py"' in report
    assert "tool.py" not in report
    assert result.details["completeness"] == {"checked": True, "basis": "report", "roots": ["pkg"],
                                              "expected": 5, "missing": []}
    assert any("All 5 source files under pkg (the report's <sources>)" in r for r in result.reasons)


def test_cobertura_with_a_file_removed_is_an_error_naming_it(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    run_coverage(project, coverage_config(project, python_test_command()))
    report = project / "reports/evidence/coverage.xml"
    # Remove unused.py's class and the root totals (which would betray the cut on their own).
    text = re.sub(r'<class name="unused.py".*?</class>', "", report.read_text(), flags=re.S)
    report.write_text(re.sub(r' lines-(valid|covered)="\d+"', "", text))
    result = run_coverage(project, coverage_config(project, None))
    assert result.status is Status.ERROR
    assert "lacks 1 source file(s)" in result.summary
    assert any("pkg/unused.py" in r for r in result.reasons)
    allowed = run_coverage(project, coverage_config(project, None, "    omit: ['pkg/unused.py']\n"))
    assert allowed.status is Status.PASS, allowed.reasons


def test_configured_sources_catch_an_lcov_cut_after_end_of_record(tmp_path: Path) -> None:
    for name in ("src/a.js", "src/b.js", "src/lib/c.js", "src/node_modules/x/i.js"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("export const x = 1;\n")
    full = "".join(f"SF:{n}\nDA:1,1\nend_of_record\n" for n in ("src/a.js", "src/b.js", "src/lib/c.js"))
    cut = full[: full.index("SF:src/lib/c.js")]  # still a valid tracefile
    (tmp_path / "full.info").write_text(full)
    (tmp_path / "cut.info").write_text(cut)

    def body(name: str, extra: str = "") -> str:
        return f"version: 1\nchecks:\n  coverage:\n    lcov: {name}\n    sources: [src]\n{extra}"

    assert run_coverage(tmp_path, body("full.info")).status is Status.PASS
    result = run_coverage(tmp_path, body("cut.info"))
    assert result.status is Status.ERROR
    assert result.details["completeness"]["missing"] == ["src/lib/c.js"]
    assert run_coverage(tmp_path, body("cut.info", "    omit: ['src/lib/*']\n")).status is Status.PASS
    unchecked = run_coverage(tmp_path, "version: 1\nchecks:\n  coverage:\n    lcov: cut.info\n")
    assert unchecked.status is Status.PASS
    assert any("set checks.coverage.sources" in r for r in unchecked.reasons)


def test_report_written_elsewhere_matches_by_path_tail(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.js").write_text("let a = 1;\n")
    (tmp_path / "lcov.info").write_text("SF:/home/runner/work/app/app/src/a.js\nDA:1,1\nend_of_record\n")
    body = "version: 1\nchecks:\n  coverage:\n    lcov: lcov.info\n    sources: [src]\n"
    assert run_coverage(tmp_path, body).status is Status.PASS


def test_configured_source_folder_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "lcov.info").write_text("SF:a.js\nDA:1,1\nend_of_record\n")
    body = "version: 1\nchecks:\n  coverage:\n    lcov: lcov.info\n    sources: [nope]\n"
    result = run_coverage(tmp_path, body)
    assert result.status is Status.ERROR and "nope is not a folder" in result.summary


def test_real_suite_with_every_test_skipped_is_an_error(tiny_project: Path) -> None:
    (tiny_project / "tests" / "test_pkg.py").write_text(
        "import pytest\nfrom pkg import add, unused\n\n\n@pytest.mark.skip(reason='later')\n"
        "def test_add():\n    assert add(1, 2) == 3 and unused(1) == 2\n")
    result = run_coverage(tiny_project, coverage_config(tiny_project, python_test_command(),
                                                        "    min_line_rate: 0.1\n"))
    assert result.tool.exit_code == 0  # pytest itself calls this a success
    assert result.status is Status.ERROR
    assert result.summary == "All 1 tests were skipped: the suite did not really run."


def test_the_test_command_runs_once_and_the_version_comes_from_the_report(tiny_project: Path) -> None:
    # A wrapper script that counts its runs: `wrapper --version` would run the suite again.
    runs = tiny_project / "runs.txt"
    wrapper = tiny_project / "run-tests.py"
    wrapper.write_text(
        "import subprocess, sys\n"
        f"open({str(runs)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"sys.exit(subprocess.call({python_test_command()!r}))\n")
    result = run_coverage(tiny_project, coverage_config(tiny_project, [sys.executable, str(wrapper)]))
    assert result.status is Status.PASS, result.reasons
    assert runs.read_text().splitlines() == [""]
    import coverage

    assert result.tool.name == "coverage.py"
    assert result.tool.version == f"{coverage.__version__} (from the Cobertura report's version attribute)"
    assert result.tool.command[-1] == str(wrapper) and result.tool.mode == "run"
