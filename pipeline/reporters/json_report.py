"""``readiness.json``: the verdict document (schema ``readiness.verdict/1``)."""

from __future__ import annotations

import json

from pipeline.verdict import VerdictReport


def render(report: VerdictReport) -> str:
    """The verdict as indented JSON."""
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"
