"""EXPLAIN (FORMAT JSON) output: validated before any rule sees it, then walked into nodes.

A plan comes from the server or from a file someone else wrote (ingest); either way every
number in it is checked (pipeline/evidence.py): booleans are not numbers, NaN and
infinities are refused, no plan number is negative. Node Type must be text and Plans a
list of objects. A problem raises ParseError naming the query and the node's path
(``Plan.Plans[0].Actual Rows``), so a forged plan is an ``error``, never a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.errors import ParseError
from pipeline.evidence import non_negative, text

# Fields the rules read or show; each must be a number when present.
NUMBER_FIELDS = frozenset({
    "Startup Cost", "Total Cost", "Plan Rows", "Plan Width", "Actual Startup Time", "Actual Total Time",
    "Actual Rows", "Actual Loops", "Rows Removed by Filter", "Rows Removed by Index Recheck",
    "Rows Removed by Join Filter", "Heap Fetches", "Shared Hit Blocks", "Shared Read Blocks",
    "Shared Dirtied Blocks", "Shared Written Blocks", "Local Hit Blocks", "Local Read Blocks",
    "Local Dirtied Blocks", "Local Written Blocks", "Temp Read Blocks", "Temp Written Blocks",
    "Sort Space Used", "Hash Buckets", "Original Hash Buckets", "Hash Batches", "Original Hash Batches",
    "Peak Memory Usage", "Disk Usage", "HashAgg Batches", "Planned Partitions", "Workers Planned",
    "Workers Launched", "Exact Heap Blocks", "Lossy Heap Blocks",
})
TEXT_FIELDS = ("Relation Name", "CTE Name", "Index Name", "Parent Relationship", "Sort Method", "Sort Space Type")
# A real plan is a few dozen levels deep; far deeper is a forged file (and would exhaust the stack).
MAX_PLAN_DEPTH = 300


@dataclass(frozen=True)
class PlanNode:
    """One node of an executed plan, with the numbers the rules look at."""

    depth: int
    node_type: str
    relation: str | None
    index: str | None
    actual_rows: float
    loops: float
    plan_rows: float
    rows_removed: float
    raw: dict[str, Any]
    # Beneath a Limit, or in a sub-plan/CTE its consumer may stop reading, a node can stop
    # early: fewer rows than estimated is then no estimate error.
    may_stop_early: bool = False

    @property
    def label(self) -> str:
        """How the node reads in a plan: ``Index Scan using items_pkey on items``."""
        on = f" on {self.relation}" if self.relation else ""
        using = f" using {self.index}" if self.index else ""
        return f"{self.node_type}{using}{on}"

    @property
    def scanned_rows(self) -> float:
        """Rows a scan read: the ones it returned plus the ones its filter removed, over all loops."""
        return (self.actual_rows + self.rows_removed) * self.loops


@dataclass(frozen=True)
class Plan:
    """A validated EXPLAIN ANALYZE plan: its times, its root node and the settings it ran with."""

    execution_ms: float
    planning_ms: float | None
    root: dict[str, Any]
    settings: dict[str, str]


def read_plan(output: Any, where: str) -> Plan:
    """The plan from EXPLAIN (FORMAT JSON) output (a one-element list or its text, psql frames allowed).

    Every number and the fields the rules read are validated first; ParseError otherwise.
    """
    if isinstance(output, str):
        output = _json_from_text(output, where)
    if isinstance(output, list) and len(output) == 1:
        output = output[0]
    if not isinstance(output, dict) or not isinstance(output.get("Plan"), dict):
        raise ParseError(where, "", "is not EXPLAIN (FORMAT JSON) output (no top-level 'Plan')")
    if output.get("Execution Time") is None:
        raise ParseError(where, "Execution Time", "is missing: the plan was not made with EXPLAIN ANALYZE",
                         "Run EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON): estimates alone prove nothing.")
    execution = non_negative(output["Execution Time"], where, "Execution Time")
    planning = output.get("Planning Time")
    if planning is not None:
        planning = non_negative(planning, where, "Planning Time")
    _check_nodes(output["Plan"], where)
    _check_numbers(output, where)
    return Plan(execution, planning, output["Plan"], _settings(output.get("Settings"), where))


def _check_nodes(root: dict[str, Any], where: str) -> None:
    """Node Type is text, Plans a list of objects, the rules' fields of the right type; depth bounded."""
    stack: list[tuple[Any, str, int]] = [(root, "Plan", 0)]
    while stack:
        node, place, depth = stack.pop()
        if not isinstance(node, dict):
            raise ParseError(where, place, f"is {_kind(node)}, not a plan node (an object)")
        if depth > MAX_PLAN_DEPTH:
            raise ParseError(where, place, f"is nested deeper than {MAX_PLAN_DEPTH} plan levels")
        text(node.get("Node Type"), where, f"{place}.Node Type")
        for key in TEXT_FIELDS:
            if node.get(key) is not None:
                text(node[key], where, f"{place}.{key}", required=False)
        for key in NUMBER_FIELDS.intersection(node):
            non_negative(node[key], where, f"{place}.{key}")
        children = node.get("Plans")
        if children is None:
            continue
        if not isinstance(children, list):
            raise ParseError(where, f"{place}.Plans", f"is {_kind(children)}, not a list of plan nodes")
        stack.extend((child, f"{place}.Plans[{i}]", depth + 1) for i, child in enumerate(children))


