"""The explain check's policy: pure judgement over validated plans and the settings (no I/O).

Time budget, big sequential scans, spills, estimate errors, shared blocks read, and plan
changes judged against a baseline (``change``: a regression fails, the rest is reported);
each query's rules come from the settings (``rules_for``), never from what collect gathered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline import views
from pipeline.checks.explain.change import details, judge_change, plan_facts
from pipeline.checks.explain.plan import Plan, PlanNode, spill
from pipeline.checks.explain.settings import ExplainSettings, Rules, rules_for
from pipeline.checks.interface import Evaluation
from pipeline.model import Finding, Measurement, Status

# Estimates on a handful of rows are noise; judge them only from this many rows on.
ESTIMATE_MIN_ROWS = 100
_SPACE = re.compile(r"\s+")
# The measurement of a query's planner total cost (its top node's), compared against the baseline's.
PLAN_COST = " plan total cost"


@dataclass(frozen=True)
class QueryRun:
    """One query with one parameter set, as collected: its median plan, or why there is none."""

    key: str  # name, or name[set]
    name: str
    params: dict[str, Any]
    plan_output: Any = None
    timings_ms: tuple[float, ...] = ()
    error: str | None = None
    previous_shape: list[str] | None = None
    previous_facts: dict[str, float] = field(default_factory=dict)  # the baseline's cost, buffers, spills
    source: str = ""  # where an ingested plan came from


@dataclass(frozen=True)
class ParsedQuery:
    """A query run with its validated plan (None when it has none), walked into nodes."""

    run: QueryRun
    plan: Plan | None
    nodes: tuple[PlanNode, ...] = ()
    shape: list[str] = field(default_factory=list)


def evaluate_explain(parsed: tuple[ParsedQuery, ...], settings: ExplainSettings, role: str | None = None,
                     notes: tuple[str, ...] = ()) -> Evaluation:
    """Pure policy over every query's plan with the rules of ``settings``; ``role`` is who ran them,
    ``notes`` go into the reasons."""
    measurements: list[Measurement] = []
    findings: list[Finding] = []
    shown: list[views.View] = [views.Facts("Plans ran as", (("role", role),))] if role else []
    for query in parsed:
        rules = rules_for(settings, query.run.name)
        judged = _judge(query, rules, _file(settings, query.run.name), settings.plan_tolerance) if query.plan else []
        findings += [finding for finding, _ in judged]
        measurements += _measurements(query, rules)
        shown.append(_plan_view(query, rules, judged))
    errors = tuple(q.run.error for q in parsed if q.run.error)
    failing = [f for f in findings if f.failing]
    details = {"timings_ms": {q.run.key: list(q.run.timings_ms) for q in parsed if q.run.timings_ms}}
    explained = sum(1 for q in parsed if q.plan is not None)
    if failing:
        status, words = Status.FAIL, f"{len(failing)} plan problem(s) in {explained} explained query run(s)."
        reasons = errors + tuple(f.title for f in failing) + notes
    elif errors:
        status, words = Status.ERROR, f"{len(errors)} of {len(parsed)} query run(s) could not be explained."
        reasons = errors + notes
    else:
        as_role = f" as role {role}" if role else ""
        status, words = Status.PASS, f"{explained} query run(s) explained{as_role}; every plan is within budget."
        reasons = tuple(f.title for f in findings) + notes
    return Evaluation(status, words, reasons, tuple(measurements), tuple(findings), details, tuple(shown))


def _measurements(query: ParsedQuery, rules: Rules) -> list[Measurement]:
    if query.plan is None:
        return []
    key, plan = query.run.key, query.plan
    found = [Measurement(f"{key} execution time (median)", round(plan.execution_ms, 3), "ms",
                         f"<= {rules.max_ms:g}", plan.execution_ms <= rules.max_ms)]
    if plan.planning_ms is not None:
        found.append(Measurement(f"{key} planning time", round(plan.planning_ms, 3), "ms"))
    cost = plan.root.get("Total Cost")
    if cost is not None:  # validated by the plan reader (a non-negative number); absent with COSTS OFF
        found.append(Measurement(f"{key}{PLAN_COST}", round(float(cost), 2), "cost units"))
    return found


# A finding and the position of the plan node it is about (None: the whole query).
Judged = list[tuple[Finding, int | None]]


def _judge(query: ParsedQuery, rules: Rules, file: str, tolerance: float) -> Judged:
    assert query.plan is not None
    key = query.run.key
    found: Judged = []

    def add(kind: str, specific: str, old_id: str, severity: str, title: str, node: int | None = None,
            failing: bool = True, **details: Any) -> None:
        finding_id = ":".join(part for part in (kind, _no_space(key), specific) if part)
        found.append((Finding(finding_id, severity, title, key, failing=failing, details=details, aliases=(old_id,),
                              file=file), node))

    if query.plan.execution_ms > rules.max_ms:
        add("time", "", f"{key}:time", "high", f"{key}: median execution {query.plan.execution_ms:.1f} ms "
            f"exceeds the {rules.max_ms:g} ms budget")
    for index, (node, name) in enumerate(zip(query.nodes, node_names(query.nodes), strict=True)):
        where = f"{key}: {node.label}"
        if node.node_type == "Seq Scan" and node.scanned_rows > rules.max_seq_scan_rows:
            add("seq-scan", _no_space(node.relation or name), f"{key}:seq-scan:{node.relation}", "high",
                f"{where} scanned {node.scanned_rows:,.0f} rows (limit {rules.max_seq_scan_rows:,})", index,
                relation=node.relation, rows_scanned=node.scanned_rows)
        reason = spill(node)
        if reason:
            add("spill", name, f"{key}:spill:{node.node_type}", "high", f"{where}: {reason}", index)
        factor = _estimate_factor(node)
        if rules.max_estimate_factor and factor is not None and factor > rules.max_estimate_factor:
            add("estimate", name, f"{key}:estimate:{node.label}", "medium",
                f"{where}: estimated {node.plan_rows * node.loops:,.0f} rows, got {node.actual_rows * node.loops:,.0f} "
                f"({factor:,.0f}x off; limit {rules.max_estimate_factor:g}x). Run ANALYZE or add statistics.", index)
    read_blocks = float(query.nodes[0].raw.get("Shared Read Blocks", 0)) if query.nodes else 0.0
    if rules.max_shared_read_blocks is not None and read_blocks > rules.max_shared_read_blocks:
        add("buffers", "", f"{key}:buffers", "medium", f"{key}: read {read_blocks:,.0f} shared blocks from "
            f"outside the cache (limit {rules.max_shared_read_blocks:,})")
    _judge_change(query, rules, tolerance, add)
    return found


def _judge_change(query: ParsedQuery, rules: Rules, tolerance: float, add: Callable[..., None]) -> None:
    """Against the baseline: a regression fails, an improvement or a neutral change is an info finding."""
    before = query.run.previous_shape
    if before is None:
        return
    key = query.run.key
    big = {n.relation for n in query.nodes if n.node_type == "Seq Scan" and n.relation
           and n.scanned_rows > rules.max_seq_scan_rows}
    regressions, changes = judge_change(before, query.run.previous_facts, query.shape, plan_facts(query.nodes),
                                        big, tolerance)
    if regressions:
        add("plan-changed", "", f"{key}:plan-changed", "high",
            f"{key}: the plan regressed against the baseline: {'; '.join(regressions)}",
            **details(before, query.shape, regressions=regressions, changes=changes))
    elif changes:
        add("plan-changed", "", f"{key}:plan-changed", "info",
            f"{key}: the plan changed against the baseline, no regression: {'; '.join(changes)}", failing=False,
            **details(before, query.shape, regressions=[], changes=changes))


def node_names(nodes: tuple[PlanNode, ...]) -> list[str]:
    """A name per node for finding ids: its label as a slug (``seq-scan-on-items``); a label that
    occurs again in the plan gets its occurrence (``sort-2``), so every name is unique and stable."""
    seen: dict[str, int] = {}
    names = []
    for node in nodes:
        slug = re.sub(r"[^\w.]+", "-", node.label.lower()).strip("-") or "node"
        seen[slug] = seen.get(slug, 0) + 1
        names.append(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}")
    return names


def _no_space(text: str) -> str:
    return _SPACE.sub("-", text.strip())


def _file(settings: ExplainSettings, name: str) -> str:
    """The file a query's findings are about: its SQL file (or its ingested plan), as configured; inline: none."""
    query = settings.query(name)
    return (query.sql_file or query.plan or "") if query else ""


