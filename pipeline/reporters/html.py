"""``readiness.html``: one self-contained page a release manager reads, prints and signs.

Jinja2 with autoescape always on, and every value printed passes ``safe.plain`` first
(secrets masked, terminal controls removed). ``details`` of a result are foreign data,
so they are read here into plain rows of the expected types (a malformed row is left
out, never a crash), and the template only places what it is given. Links: only
http(s) URLs and relative paths inside the reports folder; anything else is text.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pipeline.model import MANDATORY_CHECKS, CheckResult, Finding, Status
from pipeline.reporters.safe import http_url, plain, relative_path
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
            {"x": i * width, "name": _shorten(name, 16), "full": name, "status": status,
             "colour": STATUS_COLOURS[status]}
            for i, (name, status) in enumerate(cells)
        ],
    }


def _section(result: CheckResult) -> dict[str, Any]:
    ordered = sorted(result.findings, key=lambda f: (not f.failing, f.waived_by is not None))
    return {
        "result": result,
        "colour": STATUS_COLOURS[result.status.value],
        "bars": coverage_bars(result),
        "latency": latency_chart(result),
        "queries": query_sections(result),
        "role": _text(result.details.get("role")) if isinstance(result.details, dict) else "",
        "findings": [finding_view(f) for f in ordered],
        "evidence": [{"text": e, "href": relative_path(e)} for e in result.evidence],
        "passed": result.status in (Status.PASS, Status.WAIVED),
    }


def finding_view(finding: Finding) -> dict[str, Any]:
    """What the findings table shows of one finding; ``details`` read as text, links only if http(s)."""
    details = finding.details if isinstance(finding.details, dict) else {}
    instances = [{key: _text(item.get(key)) for key in ("method", "uri", "param", "evidence")}
                 for item in _rows(details.get("instances"))]
    references = [{"text": line.strip(), "href": http_url(line.strip())}
                  for line in plain(_text(details.get("reference"))).splitlines() if line.strip()]
    return {
        "id": finding.id, "severity": finding.severity, "title": finding.title,
        "location": finding.location, "waived_by": finding.waived_by,
        "message": _text(details.get("message")), "solution": _text(details.get("solution")),
        "references": references, "instances": instances,
        "cwe": _text(details.get("cwe")), "wasc": _text(details.get("wasc")),
        "fixed": _texts(details.get("fixed")), "aliases": _texts(details.get("aliases")),
        "advisory": {"text": _text(details.get("url")), "href": http_url(details.get("url"))},
    }


def coverage_bars(result: CheckResult) -> dict[str, Any] | None:
    """Horizontal bars of coverage per group, with the minimum drawn as a line."""
    minimum = _number(result.details.get("min_line_rate"))
    groups = [g for g in _rows(result.details.get("groups"))
              if _number(g.get("rate")) is not None and 0 <= (_number(g.get("rate")) or 0) <= 1]
    if not groups or minimum is None:
        return None
    label_w, bar_w, row_h = 260, 400, 22
    rows = []
    for i, group in enumerate(groups):
        rate = _number(group.get("rate")) or 0.0
        name = _text(group.get("name"))
        rows.append({
            "y": i * row_h,
            "label": _shorten(name, 38),
            "full": name,
            "width": round(rate * bar_w, 1),
            "text": f"{rate * 100:.1f}% ({_text(group.get('covered'))}/{_text(group.get('valid'))})",
            "colour": STATUS_COLOURS["pass"] if rate >= minimum else STATUS_COLOURS["fail"],
        })
    return {
        "label_w": label_w,
        "bar_w": bar_w,
        "row_h": row_h,
        "height": row_h * len(rows) + 18,
        "width": label_w + bar_w + 150,
        "min_x": label_w + round(min(max(minimum, 0.0), 1.0) * bar_w, 1),
        "min_label": f"minimum {minimum * 100:g}%",
        "rows": rows,
    }


def latency_chart(result: CheckResult) -> dict[str, Any] | None:
    """One row per endpoint: a bar to p95, ticks at p50 and p99, the p95 limit as a dashed line."""
    endpoints = [e for e in _rows(result.details.get("endpoints")) if _non_negative(e.get("p95")) is not None]
    if not endpoints:
        return None
    label_w, bar_w, row_h = 200, 420, 22
    top = max(max(_non_negative(e.get(k)) or 0.0 for k in ("p95", "p99", "p95_limit")) for e in endpoints) * 1.1
    top = top or 1.0

    def x(value: float) -> float:
        return round(label_w + min(value, top) / top * bar_w, 1)

    rows = []
    for i, e in enumerate(endpoints):
        values = {k: _non_negative(e.get(k)) for k in ("p50", "p95", "p99", "p95_limit")}
        limit, name = values["p95_limit"], _text(e.get("name"))
        rows.append({
            "y": i * row_h,
            "name": name,
            "label": _shorten(name, 28),
            "p95_w": round(x(values["p95"] or 0.0) - label_w, 1),
            "ticks": [x(v) for k in ("p50", "p99") if (v := values[k]) is not None],
            "limit_x": x(limit) if limit is not None else None,
            "text": " / ".join(f"{k} {v:.0f}" for k in ("p50", "p95", "p99") if (v := values[k]) is not None)
                    + " ms" + (f" (limit {limit:g})" if limit is not None else ""),
            "colour": STATUS_COLOURS["pass"] if e.get("ok") is True else STATUS_COLOURS["fail"],
        })
    return {"label_w": label_w, "bar_w": bar_w, "row_h": row_h, "width": label_w + bar_w + 260,
            "height": row_h * len(rows) + 18, "rows": rows, "scale_label": f"{top:.0f} ms"}


def query_sections(result: CheckResult) -> list[dict[str, Any]]:
    """Per explained query: a bar of the median time against its budget, and the plan rows."""
    sections = []
    for query in _rows(result.details.get("queries")):
        params = query.get("params")
        params = params if isinstance(params, dict) else {}
        nodes = [_plan_node(n) for n in _rows(query.get("nodes"))]
        previous = _texts(query.get("previous_shape")) if query.get("previous_shape") is not None else None
        sections.append({
            "key": _text(query.get("key")),
            "params": [(_text(k), _text(v)) for k, v in params.items()],
            "error": _text(query.get("error")),
            "findings": _texts(query.get("findings")),
            "nodes": nodes,
            "flagged": sum(1 for n in nodes if n["flagged"]),
            "shape": _texts(query.get("shape")),
            "previous_shape": previous,
            "bar": _budget_bar(_non_negative(query.get("median_ms")), _non_negative(query.get("max_ms")) or 0.0),
        })
    return sections


def _plan_node(node: dict[str, Any]) -> dict[str, Any]:
    depth = node.get("depth")
    depth = min(depth, 40) if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else 0
    return {"indent": 6 + depth * 18, "depth": depth, "label": _text(node.get("label")),
            "rows": _text(node.get("rows")), "loops": _text(node.get("loops")),
            "plan_rows": _text(node.get("plan_rows")), "time_ms": _text(node.get("time_ms")),
            "flagged": node.get("flagged") is True}


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


def _rows(value: Any) -> list[dict[str, Any]]:
    """The mappings of a list read from ``details``; anything else in it is left out."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    """A finite number (booleans and text are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _non_negative(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _texts(value: Any) -> list[str]:
    return [_text(v) for v in value] if isinstance(value, list | tuple) else []


def _shorten(text: str, limit: int) -> str:
    text = plain(text)  # masked before it is cut: a cut secret would no longer match its mask
    return text if len(text) <= limit else "…" + text[-(limit - 1):]
