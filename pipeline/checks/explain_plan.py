"""PostgreSQL plans: refuse unsafe SQL before it is sent, and read EXPLAIN (FORMAT JSON) output.

``safe_statement`` is the gate's first line of defence (the server-side ones are a
READ ONLY transaction that is always rolled back, and a statement timeout): one
statement, of a kind that EXPLAIN ANALYZE can run, with its parameters bound by
psycopg. ``read_plan`` and ``walk`` turn the JSON into nodes the policy can judge.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pipeline.errors import ParseError

ALLOWED_FIRST_WORDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "TABLE")
# Strings, quoted identifiers, dollar quotes and comments: their content is not SQL structure.
_OPAQUE = re.compile(
    r"'(?:[^']|'')*'"  # 'string' with '' escapes
    r"|\"(?:[^\"]|\"\")*\""  # "identifier"
    r"|\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$"  # $$ body $$ or $tag$ body $tag$
    r"|--[^\n]*"  # -- comment
    r"|/\*.*?\*/",  # /* comment */
    re.DOTALL,
)
_COLON_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_PERCENT_PARAM = re.compile(r"%\((\w+)\)s")


class UnsafeStatement(ValueError):
    """The SQL is refused before it reaches the server."""


def safe_statement(sql: str) -> tuple[str, set[str]]:
    """The statement in psycopg's ``%(name)s`` style and the parameter names it needs.

    Accepts ``%(name)s`` or ``:name`` placeholders (not both). Refuses anything that is
    not a single SELECT / INSERT / UPDATE / DELETE / WITH / VALUES / TABLE statement.
    """
    skeleton = _OPAQUE.sub(lambda m: " " if m.group(0).startswith(("--", "/*")) else "''", sql)
    body = skeleton.strip().rstrip(";").strip()
    if not body:
        raise UnsafeStatement("the file holds no SQL statement")
    if ";" in body:
        raise UnsafeStatement("more than one statement (a ';' before the end); one query per file")
    first = body.split(None, 1)[0].upper().lstrip("(")
    if first not in ALLOWED_FIRST_WORDS:
        raise UnsafeStatement(f"a {first} statement; only {', '.join(ALLOWED_FIRST_WORDS)} can be explained "
                              "(no DDL, no transaction control, no COPY/CALL/DO/SET)")
    colon = set(_COLON_PARAM.findall(skeleton))
    percent = set(_PERCENT_PARAM.findall(skeleton))
    if colon and percent:
        raise UnsafeStatement("mixes :name and %(name)s placeholders; use one style")
    if colon:
        return _colon_to_percent(sql), colon
    return sql.strip().rstrip(";"), percent


def _colon_to_percent(sql: str) -> str:
    """``:name`` -> ``%(name)s`` outside strings and comments; every literal ``%`` doubled for psycopg."""
    out, last = [], 0
    for match in _OPAQUE.finditer(sql):
        out.append(_COLON_PARAM.sub(r"%(\1)s", sql[last:match.start()].replace("%", "%%")))
        out.append(match.group(0).replace("%", "%%"))
        last = match.end()
    out.append(_COLON_PARAM.sub(r"%(\1)s", sql[last:].replace("%", "%%")))
    return "".join(out).strip().rstrip(";")


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
        on = f" on {self.relation}" if self.relation else ""
        using = f" using {self.index}" if self.index else ""
        return f"{self.node_type}{using}{on}"

    @property
    def scanned_rows(self) -> float:
        """Rows a scan read: the ones it returned plus the ones its filter removed, over all loops."""
        return (self.actual_rows + self.rows_removed) * self.loops


@dataclass(frozen=True)
class Plan:
    execution_ms: float
    planning_ms: float | None
    root: dict[str, Any]
    settings: dict[str, str]


def read_plan(output: Any, where: str) -> Plan:
    """The plan from EXPLAIN (FORMAT JSON) output: a one-element list or its text, psql frames allowed."""
    if isinstance(output, str):
        output = _json_from_text(output, where)
    if isinstance(output, list) and len(output) == 1:
        output = output[0]
    if not isinstance(output, dict) or not isinstance(output.get("Plan"), dict):
        raise ParseError(where, "", "is not EXPLAIN (FORMAT JSON) output (no top-level 'Plan')")
    if not isinstance(output.get("Execution Time"), int | float):
        raise ParseError(where, "Execution Time", "is missing: the plan was not made with EXPLAIN ANALYZE",
                         "Run EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON): estimates alone prove nothing.")
    planning = output.get("Planning Time")
    return Plan(float(output["Execution Time"]), float(planning) if isinstance(planning, int | float) else None,
                output["Plan"], dict(output.get("Settings") or {}))


def _json_from_text(text: str, where: str) -> Any:
    # psql prints a "QUERY PLAN" header, dashes, and in aligned mode a "+" at each line end.
    lines = [re.sub(r"\s*\+\s*$", "", line) for line in text.splitlines()]
    body = "\n".join(lines)
    start, end = body.find("["), body.rfind("]")
    if start < 0 or end < start:
        raise ParseError(where, "", "holds no JSON plan (no '[' ... ']')")
    try:
        return json.loads(body[start:end + 1])
    except json.JSONDecodeError as exc:
        raise ParseError(where, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})") from exc


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