def _estimate_factor(node: PlanNode) -> float | None:
    if node.loops == 0:
        return None  # never executed
    actual, planned = node.actual_rows * node.loops, node.plan_rows * node.loops
    if max(actual, planned) < ESTIMATE_MIN_ROWS or (actual < planned and node.may_stop_early):
        return None
    return max(actual, 1.0) / max(planned, 1.0) if actual >= planned else max(planned, 1.0) / max(actual, 1.0)


def _plan_view(query: ParsedQuery, rules: Rules, judged: Judged) -> views.Plan:
    """What the report shows for one query run: time against budget, parameters, the plan tree."""
    flagged = {node for _, node in judged if node is not None}
    previous = query.run.previous_shape
    nodes = tuple(views.PlanNode(n.depth, n.label, n.actual_rows, n.loops, n.plan_rows,
                                 _time(n.raw.get("Actual Total Time")), index in flagged)
                  for index, n in enumerate(query.nodes))
    return views.Plan(query.run.key, tuple((k, str(v)) for k, v in query.run.params.items()), query.run.error or "",
                      query.plan.execution_ms if query.plan else None, rules.max_ms,
                      tuple(finding.title for finding, _ in judged), nodes, tuple(query.shape),
                      None if previous is None else tuple(previous))


def _time(value: Any) -> float | None:
    """A node's time, validated by the plan reader when present."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
