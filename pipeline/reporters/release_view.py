"""What the HTML report shows of a release: the baseline, policy changes, deltas per check, trends, sign-off.

Only geometry and grouping are computed here (sparkline points from the history's
numbers); every text is placed by the template, which escapes it.
"""

from __future__ import annotations

from typing import Any

from pipeline.history import Trend
from pipeline.verdict import VerdictReport

SPARK_W, SPARK_H, PAD = 160, 30, 3


def release_context(report: VerdictReport) -> dict[str, Any]:
    """The template's ``release``: comparison, deltas by check, sparklines, policy rules and sign-off state."""
    comparison = report.comparison or {}
    rules = (report.policy or {}).get("rules") or {}
    return {
        "baseline": comparison.get("baseline"),
        "policy_changes": comparison.get("policy_changes", []),
        "broken_rules": comparison.get("broken_rules", []),
        "deltas": {d["check"]: d for d in comparison.get("deltas", [])},
        "trends": [sparkline(t) for t in report.trends],
        "rules": [{"key": k, **v} for k, v in rules.items()],
        "signoff": report.signoff or {"state": "unsigned"},
    }


def sparkline(trend: Trend) -> dict[str, Any]:
    """One key figure as a small line: its points, the last value marked, first and last values as text."""
    known = [(i, v) for i, v in enumerate(trend.values) if v is not None]
    low = min((v for _, v in known), default=0.0)
    high = max((v for _, v in known), default=0.0)
    span = (high - low) or 1.0
    step = (SPARK_W - 2 * PAD) / max(len(trend.values) - 1, 1)

    def point(i: int, v: float) -> tuple[float, float]:
        return round(PAD + i * step, 1), round(SPARK_H - PAD - (v - low) / span * (SPARK_H - 2 * PAD), 1)

    points = [point(i, v) for i, v in known]
    return {
        "name": trend.name, "width": SPARK_W, "height": SPARK_H, "runs": len(trend.values),
        "points": " ".join(f"{x},{y}" for x, y in points), "last": points[-1] if points else None,
        "first_value": _shown(known[0][1]) if known else "–", "last_value": _shown(known[-1][1]) if known else "–",
        "low": _shown(low), "high": _shown(high),
    }


def _shown(value: float) -> str:
    return f"{value:.4g}"
