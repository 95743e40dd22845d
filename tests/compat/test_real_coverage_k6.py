"""Real coverage reports and k6 summaries (../shared/fixtures/real): versions, completeness,
recomputed thresholds, and hostile edits of the real documents."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.coverage.reports import read_cobertura, read_lcov, report_tool
from pipeline.checks.coverage.sources import check_completeness
from pipeline.checks.k6 import K6Parsed, K6Settings, evaluate_k6
from pipeline.checks.k6.summary import parse_summary, read_summary
from pipeline.errors import ParseError
from pipeline.model import Status
from tests.fuzzing import budget

COBERTURA_TOOLS = {
    "coveragepy-gold-x_xml.xml": ("coverage.py", "5.0a2"),
    "coveragepy-gold-y_xml_branch.xml": ("coverage.py", "5.0a2"),
    "cobertura-action-coveragepy-4.0.3.xml": ("coverage.py", "4.0.3"),
    "cobertura-action-istanbul.xml": ("", "0.1"),
    "cobertura-action-branch.xml": ("", "1.9"),
}


@pytest.mark.parametrize("name", sorted(COBERTURA_TOOLS))
def test_real_cobertura_names_its_tool_and_version(shared_fixtures: Path, name: str) -> None:
    tool, version = report_tool(shared_fixtures / "coverage" / "cobertura" / name, "cobertura")
    assert (tool, version.split(" ")[0]) == COBERTURA_TOOLS[name]
    assert version.endswith("(from the Cobertura report's version attribute)")


@pytest.mark.parametrize(("name", "why"), [
    ("coveragepy-gold-x_xml.xml", "do not exist here"),  # /private/var/... on the machine that wrote it
    ("cobertura-action-coveragepy-4.0.3.xml", "(none) do not exist here"),  # an empty <source>
    ("cobertura-action-istanbul.xml", "Only coverage.py's <sources>"),
])
def test_real_cobertura_from_elsewhere_says_why_completeness_is_unchecked(
        shared_fixtures: Path, tmp_path: Path, name: str, why: str) -> None:
    report = read_cobertura(shared_fixtures / "coverage" / "cobertura" / name)
    completeness = check_completeness(report, (), (), tmp_path, tmp_path)
    assert completeness.basis == "" and why in completeness.unchecked_reason


def test_real_lcov_checked_against_configured_sources(shared_fixtures: Path, tmp_path: Path) -> None:
    report = read_lcov(shared_fixtures / "coverage/lcov/lcov-parse-parts.info")
    for name in ("anim-base/anim-base-coverage.js", "anim-easing/anim-easing-coverage.js",
                 "javascript/common.js", "javascript/extra.js"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("var x = 1;\n")
    roots = (tmp_path / "anim-base", tmp_path / "anim-easing", tmp_path / "javascript")
    completeness = check_completeness(report, roots, (), tmp_path, tmp_path)
    assert completeness.expected == 4 and completeness.missing == ("javascript/extra.js",)
    assert check_completeness(report, roots, ("*/extra.js",), tmp_path, tmp_path).missing == ()


def test_real_lcov_written_on_another_machine_matches_by_path_tail(shared_fixtures: Path, tmp_path: Path) -> None:
    # SF:/Users/deepsweet/Dropbox/projects/svgo/lib/svgo/config.js
    report = read_lcov(shared_fixtures / "coverage/lcov/node-coveralls-istanbul.lcov")
    (tmp_path / "lib" / "svgo").mkdir(parents=True)
    (tmp_path / "lib" / "svgo" / "config.js").write_text("module.exports = {};\n")
    assert check_completeness(report, (tmp_path / "lib",), (), tmp_path, tmp_path).missing == ()


_HOSTILE = st.sampled_from(["-1", "1.5", "nan", "inf", "-inf", "true", "", "1e400", "0x1", "(1/2)",
                            "150% (3/2)", "50% (-1/2)", "0"])


@pytest.mark.fuzz
def test_real_cobertura_with_one_hostile_number_is_refused_or_still_consistent(shared_fixtures: Path) -> None:
    text = (shared_fixtures / "coverage/cobertura/coveragepy-gold-y_xml_branch.xml").read_text()
    attributes = list(re.finditer(r'(hits|number|condition-coverage|line-rate|lines-valid|lines-covered|'
                                  r'branches-valid|branches-covered)="([^"]*)"', text))

    @settings(max_examples=budget(60), deadline=None)
    @given(index=st.integers(min_value=0, max_value=len(attributes) - 1), value=_HOSTILE)
    def edit_one(index: int, value: str) -> None:
        match = attributes[index]
        edited = text[:match.start(2)] + value + text[match.end(2):]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "coverage.xml"
            path.write_text(edited)
            try:
                report = read_cobertura(path)
            except ParseError as err:
                assert str(path) in str(err)
                return
        # Accepted only when the edit keeps a possible, self-consistent report.
        assert 0 <= report.lines_covered <= report.lines_valid == 5

    edit_one()


# Every real summary: k6's own verdict agrees with the recomputation, except where the summary
# lacks the aggregation (k6 reports only the summaryTrendStats it was asked for).
K6_UNRECOMPUTABLE = {
    "summary-export/k6-1.1.0-thresholds-failed.json": {("http_req_duration", "p(99)<400")},
    "summary-export/k6-1.1.0-thresholds-passed.json": set(),
    "handle-summary/k6-1.1.0-handle-summary-data.json": set(),
    "handle-summary/benc-uk-k6-reporter-simple.json": set(),
    "handle-summary/benc-uk-k6-reporter-grpc.json": set(),
}


@pytest.mark.parametrize("name", sorted(K6_UNRECOMPUTABLE))
def test_real_k6_verdicts_agree_with_the_recomputation(shared_fixtures: Path, name: str) -> None:
    summary = read_summary(shared_fixtures / "k6" / name)
    assert all(t.agrees for t in summary.thresholds)
    assert {(t.metric, t.expression) for t in summary.thresholds if t.recomputed is None} == K6_UNRECOMPUTABLE[name]
    for threshold in summary.thresholds:
        if threshold.recomputed is not None:
            assert threshold.recomputed is threshold.ok


def _expected(summary: Any) -> K6Settings:
    """Settings whose thresholds are the ones the summary holds."""
    expected: dict[str, list[str]] = {}
    for threshold in summary.thresholds:
        expected.setdefault(threshold.metric, []).append(threshold.expression)
    return K6Settings.model_validate_json(json.dumps({"thresholds": expected}))


@pytest.mark.parametrize(("name", "status"), [
    ("summary-export/k6-1.1.0-thresholds-passed.json", Status.PASS),
    ("handle-summary/k6-1.1.0-handle-summary-data.json", Status.PASS),
    ("handle-summary/benc-uk-k6-reporter-simple.json", Status.PASS),
    ("handle-summary/benc-uk-k6-reporter-grpc.json", Status.FAIL),
    ("summary-export/k6-1.1.0-thresholds-failed.json", Status.FAIL),  # and p(99)<400 unproven, said
])
def test_real_k6_summaries_judged_on_recomputed_thresholds(shared_fixtures: Path, name: str, status: Status) -> None:
    summary = read_summary(shared_fixtures / "k6" / name)
    result = evaluate_k6(K6Parsed(summary, None, False), _expected(summary))
    assert result.status is status, result.reasons
    assert ("p(99)<400 cannot be recomputed" in " ".join(result.reasons)) is name.endswith("failed.json")


def test_real_passed_export_with_forged_p95_is_an_error(shared_fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "forged.json"
    shutil.copyfile(shared_fixtures / "k6/summary-export/k6-1.1.0-thresholds-passed.json", path)
    document = json.loads(path.read_text())
    document["metrics"]["http_req_duration"]["p(95)"] = document["metrics"]["http_req_duration"]["max"] = 99_999.0
    summary = parse_summary(document, path)
    result = evaluate_k6(K6Parsed(summary, 0, False), _expected(summary))
    assert result.status is Status.ERROR
    assert result.summary == "k6's verdict and the recomputed one disagree; the summary cannot be trusted."
