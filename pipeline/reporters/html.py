"""``readiness.html``: one self-contained page a release manager reads, prints and signs.

Jinja2 with autoescape always on, and every value printed passes ``safe.plain`` first
(secrets masked, terminal controls removed). The page draws each check's typed views
(bar charts, query plans, facts) and its findings' typed fields; a result's free-form
``details`` are never read. The template only places what it is given. Links: only
http(s) URLs and relative paths inside the reports folder; anything else is text.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pipeline.model import CheckResult, Finding, Status
from pipeline.reporters.release_view import release_context
from pipeline.reporters.safe import http_url, plain, relative_path
from pipeline.verdict import VerdictReport
from pipeline.views import Bars, Figure, Plan, Table, View

STATUS_COLOURS = {
    "pass": "#1a7f37",
    "waived": "#4d7c0f",
    "fail": "#cf222e",
    "error": "#9a6700",
    "skipped": "#6e7781",
    "not_applicable": "#57606a",
    "missing": "#6e7781",
}
VERDICT_TEXT = {"ready": "READY", "not_ready": "NOT READY", "incomplete": "INCOMPLETE"}


def _finalize(value: Any) -> Any:
    # Every {{ }} value: cleaned and masked as text before autoescape; numbers and our markup as they are.
    if isinstance(value, Markup | int | float | None):
        return value
    return plain(value)


def _joined(items: Any, separator: str = "") -> str:
    # Jinja's own join returns markup under autoescape, which _finalize would pass uncleaned.
    return separator.join(_text(item) for item in items) if isinstance(items, list | tuple) else _text(items)


_env = Environment(
    loader=PackageLoader("pipeline", "templates"),
    autoescape=True,  # not select_autoescape: this template must never render unescaped
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_finalize,
)
_env.filters["joined"] = _joined


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
        release=release_context(report),
    )


def _verdict_colour(report: VerdictReport) -> str:
    return {"ready": STATUS_COLOURS["pass"], "not_ready": STATUS_COLOURS["fail"]}.get(
        report.verdict.value, STATUS_COLOURS["error"])


def status_strip(report: VerdictReport) -> dict[str, Any]:
    """One coloured block per check (missing ones too), in the fixed order."""
    status = {c.check: c.status.value for c in report.checks}
    ordered = [*report.mandatory, *(name for name in status if name not in report.mandatory)]
    cells = [(name, status.get(name, "missing")) for name in ordered
             if name in status or name in report.missing]
    width = 120
    return {
        "width": width * max(len(cells), 1),
        "cells": [
            {"x": i * width, "name": _shorten(name, 16), "full": name, "status": status,
             "colour": STATUS_COLOURS[status]}
            for i, (name, status) in enumerate(cells)
        ],
    }


# The page shows this many findings per check (failing first); the full list is in readiness.json.
# Thousands of rows (a ZAP report of 2,000 alerts) would make the page megabytes that a browser
# takes seconds to lay out.
FINDINGS_SHOWN = 50


def _section(result: CheckResult) -> dict[str, Any]:
    ordered = sorted(result.findings, key=lambda f: (not f.failing, f.waived_by is not None))
    failing = sum(1 for f in ordered if f.failing and not f.waived_by)
    waived = sum(1 for f in ordered if f.waived_by)
    return {
        "result": result,
        "colour": STATUS_COLOURS[result.status.value],
        "views": [_view(v) for v in result.views],
        "findings": [finding_view(f) for f in ordered[:FINDINGS_SHOWN]],
        "finding_counts": {"failing": failing, "waived": waived, "other": len(ordered) - failing - waived},
        "findings_hidden": max(len(ordered) - FINDINGS_SHOWN, 0),
        "evidence": [{"text": e, "href": relative_path(e)} for e in result.evidence],
        "passed": result.status in (Status.PASS, Status.WAIVED, Status.NOT_APPLICABLE),
    }


_FIGURE = re.compile(r"evidence/[A-Za-z0-9_-]+\.svg")


def _view(view: View) -> dict[str, Any]:
    if isinstance(view, Bars):
        return {"kind": "bars", **bar_chart(view)}
    if isinstance(view, Plan):
        return {"kind": "plan", **plan_section(view)}
    if isinstance(view, Figure):
        # Only a drawing the gate kept as evidence: an image from anywhere else is a request the page must not make.
        src = view.path if _FIGURE.fullmatch(view.path) else None
        return {"kind": "figure", "title": view.title, "alt": view.alt, "src": src}
    if isinstance(view, Table):
        return {"kind": "table", "title": view.title, "columns": list(view.columns), "rows": [
            {"cells": list(row), "ok": view.ok[i] if i < len(view.ok) else None} for i, row in enumerate(view.rows)]}
    return {"kind": "facts", "title": view.title, "pairs": list(view.items)}


def finding_view(finding: Finding) -> dict[str, Any]:
    """What the findings table shows of one finding; links only to http(s) references."""
    return {
        "id": finding.id, "severity": finding.severity, "title": finding.title,
        "location": finding.location, "waived_by": finding.waived_by, "message": finding.message,
        "remediation": finding.remediation, "tags": list(finding.tags), "fixed": list(finding.fixed),
        "aliases": list(finding.aliases),
        "references": [{"text": ref, "href": http_url(ref)} for ref in finding.references],
        "instances": [{"method": i.method, "uri": i.uri, "param": i.param, "evidence": i.evidence}
                      for i in finding.instances],
    }


def bar_chart(view: Bars) -> dict[str, Any]:
    """One row per bar: its value, its limit as a dashed line, its marks as ticks; a ratio is drawn as %."""
    rows_in = [r for r in view.rows if _non_negative(r.value) is not None]
    label_w, bar_w, row_h = 240, 420, 22
    ratio = view.unit == "ratio"
    biggest = max((max(r.value, _non_negative(r.limit) or 0.0, *r.marks) for r in rows_in), default=0.0)
    top = 1.0 if ratio else (biggest * 1.1 or 1.0)

    def x(value: float) -> float:
        return round(label_w + min(max(value, 0.0), top) / top * bar_w, 1)

    rows = [{
        "y": i * row_h, "label": _shorten(row.label, 34), "full": row.label, "text": row.text,
        "width": round(x(row.value) - label_w, 1),
        "marks": [x(m) for m in row.marks if _non_negative(m) is not None],
        "limit_x": x(limit) if (limit := _non_negative(row.limit)) is not None else None,
        "colour": STATUS_COLOURS["pass" if row.ok is True else "fail" if row.ok is False else "skipped"],
    } for i, row in enumerate(rows_in)]
    return {"title": view.title, "limit_label": view.limit_label, "label_w": label_w, "bar_w": bar_w,
            "row_h": row_h, "width": label_w + bar_w + 280, "height": row_h * len(rows) + 18, "rows": rows,
            "scale_label": "100%" if ratio else f"{top:.0f} {view.unit}".strip()}


def plan_section(view: Plan) -> dict[str, Any]:
    """One explained query: its median time against its budget, its problems and its plan rows."""
    nodes = [{"indent": 6 + min(n.depth, 40) * 18, "depth": n.depth, "label": n.label,
              "rows": _shown(n.rows), "loops": _shown(n.loops), "plan_rows": _shown(n.plan_rows),
              "time_ms": _shown(n.time_ms), "flagged": n.flagged} for n in view.nodes]
    return {
        "title": view.title, "params": list(view.params), "error": view.error, "problems": list(view.problems),
        "nodes": nodes, "flagged": sum(1 for n in view.nodes if n.flagged), "shape": list(view.shape),
        "previous_shape": None if view.previous_shape is None else list(view.previous_shape),
        "bar": _budget_bar(_non_negative(view.median_ms), _non_negative(view.budget_ms) or 0.0),
    }


def _budget_bar(median: float | None, budget: float) -> dict[str, Any] | None:
    if median is None or budget <= 0:
        return None
    track = 360
    scale = track / max(budget * 1.25, median)
    return {
        "track": track, "width": track + 260, "fill": round(min(median * scale, track), 1),
        "budget_x": round(budget * scale, 1),
        "colour": STATUS_COLOURS["pass"] if median <= budget else STATUS_COLOURS["fail"],
        "text": f"median {median:.2f} ms (budget {budget:g} ms)",
    }


def _non_negative(value: Any) -> float | None:
    """A finite number >= 0 (booleans and text are not numbers), else None: nothing to draw."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _shorten(text: str, limit: int) -> str:
    text = plain(text)  # masked before it is cut: a cut secret would no longer match its mask
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


SIGNOFF_MARKERS = ("<!-- signoff -->", "<!-- /signoff -->")


def with_signoff(page: str, state: dict[str, Any], verdict: str, generated_at: str) -> str | None:
    """``page`` (a readiness.html) with its sign-off block showing ``state``; None if it has no unsigned block
    (a page signed once keeps showing that sign-off, so a later record cannot change what an earlier one froze).

    Foreign text in a page is escaped, so the markers can only be the template's own; the last pair is used.
    """
    start, end = page.rfind(SIGNOFF_MARKERS[0]), page.rfind(SIGNOFF_MARKERS[1])
    if start < 0 or end < start or 'data-state="unsigned"' not in page[start:end]:
        return None
    block = _env.get_template("signoff.html.j2").render(
        release={"signoff": state}, verdict_text=VERDICT_TEXT.get(verdict, verdict),
        report={"generated_at": generated_at}).strip()
    return page[:start] + block + "\n" + page[end + len(SIGNOFF_MARKERS[1]):].lstrip("\n")
