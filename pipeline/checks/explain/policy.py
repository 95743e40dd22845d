"""The explain check's policy: pure judgement over validated plans (no I/O).

Time budget, big sequential scans, spills, estimate errors, shared blocks read, and
plan-shape changes against the previous run or a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.checks.explain.plan import Plan, PlanNode, spill
from pipeline.checks.interface import Evaluation
from pipeline.model import Finding, Measurement, Status

DEFAULT_RULES: dict[str, Any] = {"max_ms": 100.0, "max_seq_scan_rows": 10_000, "max_estimate_factor": 100.0,
                                 "max_shared_read_blocks": None}
# Estimates on a handful of rows are noise; judge them only from this many rows on.
ESTIMATE_MIN_ROWS = 100


@dataclass(frozen=True)
class QueryRun:
    """One query with one parameter set, as collected: its median plan, or why there is none."""

    key: str  # name, or name[set]
    name: str
    params: dict[str, Any]
    rules: dict[str, Any]
    plan_output: Any = None
    timings_ms: tuple[float, ...] = ()
    error: str | None = None
    previous_shape: list[str] | None = None
    source: str = ""  # where an ingested plan came from


@dataclass(frozen=True)
class ParsedQuery:
    run: QueryRun
    plan: Plan | None
    nodes: tuple[PlanNode, ...] = ()
    shape: list[str] = field(default_factory=list)


def evaluate_explain(parsed: tuple[ParsedQuery, ...], role: str | None = None,
                     notes: tuple[str, ...] = ()) -> Evaluation:
    """Pure policy over every query's plan; ``role`` is who ran them, ``notes`` go into the reasons."""
    measurements: list[Measurement] = []
    findings: list[Finding] = []
    errors = [q.run.error for q in parsed if q.run.error]
    rows = []
    for query in parsed:
        if query.plan is None:
            rows.append(_report_row(query, []))
            continue
        query_findings = _judge(query)
        findings += query_findings
        rules = query.run.rules
        measurements.append(Measurement(f"{query.run.key} execution time (median)", round(query.plan.execution_ms, 3),
                                        "ms", f"<= {rules['max_ms']:g}", query.plan.execution_ms <= rules["max_ms"]))
        if query.plan.planning_ms is not None:
            measurements.append(Measurement(f"{query.run.key} planning time", round(query.plan.planning_ms, 3), "ms"))
        rows.append(_report_row(query, query_findings))
    failing = [f for f in findings if f.failing]
    details = {"queries": rows, "role": role}
    explained = sum(1 for q in parsed if q.plan is not None)
    as_role = f" as role {role}" if role else ""
    reasons = tuple(errors) + tuple(f.title for f in failing) + notes
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} plan problem(s) in {explained} explained query run(s).",
                          reasons, tuple(measurements), tuple(findings), details)
    if errors:
        return Evaluation(Status.ERROR, f"{len(errors)} of {len(parsed)} query run(s) could not be explained.",
                          reasons, tuple(measurements), tuple(findings), details)
    return Evaluation(Status.PASS, f"{explained} query run(s) explained{as_role}; every plan is within budget.",
                      tuple(f.title for f in findings) + notes, tuple(measurements), tuple(findings), details)


def _judge(query: ParsedQuery) -> list[Finding]:
    assert query.plan is not None
    rules, key = query.run.rules, query.run.key
    found: list[Finding] = []
    if query.plan.execution_ms > rules["max_ms"]:
        found.append(Finding(f"{key}:time", "high", f"{key}: median execution {query.plan.execution_ms:.1f} ms "
                             f"exceeds the {rules['max_ms']:g} ms budget", key))
    for node in query.nodes:
        where = f"{key}: {node.label}"
        if node.node_type == "Seq Scan" and node.scanned_rows > rules["max_seq_scan_rows"]:
            found.append(Finding(f"{key}:seq-scan:{node.relation}", "high",
                                 f"{where} scanned {node.scanned_rows:,.0f} rows "
                                 f"(limit {rules['max_seq_scan_rows']:,})",
                                 key, details={"node": node.label, "relation": node.relation,
                                               "rows_scanned": node.scanned_rows}))
        reason = spill(node)
        if reason:
            found.append(Finding(f"{key}:spill:{node.node_type}", "high", f"{where}: {reason}", key,
                                 details={"node": node.label}))
        factor = _estimate_factor(node)
        if rules["max_estimate_factor"] and factor is not None and factor > rules["max_estimate_factor"]:
            found.append(Finding(f"{key}:estimate:{node.label}", "medium",
                                 f"{where}: estimated {node.plan_rows * node.loops:,.0f} rows, got "
                                 f"{node.actual_rows * node.loops:,.0f} ({factor:,.0f}x off; "
                                 f"limit {rules['max_estimate_factor']:g}x). Run ANALYZE or add statistics.", key,
                                 details={"node": node.label}))
    read_blocks = float(query.nodes[0].raw.get("Shared Read Blocks", 0)) if query.nodes else 0.0
    if rules["max_shared_read_blocks"] is not None and read_blocks > rules["max_shared_read_blocks"]:
        found.append(Finding(f"{key}:buffers", "medium", f"{key}: read {read_blocks:,.0f} shared blocks from "
                             f"outside the cache (limit {rules['max_shared_read_blocks']:,})", key))
    if query.run.previous_shape is not None and query.run.previous_shape != query.shape:
        found.append(Finding(f"{key}:plan-changed", "high", f"{key}: the plan changed since the previous run", key,
                             details={"previous": query.run.previous_shape, "current": query.shape}))
    return found


def _estimate_factor(node: PlanNode) -> float | None:
    if node.loops == 0:
        return None  # never executed
    actual, planned = node.actual_rows * node.loops, node.plan_rows * node.loops
    if max(actual, planned) < ESTIMATE_MIN_ROWS or (actual < planned and node.may_stop_early):
        return None
    return max(actual, 1.0) / max(planned, 1.0) if actual >= planned else max(planned, 1.0) / max(actual, 1.0)


def _report_row(query: ParsedQuery, findings: list[Finding]) -> dict[str, Any]:
    """What the HTML shows for one query: budget picture, parameters, the plan as an indented tree."""
    flagged = {f.details.get("node") for f in findings}
    plan = query.plan
    return {
        "key": query.run.key,
        "params": {k: str(v) for k, v in query.run.params.items()},
        "error": query.run.error,
        "median_ms": plan.execution_ms if plan else None,
        "planning_ms": plan.planning_ms if plan else None,
        "timings_ms": list(query.run.timings_ms),
        "max_ms": query.run.rules["max_ms"],
        "shape": query.shape,
        "previous_shape": query.run.previous_shape,
        "findings": [f.title for f in findings],
        "nodes": [{"depth": n.depth, "label": n.label, "rows": n.actual_rows, "loops": n.loops,
                   "plan_rows": n.plan_rows, "time_ms": n.raw.get("Actual Total Time"),
                   "flagged": n.label in flagged} for n in query.nodes],
    }