def _check_numbers(output: dict[str, Any], where: str) -> None:
    """No number anywhere in the output is NaN, infinite or negative (EXPLAIN writes none)."""
    for place, value in _leaves(output, ""):
        if isinstance(value, int | float) and not isinstance(value, bool):
            non_negative(value, where, place)


def _leaves(value: Any, place: str) -> Iterator[tuple[str, Any]]:
    stack = [(value, place)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
        else:
            yield where, item


def _settings(settings: Any, where: str) -> dict[str, str]:
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ParseError(where, "Settings", f"is {_kind(settings)}, not an object of setting names and values")
    return {str(k): str(v) for k, v in settings.items()}


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__} ({str(value)[:40]!r})"


def _json_from_text(text_: str, where: str) -> Any:
    # psql prints a "QUERY PLAN" header, dashes, and in aligned mode a "+" at each line end.
    lines = [re.sub(r"\s*\+\s*$", "", line) for line in text_.splitlines()]
    body = "\n".join(lines)
    start, end = body.find("["), body.rfind("]")
    if start < 0 or end < start:
        raise ParseError(where, "", "holds no JSON plan (no '[' ... ']')")
    try:
        return json.loads(body[start:end + 1])
    except json.JSONDecodeError as exc:
        raise ParseError(where, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})") from exc
    except RecursionError:
        raise ParseError(where, "", "is nested too deep to be a plan") from None


def walk(root: dict[str, Any], depth: int = 0, may_stop_early: bool = False) -> list[PlanNode]:
    """Every node, parents before children, with its depth."""
    node = PlanNode(
        depth=depth,
        node_type=str(root.get("Node Type", "?")),
        relation=root.get("Relation Name") or root.get("CTE Name"),
        index=root.get("Index Name"),
        actual_rows=float(root.get("Actual Rows", 0)),
        loops=float(root.get("Actual Loops", 1)),
        plan_rows=float(root.get("Plan Rows", 0)),
        rows_removed=float(root.get("Rows Removed by Filter", 0)) + float(root.get("Rows Removed by Index Recheck", 0)),
        raw=root,
        may_stop_early=may_stop_early or root.get("Parent Relationship") in ("InitPlan", "SubPlan"),
    )
    nodes = [node]
    for child in root.get("Plans", []) or []:
        nodes += walk(child, depth + 1, node.may_stop_early or node.node_type == "Limit")
    return nodes


def plan_shape(root: dict[str, Any]) -> list[str]:
    """The plan's structure without numbers: what a regression compares (e.g. Index Scan -> Seq Scan)."""
    return [f"{'  ' * n.depth}{n.label}" for n in walk(root)]


def spill(node: PlanNode) -> str | None:
    """Why this node went to disk, or None."""
    raw = node.raw
    method = str(raw.get("Sort Method", ""))
    if method.startswith("external") or raw.get("Sort Space Type") == "Disk":
        return f"sort spilled to disk ({method or 'Disk'}, {raw.get('Sort Space Used', '?')} kB)"
    batches = max(int(raw.get("Hash Batches", 1) or 1), int(raw.get("HashAgg Batches", 0) or 0))
    if batches > 1:
        return f"hash spilled to disk ({batches} batches)"
    if float(raw.get("Disk Usage", 0) or 0) > 0:
        return f"spilled {raw['Disk Usage']} kB to disk"
    return None
