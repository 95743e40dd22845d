"""``readiness.html``: one self-contained page a release manager reads, prints and signs.

Jinja2 with autoescape always on: every string from a tool or a scanned site is
escaped. The pictures (status strip, coverage bars) are inline SVG laid out here,
so the template only places what it is given.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pipeline.model import MANDATORY_CHECKS, CheckResult, Status
from pipeline.verdict import VerdictReport

STATUS_COLOURS = {
    "pass": "#1a7f37",
    "waived": "#4d7c0f",
    "fail": "#cf222e",
    "error": "#9a6700",
    "skipped": "#6e7781",
    "missing": "#6e7781",
}
VERDICT_TEXT = {"ready": "READY", "not_ready": "NOT READY", "incomplete": "INCOMPLETE"}

_env = Environment(
    loader=PackageLoader("pipeline", "templates"),
    autoescape=True,  # not select_autoescape: this template must never render unescaped
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(report: VerdictReport) -> str:
    """The HTML page for ``report``."""
    template = _env.get_template("report.html.j2")
    return template.render(
        report=report,
        verdict_text=VERDICT_TEXT[report.verdict.value],
        verdict_colour=_verdict_colour(report),
        strip=status_strip(report),
        sections=[_section(c) for c in report.checks],
        colours=STATUS_COLOURS,
        waivers=report.to_dict()["waivers"],
    )


def _verdict_colour(report: VerdictReport) -> str:
    return {"ready": STATUS_COLOURS["pass"], "not_ready": STATUS_COLOURS["fail"]}.get(
        report.verdict.value, STATUS_COLOURS["error"])


def status_strip(report: VerdictReport) -> dict[str, Any]:
    """One coloured block per check (missing ones too), in the fixed order."""
    status = {c.check: c.status.value for c in report.checks}
    ordered = [*MANDATORY_CHECKS, *(name for name in status if name not in MANDATORY_CHECKS)]
    cells = [(name, status.get(name, "missing")) for name in ordered
             if name in status or name in report.missing]
    width = 120
    return {
        "width": width * max(len(cells), 1),
        "cells": [
            {"x": i * width, "name": name, "status": status, "colour": STATUS_COLOURS[status]}
            for i, (name, status) in enumerate(cells)
        ],
    }


def _section(result: CheckResult) -> dict[str, Any]:
    return {
        "result": result,
        "colour": STATUS_COLOURS[result.status.value],
        "bars": coverage_bars(result),
        "latency": latency_chart(result),
        "queries": query_sections(result),
        "failing_first": sorted(result.findings, key=lambda f: (not f.failing, f.waived_by is not None)),
        "passed": result.status in (Status.PASS, Status.WAIVED),
    }


def coverage_bars(result: CheckResult) -> dict[str, Any] | None:
    """Horizontal bars of coverage per group, with the minimum drawn as a line."""
    groups = result.details.get("groups")
    minimum = result.details.get("min_line_rate")
    if not groups or minimum is None:
        return None
    label_w, bar_w, row_h = 260, 400, 22
    rows = []
    for i, group in enumerate(groups):
        rate = float(group["rate"])
        rows.append({
            "y": i * row_h,
            "label": _shorten(str(group["name"]), 38),
            "full": str(group["name"]),
            "width": round(rate * bar_w, 1),
            "text": f"{rate * 100:.1f}% ({group['covered']}/{group['valid']})",
            "colour": STATUS_COLOURS["pass"] if rate >= minimum else STATUS_COLOURS["fail"],
        })
    return {
        "label_w": label_w,
        "bar_w": bar_w,
        "row_h": row_h,
        "height": row_h * len(rows) + 18,
        "width": label_w + bar_w + 150,
        "min_x": label_w + round(minimum * bar_w, 1),
        "min_label": f"minimum {minimum * 100:g}%",
        "rows": rows,
    }


def latency_chart(result: CheckResult) -> dict[str, Any] | None:
    """One row per endpoint: a bar to p95, ticks at p50 and p99, the p95 limit as a dashed line."""
    endpoints = [e for e in result.details.get("endpoints", []) if e.get("p95") is not None]
    if not endpoints:
        return None
    label_w, bar_w, row_h = 200, 420, 22
    top = max(max(float(e.get(k) or 0) for k in ("p95", "p99", "p95_limit")) for e in endpoints) * 1.1 or 1.0

    def x(value: float) -> float:
        return round(label_w + min(value, top) / top * bar_w, 1)

    rows = []
    for i, e in enumerate(endpoints):
        limit = e.get("p95_limit")
        rows.append({
            "y": i * row_h,
            "name": str(e["name"]),
            "label": _shorten(str(e["name"]), 28),
            "p95_w": round(x(float(e["p95"])) - label_w, 1),
            "ticks": [x(float(e[k])) for k in ("p50", "p99") if e.get(k) is not None],
            "limit_x": x(float(limit)) if limit is not None else None,
            "text": " / ".join(f"{k} {float(e[k]):.0f}" for k in ("p50", "p95", "p99") if e.get(k) is not None)
                    + " ms" + (f" (limit {float(limit):g})" if limit is not None else ""),
            "colour": STATUS_COLOURS["pass"] if e.get("ok") else STATUS_COLOURS["fail"],
        })
    return {"label_w": label_w, "bar_w": bar_w, "row_h": row_h, "width": label_w + bar_w + 260,
            "height": row_h * len(rows) + 18, "rows": rows, "scale_label": f"{top:.0f} ms"}


def query_sections(result: CheckResult) -> list[dict[str, Any]]:
    """Per explained query: a bar of the median time against its budget, and the plan rows."""
    sections = []
    for query in result.details.get("queries", []):
        section = dict(query)
        section["flagged"] = sum(1 for n in query.get("nodes", []) if n.get("flagged"))
        median, budget = query.get("median_ms"), float(query.get("max_ms") or 0)
        section["bar"] = None
        if median is not None and budget > 0:
            track = 360
            scale = track / max(budget * 1.25, float(median))
            section["bar"] = {
                "track": track, "width": track + 260, "fill": round(min(float(median) * scale, track), 1),
                "budget_x": round(budget * scale, 1),
                "colour": STATUS_COLOURS["pass"] if float(median) <= budget else STATUS_COLOURS["fail"],
                "text": f"median {float(median):.2f} ms (budget {budget:g} ms)",
            }
        sections.append(section)
    return sections


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]
