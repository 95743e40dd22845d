"""``readiness.sarif``: security findings (zap, audit) as SARIF 2.1.0 for GitHub code scanning.

Messages are plain text in SARIF's own syntax: a literal ``[`` or ``]`` is escaped
with a backslash (else ``[text](uri)`` is an embedded link) and a literal brace is
doubled (else ``{0}`` is a placeholder). An artifact URI is a relative path or an
http(s) URL; anything else points at ``readiness.json`` instead. ``helpUri`` is set
only from an http(s) reference.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline import __version__
from pipeline.model import Finding
from pipeline.reporters.safe import http_url, plain, relative_path
from pipeline.verdict import VerdictReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "moderate": "warning",
          "low": "note", "informational": "note", "info": "note", "unknown": "warning"}
FALLBACK_URI = "readiness.json"
_BACKSLASHES_BEFORE_BRACKET = re.compile(r"\\+(?=[\[\]])")


def render(report: VerdictReport) -> str:
    """One SARIF run holding every finding of the security checks."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for check in report.checks:
        if check.check not in report.security:
            continue
        for f in check.findings:
            rule_id = plain(f"{check.check}/{f.id}")
            rules.setdefault(rule_id, _rule(rule_id, check.check, f))
            result: dict[str, Any] = {
                "ruleId": rule_id,
                "level": LEVELS.get(f.severity.lower(), "warning"),
                "message": {"text": text(f"{f.title} ({f.severity})")},
                "locations": [{"physicalLocation": _physical_location(f)}],
                "partialFingerprints": {"readinessFindingId": plain(f"{check.check}:{f.id}:{f.location}")},
            }
            if f.waived_by:
                result["suppressions"] = [{"kind": "external",
                                           "justification": plain(f"waived by {f.waived_by}")}]
            results.append(result)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "readiness-gate", "version": __version__,
                                "informationUri": "https://example.invalid/readiness-gate",
                                "rules": list(rules.values())}},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"


def _rule(rule_id: str, check: str, finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": rule_id, "shortDescription": {"text": text(finding.title, 1000)},
                            "properties": {"check": check}}
    help_uri = next((url for url in map(http_url, finding.references) if url), None)
    if help_uri:
        rule["helpUri"] = help_uri
    return rule


def text(value: object, limit: int | None = None) -> str:
    """``value`` as a SARIF plain-text message that shows exactly its (masked, shortened) text."""
    cleaned = _BACKSLASHES_BEFORE_BRACKET.sub("", plain(value))[:limit]
    return (cleaned.replace("[", "\\[").replace("]", "\\]")
            .replace("{", "{{").replace("}", "}}"))


def _physical_location(finding: Finding) -> dict[str, Any]:
    """Where code scanning points: the finding's file (and line), else where it was seen."""
    location: dict[str, Any] = {"artifactLocation": {
        "uri": artifact_uri(finding.file or next(iter(finding.urls), finding.location))}}
    if finding.file and finding.line:
        location["region"] = {"startLine": finding.line}
    return location


def artifact_uri(value: object) -> str:
    """A relative path (percent-encoded) or an http(s) URL; anything else becomes ``readiness.json``."""
    return http_url(value) or relative_path(value) or FALLBACK_URI
