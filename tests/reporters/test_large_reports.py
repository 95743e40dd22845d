"""Reports at the size of a large run: the HTML page shows the first findings per check and says where the rest
are, stays small and loads in Chromium; the JUnit report counts every case once (speed lives in benchmarks/)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from pipeline.model import Finding, Instance, Status
from pipeline.reporters import html, write_all
from pipeline.verdict import VerdictReport, decide
from tests.conftest import result

ALERTS = 2_000


@pytest.fixture(scope="module")
def large_report() -> VerdictReport:
    """A ZAP-like check with 2,000 findings of 5 instances each (a few waived, most failing) and a small check."""
    findings = tuple(
        Finding(id=f"zap-{10000 + a}", title=f"Finding number {a} " + "lorem ipsum " * 10, severity="medium",
                location=f"http://127.0.0.1:8000/orders/{a}", failing=a % 7 != 0,
                waived_by="W-1" if a % 100 == 1 else None, message="seen in the response body " * 5,
                instances=tuple(Instance(f"http://127.0.0.1:8000/orders/{a}/{k}", "GET", f"p{k}", "<b>x</b>")
                                for k in range(5)))
        for a in range(ALERTS))
    zap = dataclasses.replace(result("zap", Status.FAIL), findings=findings)
    return decide([zap, result("coverage", Status.PASS)], [])


def test_the_page_shows_the_first_findings_and_says_how_many_more_are_in_the_json(
        large_report: VerdictReport, tmp_path: Path) -> None:
    write_all(large_report, tmp_path)
    page = (tmp_path / "readiness.html").read_text(encoding="utf-8")
    hidden = ALERTS - html.FINDINGS_SHOWN
    assert f"{hidden} more in readiness.json" in page
    assert page.count('<td class="mono">zap-') == html.FINDINGS_SHOWN
    failing = sum(1 for a in range(ALERTS) if a % 7 and a % 100 != 1)
    waived = sum(1 for a in range(ALERTS) if a % 100 == 1)
    assert f"{failing} failing · {waived} waived · {ALERTS - failing - waived} not failing" in page
    assert (tmp_path / "readiness.html").stat().st_size < 3 * 2**20
    data = json.loads((tmp_path / "readiness.json").read_text(encoding="utf-8"))
    zap = next(c for c in data["checks"] if c["check"] == "zap")
    assert len(zap["findings"]) == ALERTS  # the full list stays in the JSON


def test_a_check_with_few_findings_shows_them_all_without_a_note(tmp_path: Path) -> None:
    few = dataclasses.replace(result("zap", Status.FAIL), findings=tuple(
        Finding(id=f"zap-{a}", severity="low", title="t", failing=True) for a in range(html.FINDINGS_SHOWN)))
    write_all(decide([few], []), tmp_path)
    page = (tmp_path / "readiness.html").read_text(encoding="utf-8")
    assert "more in readiness.json" not in page and page.count('<td class="mono">zap-') == html.FINDINGS_SHOWN


def test_the_junit_report_counts_each_case_once(large_report: VerdictReport, tmp_path: Path) -> None:
    write_all(large_report, tmp_path)
    root = SafeET.parse(tmp_path / "readiness.junit.xml").getroot()
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "zap")
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "-1")) == len(cases)
    assert int(suite.get("failures", "-1")) == sum(1 for c in cases if c.find("failure") is not None)
    assert int(suite.get("skipped", "-1")) == sum(1 for c in cases if c.find("skipped") is not None) == sum(
        1 for a in range(ALERTS) if a % 100 == 1 and a % 7)


def test_the_large_page_loads_in_chromium(browser: Any, large_report: VerdictReport, tmp_path: Path) -> None:
    write_all(large_report, tmp_path)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto((tmp_path / "readiness.html").as_uri(), wait_until="load")
    assert problems == []
    assert page.inner_text("#verdict").startswith("NOT READY")
    assert page.locator(".findings-more").count() == 1
    page.close()
