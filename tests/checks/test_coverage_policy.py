"""The coverage check's typed settings, catalogued finding ids, waivers and report view."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline._cli import main
from pipeline.checks.coverage import FINDINGS, CoverageCheck, CoverageParsed, CoverageSettings, evaluate_coverage
from pipeline.checks.coverage.policy import MAX_MISSING_FINDINGS, coverage_bars
from pipeline.checks.coverage.reports import CaseOutcome, CoverageReport, FileCoverage, read_junit
from pipeline.checks.coverage.sources import Completeness
from pipeline.checks.interface import CheckContext
from pipeline.config import ConfigError
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from pipeline.views import Bars
from tests.conftest import cobertura_xml, config_from, junit_files, junit_xml, python_test_command, write_config

DEFAULTS = CoverageSettings.model_validate({})
WAIVER = "waivers:\n  - {{check: coverage, id: {id}, reason: accepted for now, owner: ann, expires: 2999-12-31}}\n"


def parsed(covered: int, valid: int, tests: tuple[CaseOutcome, ...] = (), junit: tuple[str, ...] = (),
           files: tuple[FileCoverage, ...] | None = None) -> CoverageParsed:
    files = files or (FileCoverage("pkg/a.py", "pkg", valid, covered),)
    return CoverageParsed(CoverageReport("cov.xml", "cobertura", files), junit_files(tests, junit), None, None)


def case(name: str, outcome: str, source: str = "junit.xml", classname: str = "tests.t") -> CaseOutcome:
    return CaseOutcome("pytest", classname, name, outcome, f"msg {name}", source)


# --- typed settings: defaults in one place, wrong keys and types are configuration errors -------


def test_defaults_are_the_documented_ones() -> None:
    assert (DEFAULTS.min_line_rate, DEFAULTS.min_branch_rate, DEFAULTS.cwd) == (0.90, None, ".")
    assert (DEFAULTS.argv(), DEFAULTS.junit_files(), DEFAULTS.sources, DEFAULTS.omit, DEFAULTS.env) == \
        ((), (), (), (), {})


def test_a_command_string_is_split_like_a_shell_and_junit_may_be_one_path() -> None:
    typed = CoverageSettings.model_validate({"command": "python -m pytest -k 'add or sub' --cov=pkg",
                                             "junit": "j.xml"})
    assert typed.argv() == ("python", "-m", "pytest", "-k", "add or sub", "--cov=pkg")
    assert typed.junit_files() == ("j.xml",)
    listed = CoverageSettings.model_validate({"command": ("a", "b c"), "junit": ("x.xml", "y.xml")})
    assert (listed.argv(), listed.junit_files()) == (("a", "b c"), ("x.xml", "y.xml"))


@pytest.mark.parametrize(("section", "words"), [
    ("{min_lines: 0.9}", "checks.coverage: unknown key 'min_lines'"),
    ("{min_line_rate: true}", "checks.coverage.min_line_rate"),
    ("{min_line_rate: 1.5}", "checks.coverage.min_line_rate"),
    ("{min_branch_rate: -0.1}", "checks.coverage.min_branch_rate"),
    ("{command: \"pytest -k 'open\"}", "checks.coverage.command"),
    ("{command: '   '}", "checks.coverage.command"),
    ("{command: []}", "checks.coverage.command"),
    ("{junit: 3}", "checks.coverage.junit"),
    ("{env: {A: 1}}", "checks.coverage.env"),
])
def test_a_wrong_key_or_type_is_a_configuration_error_naming_it(tmp_path: Path, section: str, words: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        config_from(tmp_path, f"version: 1\nchecks:\n  coverage: {section}\n")
    path = write_config(tmp_path, f"version: 1\nchecks:\n  coverage: {section}\n")
    assert main(["check", "coverage", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    assert words in capsys.readouterr().err


def test_the_test_command_gets_the_context_environment_with_the_configured_env_over_it(tmp_path: Path) -> None:
    # The context's environment, not the process's: the command sees FROM_CTX, never FROM_PROCESS.
    script = ("import json, os, pathlib; pathlib.Path('reports').mkdir(exist_ok=True); "
              "json.dump({k: os.environ.get(k) for k in ('FROM_CTX', 'BOTH', 'FROM_PROCESS')}, open('env.json', 'w')); "
              f"open('reports/coverage.xml', 'w').write({cobertura_xml(1, 1)!r})")
    typed = CoverageSettings.model_validate({"command": (sys.executable, "-c", script),
                                             "cobertura": "reports/coverage.xml", "env": {"BOTH": "from settings"}})
    ctx = CheckContext(tmp_path / "reports", tmp_path, 60, env={"FROM_CTX": "ctx", "BOTH": "ctx"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FROM_PROCESS", "leaked")
        patch.chdir(tmp_path)
        raw = CoverageCheck().collect(typed, ctx)
    assert raw.command_exit == 0
    assert json.loads((tmp_path / "env.json").read_text()) == {"FROM_CTX": "ctx", "BOTH": "from settings",
                                                               "FROM_PROCESS": None}


# --- the gated figure and its view --------------------------------------------------------------


@pytest.mark.parametrize(("covered", "status"), [(8999, Status.FAIL), (9000, Status.PASS)])
def test_the_minimum_is_judged_on_the_counts_and_the_failure_is_a_catalogued_finding(covered: int,
                                                                                    status: Status) -> None:
    evaluation = evaluate_coverage(parsed(covered, 10000), DEFAULTS)
    assert evaluation.status is status
    ids = [f.id for f in evaluation.findings]
    assert ids == (["line-rate:total"] if status is Status.FAIL else [])
    if ids:
        assert evaluation.findings[0].aliases == ("coverage:line_rate",)


def test_the_view_shows_each_package_against_the_minimum_lowest_first() -> None:
    files = (FileCoverage("a/x.py", "a", 10000, 9000), FileCoverage("b/y.py", "b", 100000, 89999),
             FileCoverage("b/z.py", "b", 0, 0))
    (bars,) = evaluate_coverage(parsed(0, 0, files=files), DEFAULTS).views
    assert isinstance(bars, Bars)
    assert (bars.title, bars.unit, bars.limit_label) == ("Line coverage by package", "ratio", "minimum 90%")
    assert [(r.label, r.limit, r.ok) for r in bars.rows] == [("b", 0.9, False), ("a", 0.9, True)]
    assert bars.rows[0].text == "89.99% (89999/100000)"  # truncated, never rounded up


def test_one_package_is_shown_per_file_and_the_limit_label_follows_the_minimum() -> None:
    files = (FileCoverage("pkg/a.py", "pkg", 4, 4), FileCoverage("pkg/b.py", "pkg", 4, 3))
    bars = coverage_bars(CoverageReport("c", "cobertura", files), Fraction("0.925"))
    assert bars.title == "Line coverage by file" and bars.limit_label == "minimum 92.5%"
    assert [(r.label, r.value, r.ok) for r in bars.rows] == [("pkg/b.py", 0.75, False), ("pkg/a.py", 1.0, True)]


# --- finding ids: catalogued, no spaces, the spaced spelling kept as an alias -----------------------


def test_real_jest_names_give_ids_without_spaces_and_keep_the_spelling_as_alias(shared_fixtures: Path) -> None:
    tests = read_junit(shared_fixtures / "junit/jest-junit/dorny-jest-junit.xml", "junit.xml").problems
    evaluation = evaluate_coverage(parsed(10, 10, tests, ("junit.xml",)), DEFAULTS)
    failed = [f for f in evaluation.findings if f.id.startswith("test:")]
    assert failed and all(" " not in f.id for f in failed)
    spaced = next(f for f in failed if f.title == "Test failed: Failing test")
    assert spaced.id.endswith("::Test_1_›_Test_1.1::Failing_test")
    assert spaced.aliases == (f"test:{spaced.id.split(':', 1)[1].split('::')[0]}::Test 1 › Test 1.1::Failing test",)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=20), st.text(max_size=20))
def test_every_finding_id_has_a_catalogued_kind_and_no_whitespace(classname: str, name: str) -> None:
    missing = Completeness("configured", ("src",), 2, (f"src/{name}.py",))
    data = replace(parsed(1, 10, (case(name, "failed", classname=classname),), ("junit.xml", f"{name}.xml")),
                   completeness=missing)
    for finding in evaluate_coverage(data, CoverageSettings.model_validate({"min_branch_rate": None})).findings:
        assert finding.id.split(":", 1)[0] in FINDINGS
        assert not any(c.isspace() for c in finding.id)
        assert all(alias != finding.id for alias in finding.aliases)


def test_an_incomplete_report_stays_a_finding_so_waiving_the_failing_tests_alone_waives_nothing() -> None:
    missing = Completeness("configured", ("pkg",), 3, ("pkg/b.py",))
    data = replace(parsed(10, 10, (case("test_a", "failed", "backend.xml"),), ("backend.xml", "frontend.xml")),
                   completeness=missing)
    evaluation = evaluate_coverage(data, DEFAULTS)
    assert evaluation.status is Status.FAIL
    assert [f.id for f in evaluation.findings] == ["test:pytest::tests.t::test_a", "suite-not-run:frontend.xml",
                                                   "missing-source:pkg/b.py"]
    assert evaluation.findings[2].file == "pkg/b.py"


def test_past_the_limit_one_finding_stands_for_the_unlisted_missing_files() -> None:
    names = tuple(f"pkg/m{i:04}.py" for i in range(MAX_MISSING_FINDINGS + 5))
    data = replace(parsed(10, 10), completeness=Completeness("configured", ("pkg",), len(names), names))
    evaluation = evaluate_coverage(data, DEFAULTS)
    assert evaluation.status is Status.ERROR
    assert len(evaluation.findings) == MAX_MISSING_FINDINGS + 1
    assert evaluation.findings[-1].id == "missing-source:more" and "5 more" in evaluation.findings[-1].title


# --- waivers through the runner: the README's example, old and new ids ------------------------------


def _ingest(project: Path, coverage: str, junit: str, waiver_id: str) -> CheckResult:
    evidence = project / "reports" / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / "coverage.xml").write_text(coverage)
    (evidence / "junit.xml").write_text(junit)
    body = ("version: 1\nchecks:\n  coverage:\n    cobertura: reports/evidence/coverage.xml\n"
            "    junit: [reports/evidence/junit.xml]\n" + WAIVER.format(id=json.dumps(waiver_id)))
    return run_check("coverage", config_from(project, body), project / "reports", project)


@pytest.mark.parametrize("waiver_id", ["line-rate:total", "coverage:line_rate"])
def test_a_low_line_rate_is_waived_by_its_id_or_by_the_id_it_had_before(tmp_path: Path, waiver_id: str) -> None:
    result = _ingest(tmp_path, cobertura_xml(89, 100), junit_xml(passed=2), waiver_id)
    assert result.status is Status.WAIVED, result.reasons
    (finding,) = result.findings
    assert finding.waived_by == waiver_id and finding.remediation == FINDINGS["line-rate"].remediation


def test_the_readme_waiver_for_a_flaky_pytest_test_matches_a_real_pytest_run(tiny_project: Path) -> None:
    (tiny_project / "tests" / "test_api.py").write_text("def test_flaky():\n    assert False, 'upstream down'\n")
    body = ("version: 1\nchecks:\n  coverage:\n"
            f"    command: {json.dumps(python_test_command())}\n"
            "    cobertura: reports/evidence/coverage.xml\n    junit: [reports/evidence/junit.xml]\n"
            + WAIVER.format(id='"test:pytest::tests.test_api::test_flaky"'))
    result = run_check("coverage", config_from(tiny_project, body), tiny_project / "reports", tiny_project)
    assert result.status is Status.WAIVED, result.reasons
    (finding,) = result.findings
    assert finding.id == "test:pytest::tests.test_api::test_flaky"
    assert "upstream down" in finding.message and finding.remediation == FINDINGS["test"].remediation


def test_a_waiver_written_with_spaces_still_matches_the_test(tmp_path: Path) -> None:
    junit = ('<testsuites><testsuite name="jest tests"><testcase classname="Orders API" name="creates an order">'
             '<failure message="boom"/></testcase><testcase classname="x" name="ok"/></testsuite></testsuites>')
    result = _ingest(tmp_path, cobertura_xml(10, 10), junit, "test:jest tests::Orders API::creates an order")
    assert result.status is Status.WAIVED, result.reasons
    assert result.findings[0].id == "test:jest_tests::Orders_API::creates_an_order"
