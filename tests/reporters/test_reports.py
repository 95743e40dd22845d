"""Reporters: hostile text stays text, JUnit/Markdown/SARIF/JSON carry the verdict faithfully."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
from junitparser import JUnitXml

from pipeline.model import CheckResult, Finding, Measurement, Status
from pipeline.reporters import REPORTS, html, junit_report, markdown, sarif, write_all
from pipeline.verdict import VerdictReport, decide
from pipeline.views import Facts
from tests.conftest import result

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def hostile_report() -> VerdictReport:
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
    page = html.render(hostile_report())
    assert "<script>document" not in page and "<img src=x" not in page
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in page
    assert 'href="javascript:' not in page


def test_html_is_self_contained() -> None:
    page = html.render(hostile_report())
    for marker in ("<link", "src=\"http", "href=\"http", "@import", "<script"):
        assert marker not in page
    assert "@media print" in page


def test_junit_has_one_suite_per_check_and_failures_carry_reasons() -> None:
    text = junit_report.render(hostile_report())
    xml = JUnitXml.fromroot(SafeET.fromstring(text))
    suites = {s.name: s for s in xml}
    assert set(suites) >= {"coverage", "audit", "zap", "openapi"}
    coverage = suites["coverage"]
    assert coverage.failures == 2
    messages = [r.message for case in coverage for r in case.result]
    assert "line_rate = 0.5 ratio; required >= 0.9" in messages
    assert suites["openapi"].errors == 1  # missing check is an error testcase


def test_markdown_is_short_and_neutralises_html() -> None:
    text = markdown.render(hostile_report())
    assert text.startswith("## Readiness: ❌ NOT READY")
    assert "<script>" not in text and "| missing |" not in text
    assert "❔ missing" in text
    assert len(text) < 4000


def test_sarif_holds_security_findings_only() -> None:
    doc = json.loads(sarif.render(hostile_report()))
    assert doc["version"] == "2.1.0"
    results = [r for run in doc["runs"] for r in run["results"]]
    assert [r["ruleId"] for r in results] == ["audit/PYSEC-1"]
    assert results[0]["level"] == "error"


def test_write_all_writes_every_report(tmp_path: Path) -> None:
    written = write_all(hostile_report(), tmp_path)
    assert sorted(p.name for p in written) == sorted(REPORTS)
    data = json.loads((tmp_path / "readiness.json").read_text())
    assert data["verdict"] == "not_ready" and data["schema"] == "readiness.verdict/1"


def test_html_opens_in_chromium_without_errors_and_runs_no_script(browser: Any, tmp_path: Path) -> None:
    write_all(hostile_report(), tmp_path)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
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


def _one_finding_report(details: dict[str, object], evidence: tuple[str, ...] = (), **typed: Any) -> VerdictReport:
    finding = Finding("10021", "medium", "X-Content-Type-Options header missing", "http://127.0.0.1/", details=details,
                      **typed)
    zap = CheckResult("zap", Status.FAIL, "one alert", findings=(finding,), evidence=evidence)
    return decide([zap])


def test_html_links_only_http_references_and_evidence_inside_reports() -> None:
    page = html.render(_one_finding_report(
        {}, evidence=("evidence/zap.json", "../outside.log", "/abs/zap.log", "file:///etc/passwd"),
        remediation="Set the header.",
        references=("https://owasp.org/x", "javascript:alert(1)", "//evil.example/y", "data:text/html,x")))
    assert '<a href="https://owasp.org/x" rel="noopener noreferrer nofollow">' in page
    assert '<a class="mono" href="evidence/zap.json">' in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert all(h.startswith(("#check-", "https://owasp.org/x", "evidence/zap.json")) for h in hrefs), hrefs
    for shown in ("javascript:alert(1)", "//evil.example/y", "data:text/html,x", "../outside.log", "/abs/zap.log"):
        assert shown in page  # shown as text


@pytest.mark.parametrize("details", [
    {"groups": "not a list", "min_line_rate": "high"},
    {"groups": [{"name": "pkg", "rate": "0.5;fill:red"}, 3, None], "min_line_rate": 0.9},
    {"groups": [{"name": "pkg", "rate": float("nan"), "covered": 1, "valid": 2}], "min_line_rate": 0.9},
    {"endpoints": [{"name": "GET /", "p95": "slow"}, {"name": "x", "p95": True}, "row"]},
    {"endpoints": [{"name": "GET /", "p95": 12.0, "p99": -4, "p95_limit": "200"}]},
    {"queries": "none"},
    {"queries": [{"key": "q", "params": ["a"], "nodes": ["Seq Scan", {"depth": "x;color:red", "label": 1}],
                  "median_ms": "3", "max_ms": None, "shape": "abc", "previous_shape": 5}]},
    {"instances": ["GET /", {"uri": 5}], "fixed": "1.2", "aliases": None, "reference": 42, "cwe": {"a": 1}},
])
def test_html_survives_malformed_details(details: dict[str, object]) -> None:
    page = html.render(_one_finding_report(details))
    assert "X-Content-Type-Options header missing" in page
    styles = re.findall(r'style="([^"]*)"', page)
    assert styles and all(re.fullmatch(r"background: #[0-9a-f]{6}|padding-left: \d+px|font-weight:700", s)
                          for s in styles), styles


@pytest.mark.parametrize(("value", "expected"), [
    ("@octocat", "\\@\u200doctocat"),
    ("see #12", "see \\#\u200d12"),
    ("https://evil.example/x", "https\\:\u200d\\/\\/evil\\.example\\/x"),
    ("www.evil.example", "www\u200d\\.evil\\.example"),
    ("a | b\nc", "a \\| b c"),
    ("<b>[x](y)</b>", "\\<b\\>\\[x\\]\\(y\\)\\<\\/b\\>"),
    ("x" * 200, "x" * 159 + "…"),
])
def test_markdown_text_escapes(value: str, expected: str) -> None:
    assert markdown.text(value) == expected


def test_sarif_text_and_uri() -> None:
    assert sarif.text("{0} [a](https://x) \\]") == "{{0}} \\[a\\](https://x) \\]"
    assert sarif.artifact_uri("requirements.txt") == "requirements.txt"
    assert sarif.artifact_uri("http://127.0.0.1:8000/a b") == "readiness.json"
    assert sarif.artifact_uri("../../etc/passwd") == "readiness.json"
    assert sarif.artifact_uri("https://127.0.0.1:8000/login") == "https://127.0.0.1:8000/login"


def test_html_says_which_role_ran_the_plans() -> None:
    explain = CheckResult("explain", Status.PASS, "1 query run explained",
                          views=(Facts("Plans ran as", (("role", "readiness_<b>explain"),)),))
    page = html.render(decide([explain]))
    assert "Plans ran as: role <code>readiness_&lt;b&gt;explain</code>" in page
    assert "Plans ran as role" not in html.render(decide([result("explain", Status.PASS)]))
