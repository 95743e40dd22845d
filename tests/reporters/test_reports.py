"""Reporters: hostile text stays text, JUnit/Markdown/SARIF/JSON carry the verdict faithfully."""

from __future__ import annotations

import json
from pathlib import Path

import defusedxml.ElementTree as SafeET
from junitparser import JUnitXml

from pipeline.model import CheckResult, Finding, Measurement, Status
from pipeline.reporters import REPORTS, html, junit_report, markdown, sarif, write_all
from pipeline.verdict import decide
from tests.conftest import result

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def hostile_report() -> object:
    finding = Finding("test:x::<b>", "high", f"Test failed: {HOSTILE}", "javascript:alert(1)",
                      details={"message": HOSTILE + "\n" + "A" * 5000})
    bad = CheckResult("coverage", Status.FAIL, f"summary {HOSTILE}", reasons=(HOSTILE,),
                      measurements=(Measurement("line_rate", 0.5, "ratio", ">= 0.9", False),),
                      findings=(finding,),
                      details={"groups": [{"name": HOSTILE, "covered": 1, "valid": 2, "rate": 0.5}],
                               "min_line_rate": 0.9})
    audit = CheckResult("audit", Status.FAIL, "one vulnerable package",
                        findings=(Finding("PYSEC-1", "high", "requests 2.19.0", "requests"),))
    return decide([bad, audit, result("zap", Status.PASS)])


def test_html_escapes_every_foreign_string() -> None:
    page = html.render(hostile_report())  # type: ignore[arg-type]
    assert "<script>document" not in page and "<img src=x" not in page
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in page
    assert 'href="javascript:' not in page


def test_html_is_self_contained() -> None:
    page = html.render(hostile_report())  # type: ignore[arg-type]
    for marker in ("<link", "src=\"http", "href=\"http", "@import", "<script"):
        assert marker not in page
    assert "@media print" in page


def test_junit_has_one_suite_per_check_and_failures_carry_reasons() -> None:
    text = junit_report.render(hostile_report())  # type: ignore[arg-type]
    xml = JUnitXml.fromroot(SafeET.fromstring(text))
    suites = {s.name: s for s in xml}
    assert set(suites) >= {"coverage", "audit", "zap", "openapi"}
    coverage = suites["coverage"]
    assert coverage.failures == 2
    messages = [r.message for case in coverage for r in case.result]
    assert "line_rate = 0.5 ratio; required >= 0.9" in messages
    assert suites["openapi"].errors == 1  # missing check is an error testcase


def test_markdown_is_short_and_neutralises_html() -> None:
    text = markdown.render(hostile_report())  # type: ignore[arg-type]
    assert text.startswith("## Readiness: ❌ NOT READY")
    assert "<script>" not in text and "| missing |" not in text
    assert "❔ missing" in text
    assert len(text) < 4000


def test_sarif_holds_security_findings_only() -> None:
    doc = json.loads(sarif.render(hostile_report()))  # type: ignore[arg-type]
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["audit/PYSEC-1"]
    assert results[0]["level"] == "error"


def test_write_all_writes_every_report(tmp_path: Path) -> None:
    written = write_all(hostile_report(), tmp_path)  # type: ignore[arg-type]
    assert sorted(p.name for p in written) == sorted(REPORTS)
    data = json.loads((tmp_path / "readiness.json").read_text())
    assert data["verdict"] == "not_ready" and data["schema"] == "readiness.verdict/1"


def test_html_opens_in_chromium_without_errors_and_runs_no_script(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_all(hostile_report(), tmp_path)  # type: ignore[arg-type]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: problems.append(f"request {r.url}")
            if not r.url.startswith("file:") else None)
    page.goto((tmp_path / "readiness.html").as_uri())
    assert problems == [] and dialogs == []
    assert page.title() != "pwned"
    assert page.inner_text("#verdict").startswith("NOT READY")
    box = page.locator("#verdict").bounding_box()
    assert box is not None and box["y"] < 200  # the verdict is the first thing a person sees
    page.screenshot(path=str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    page.close()
