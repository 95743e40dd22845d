"""``readiness.sarif``: security findings (zap, audit) as SARIF 2.1.0 for GitHub code scanning.

One run per security check, its ``automationDetails.id`` ``readiness/<check>/``: code
scanning keeps one analysis per category, so the checks of a matrix (one job per
check, one upload each) do not replace each other's alerts. A rule carries what code
scanning sorts and links by: ``security-severity`` (the CVSS base score of an advisory,
else a number for its label or ZAP risk), ``tags`` (``security``, the check, CWE ids)
and ``helpUri``. A finding with a file (the requirements pin of a vulnerable package)
points at that file and line, relative to the repository root.

Messages are plain text in SARIF's own syntax: a literal ``[`` or ``]`` is escaped
with a backslash (else ``[text](uri)`` is an embedded link) and a literal brace is
doubled (else ``{0}`` is a placeholder). An artifact URI is a relative path or an
http(s) URL; anything else points at ``readiness.json`` instead. ``helpUri`` is set
only from an http(s) reference.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import quote

from pipeline import __version__
from pipeline.model import CheckResult, Finding
from pipeline.reporters.safe import http_url, plain, relative_path
from pipeline.verdict import VerdictReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "moderate": "warning",
          "low": "note", "informational": "note", "info": "note", "unknown": "warning"}
# GitHub's bands: critical > 9.0, high 7.0-8.9, medium 4.0-6.9, low 0.1-3.9 (0.0: none).
SECURITY_SEVERITY = {"critical": 9.5, "high": 8.0, "medium": 5.5, "moderate": 5.5, "low": 2.0,
                     "informational": 0.0, "info": 0.0, "unknown": 5.5}
# Where to read more when the finding names no http(s) reference (facts: the public pages' URL scheme).
HELP_PAGES = {"zap": "https://www.zaproxy.org/docs/alerts/{alias}/",
              "audit": "https://osv.dev/vulnerability/{alias}"}
FALLBACK_URI = "readiness.json"
SOURCE_ROOT = "%SRCROOT%"
_BACKSLASHES_BEFORE_BRACKET = re.compile(r"\\+(?=[\[\]])")


def render(report: VerdictReport) -> str:
    """A SARIF log with one run per security check (its findings, its category)."""
    runs = [_run(check) for check in report.checks if check.check in report.security]
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}
    return json.dumps(document) + "\n"  # compact: indenting takes json's pure-Python path (a third of the time)


def category(check: str) -> str:
    """The code-scanning category (``automationDetails.id``) of one check's run."""
    return f"readiness/{plain(check)}/"


def _run(check: CheckResult) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in check.findings:
        rule_id = plain(f"{check.check}/{f.id}")
        rule = rules.setdefault(rule_id, _rule(rule_id, check.check, f))
        score = _score(f)
        if score > float(rule["properties"]["security-severity"]):
            rule["properties"]["security-severity"] = f"{score:.1f}"
        results.append(_result(rule_id, check.check, f))
    return {
        "tool": {"driver": {"name": "readiness-gate", "version": __version__,
                            "informationUri": "https://example.invalid/readiness-gate",
                            "rules": list(rules.values())}},
        "automationDetails": {"id": category(check.check)},
        "originalUriBaseIds": {SOURCE_ROOT: {"description": {"text": "the repository root"}}},
        "results": results,
    }


def _result(rule_id: str, check: str, f: Finding) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "level": LEVELS.get(f.severity.lower(), "warning"),
        "message": {"text": text(f"{f.title} ({f.severity})")},
        "locations": [{"physicalLocation": _physical_location(f)}],
        "partialFingerprints": {"readinessFindingId": plain(f"{check}:{f.id}:{f.location}")},
    }
    if f.waived_by:
        result["suppressions"] = [{"kind": "external", "justification": plain(f"waived by {f.waived_by}")}]
    return result


def _rule(rule_id: str, check: str, finding: Finding) -> dict[str, Any]:
    tags = list(dict.fromkeys(["security", plain(check), *(plain(t) for t in finding.tags)]))
    rule: dict[str, Any] = {"id": rule_id, "shortDescription": {"text": text(finding.title, 1000)},
                            "properties": {"check": check, "tags": tags,
                                           "security-severity": f"{_score(finding):.1f}"}}
    if finding.message:
        rule["fullDescription"] = {"text": text(finding.message, 4000)}
    if finding.remediation:
        rule["help"] = {"text": text(finding.remediation, 4000)}
    help_uri = next((url for url in map(http_url, finding.references) if url), None) or _help_page(check, finding)
    if help_uri:
        rule["helpUri"] = help_uri
    return rule


def _score(finding: Finding) -> float:
    """The CVSS base score the check recorded (audit), else the number for the severity label."""
    score = finding.details.get("score") if isinstance(finding.details, dict) else None
    if isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score) and 0 <= score <= 10:
        return float(score)
    return SECURITY_SEVERITY.get(finding.severity.lower(), SECURITY_SEVERITY["unknown"])


def _help_page(check: str, finding: Finding) -> str | None:
    """The public page of a ZAP rule or an advisory id, when the finding has no reference of its own."""
    page, alias = HELP_PAGES.get(check), next(iter(finding.aliases), "")
    if not page or not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", alias):
        return None
    return page.format(alias=quote(alias))


def text(value: object, limit: int | None = None) -> str:
    """``value`` as a SARIF plain-text message that shows exactly its (masked, shortened) text."""
    cleaned = _BACKSLASHES_BEFORE_BRACKET.sub("", plain(value))[:limit]
    return (cleaned.replace("[", "\\[").replace("]", "\\]")
            .replace("{", "{{").replace("}", "}}"))


def _physical_location(finding: Finding) -> dict[str, Any]:
    """Where code scanning points: the finding's file (and line) in the repository, else where it was seen."""
    if finding.file and relative_path(finding.file):
        location: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(finding.file),
                                                         "uriBaseId": SOURCE_ROOT}}
        if finding.line and finding.line > 0:
            location["region"] = {"startLine": finding.line}
        return location
    return {"artifactLocation": {"uri": artifact_uri(finding.file or next(iter(finding.urls), finding.location))}}


def artifact_uri(value: object) -> str:
    """A relative path (percent-encoded) or an http(s) URL; anything else becomes ``readiness.json``."""
    return http_url(value) or relative_path(value) or FALLBACK_URI
