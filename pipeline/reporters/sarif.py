"""``readiness.sarif``: security findings (zap, audit) as SARIF 2.1.0 for GitHub code scanning."""

from __future__ import annotations

import json
from typing import Any

from pipeline import __version__
from pipeline.verdict import VerdictReport

SECURITY_CHECKS = ("zap", "audit")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "moderate": "warning",
          "low": "note", "informational": "note", "info": "note", "unknown": "warning"}


def render(report: VerdictReport) -> str:
    """One SARIF run holding every finding of the security checks."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for check in report.checks:
        if check.check not in SECURITY_CHECKS:
            continue
        for f in check.findings:
            rule_id = f"{check.check}/{f.details.get('rule_id', f.id)}"
            rules.setdefault(rule_id, {
                "id": rule_id,
                "shortDescription": {"text": f.title[:1000]},
                "properties": {"check": check.check},
            })
            result: dict[str, Any] = {
                "ruleId": rule_id,
                "level": LEVELS.get(f.severity.lower(), "warning"),
                "message": {"text": f"{f.title} ({f.severity})"},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.details.get("artifact", "readiness.json")}}}],
                "partialFingerprints": {"readinessFindingId": f"{check.check}:{f.id}:{f.location}"},
            }
            if f.waived_by:
                result["suppressions"] = [{"kind": "external",
                                           "justification": f"waived by {f.waived_by}"}]
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
