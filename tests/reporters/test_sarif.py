"""readiness.sarif as code scanning reads it: one run per check, severity, tags, help, repository paths."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.model import CheckResult, Finding, Status
from pipeline.reporters import sarif
from pipeline.verdict import VerdictReport, decide
from tests.fuzzing import budget


def report(*results: CheckResult) -> VerdictReport:
    return decide(results, mandatory=tuple(r.check for r in results))


def audit_finding(score: float | None, severity: str = "high") -> Finding:
    return Finding(id="vulnerability:PYSEC-2099-1", severity=severity, title="pkg 1.0: PYSEC-2099-1",
                   location="pkg==1.0", aliases=("PYSEC-2099-1", "CVE-2099-1"), tags=("CWE-79",),
                   file="requirements/prod.txt", line=4, details={"score": score})


def zap_finding(risk: str, references: tuple[str, ...] = ()) -> Finding:
    return Finding(id="alert:10038", severity=risk, title="CSP header not set", aliases=("10038",),
                   urls=("http://127.0.0.1:8000/orders",), references=references, failing=False)


def document(*results: CheckResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sarif.render(report(*results)))
    return data


def runs_by_category(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["automationDetails"]["id"]: run for run in doc["runs"]}


FAILED = Status.FAIL


def test_one_run_per_security_check_each_with_its_category(sarif_schema: dict[str, Any]) -> None:
    doc = document(CheckResult("zap", Status.PASS, "ok", findings=(zap_finding("low"),)),
                   CheckResult("audit", FAILED, "bad", findings=(audit_finding(9.8),)),
                   CheckResult("coverage", FAILED, "low", findings=(Finding("line-rate:total", "high", "low"),)))
    jsonschema.Draft7Validator(sarif_schema).validate(doc)
    runs = runs_by_category(doc)
    assert set(runs) == {"readiness/zap/", "readiness/audit/"}
    assert [r["ruleId"] for r in runs["readiness/audit/"]["results"]] == ["audit/vulnerability:PYSEC-2099-1"]


@pytest.mark.parametrize(("score", "severity", "expected"), [
    (9.8, "critical", "9.8"), (7.0, "high", "7.0"), (6.9, "medium", "6.9"), (0.0, "low", "0.0"),
    (None, "high", "8.0"), (None, "critical", "9.5"), (None, "unknown", "5.5"), (float("nan"), "low", "2.0"),
    (11.0, "high", "8.0"), (float("inf"), "high", "8.0"),
])
def test_security_severity_is_the_cvss_score_else_the_label(score: float | None, severity: str,
                                                             expected: str) -> None:
    rule = runs_by_category(document(CheckResult("audit", FAILED, "bad", findings=(
        audit_finding(score, severity),))))["readiness/audit/"]["tool"]["driver"]["rules"][0]
    assert rule["properties"]["security-severity"] == expected


@pytest.mark.parametrize(("risk", "expected"), [("high", "8.0"), ("medium", "5.5"), ("low", "2.0"),
                                                ("informational", "0.0")])
def test_zap_risk_maps_into_github_s_severity_bands(risk: str, expected: str) -> None:
    rule = document(CheckResult("zap", Status.PASS, "ok", findings=(zap_finding(risk),)))["runs"][0]["tool"]["driver"]
    assert rule["rules"][0]["properties"]["security-severity"] == expected


def test_rules_carry_security_tags_and_a_help_page() -> None:
    doc = document(CheckResult("zap", Status.PASS, "ok", findings=(zap_finding("low"),)),
                   CheckResult("audit", FAILED, "bad", findings=(audit_finding(9.8),)))
    runs = runs_by_category(doc)
    audit_rule = runs["readiness/audit/"]["tool"]["driver"]["rules"][0]
    zap_rule = runs["readiness/zap/"]["tool"]["driver"]["rules"][0]
    assert audit_rule["properties"]["tags"] == ["security", "audit", "CWE-79"]
    assert audit_rule["helpUri"] == "https://osv.dev/vulnerability/PYSEC-2099-1"
    assert zap_rule["helpUri"] == "https://www.zaproxy.org/docs/alerts/10038/"
    own = document(CheckResult("zap", Status.PASS, "ok", findings=(zap_finding("low", ("https://x.example/a",)),)))
    assert own["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] == "https://x.example/a"


def test_a_pin_points_at_its_line_in_the_repository_a_url_stays_a_url() -> None:
    runs = runs_by_category(document(CheckResult("zap", Status.PASS, "ok", findings=(zap_finding("low"),)),
                                     CheckResult("audit", FAILED, "bad", findings=(audit_finding(9.8),))))
    pin = runs["readiness/audit/"]["results"][0]["locations"][0]["physicalLocation"]
    assert pin == {"artifactLocation": {"uri": "requirements/prod.txt", "uriBaseId": "%SRCROOT%"},
                   "region": {"startLine": 4}}
    url = runs["readiness/zap/"]["results"][0]["locations"][0]["physicalLocation"]
    assert url == {"artifactLocation": {"uri": "http://127.0.0.1:8000/orders"}}


def test_a_file_outside_the_repository_is_not_a_location() -> None:
    finding = dataclasses.replace(audit_finding(9.8), file="/etc/passwd")
    run = document(CheckResult("audit", FAILED, "bad", findings=(finding,)))["runs"][0]
    assert run["results"][0]["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "readiness.json"}}


@settings(max_examples=budget(100), deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.none(), min_size=1, max_size=4))
def test_a_rule_s_severity_is_the_highest_of_its_results_and_always_in_range(scores: list[float | None]) -> None:
    findings = tuple(audit_finding(s) for s in scores)
    rule = document(CheckResult("audit", FAILED, "bad", findings=findings))["runs"][0]["tool"]["driver"]["rules"][0]
    valid = [s for s in scores if s is not None and 0 <= s <= 10]
    expected = max([*valid, 8.0] if len(valid) < len(scores) else valid)
    assert float(rule["properties"]["security-severity"]) == pytest.approx(round(expected, 1), abs=0.051)
