"""Transitional: what a check not yet converted to typed findings and views leaves in ``details``.

Deleted once every check fills ``Finding``'s typed fields and returns views itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipeline.model import Finding, Instance
from pipeline.views import Bar, Bars, Facts, Plan, PlanNode, View


def typed_finding(finding: Finding) -> Finding:
    """Transitional: a check not yet converted keeps aliases, URLs and such in ``details``."""
    details = finding.details
    if not isinstance(details, dict) or finding.aliases or finding.urls or finding.instances:
        return finding

    def texts(key: str) -> tuple[str, ...]:
        value = details.get(key)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    instances = tuple(Instance(str(i.get("uri", "")), str(i.get("method", "")), str(i.get("param", "")),
                               str(i.get("evidence", "")))
                      for i in details.get("instances") or () if isinstance(i, dict))
    references = tuple(line.strip() for line in str(details.get("reference") or "").splitlines() if line.strip())
    url = str(details.get("url") or "")
    tags = tuple(f"{k.upper()}-{details[k]}" for k in ("cwe", "wasc") if str(details.get(k) or "") not in ("", "-1"))
    artifact = str(details.get("artifact") or "")
    return replace(finding, aliases=texts("aliases"), urls=texts("urls"), fixed=texts("fixed"), instances=instances,
                   message=str(details.get("message") or ""), remediation=str(details.get("solution") or ""),
                   references=references + ((url,) if url else ()), tags=tags,
                   file="" if "://" in artifact else artifact, measurement=str(details.get("measurement") or ""))



def views(details: dict[str, Any]) -> tuple[View, ...]:
    """Coverage groups, k6 endpoints and explain queries as views."""
    found: list[View] = []
    minimum = _number(details.get("min_line_rate"))
    groups = [g for g in _rows(details.get("groups")) if _number(g.get("rate")) is not None]
    if groups and minimum is not None:
        found.append(Bars("Line coverage by group", "ratio", tuple(
            Bar(str(g.get("name")), float(g["rate"]), minimum, float(g["rate"]) >= minimum,
                f"{float(g['rate']) * 100:.1f}% ({g.get('covered')}/{g.get('valid')})") for g in groups),
            f"minimum {minimum * 100:g}%"))
    endpoints = [e for e in _rows(details.get("endpoints")) if _number(e.get("p95")) is not None]
    if endpoints:
        found.append(Bars("Latency per endpoint (bar to p95, ticks at p50 and p99)", "ms", tuple(
            Bar(str(e.get("name")), float(e["p95"]), _number(e.get("p95_limit")), e.get("ok") is True,
                " / ".join(f"{k} {float(e[k]):.0f}" for k in ("p50", "p95", "p99") if _number(e.get(k)) is not None)
                + " ms", tuple(float(e[k]) for k in ("p50", "p99") if _number(e.get(k)) is not None))
            for e in endpoints), "the p95 limit"))
    if details.get("role"):
        found.append(Facts("Plans ran as", (("role", str(details["role"])),)))
    found += [_plan(q) for q in _rows(details.get("queries"))]
    return tuple(found)


def _plan(query: dict[str, Any]) -> Plan:
    params = query.get("params") if isinstance(query.get("params"), dict) else {}
    previous = query.get("previous_shape")
    return Plan(str(query.get("key")), tuple((str(k), str(v)) for k, v in (params or {}).items()),
                str(query.get("error") or ""), _number(query.get("median_ms")), _number(query.get("max_ms")),
                tuple(str(f) for f in query.get("findings") or ()),
                tuple(PlanNode(int(n.get("depth") or 0), str(n.get("label")), _number(n.get("rows")),
                               _number(n.get("loops")), _number(n.get("plan_rows")), _number(n.get("time_ms")),
                               n.get("flagged") is True) for n in _rows(query.get("nodes"))),
                tuple(str(s) for s in query.get("shape") or ()),
                None if previous is None else tuple(str(s) for s in previous))


def _rows(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
