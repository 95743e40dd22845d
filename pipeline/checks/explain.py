"""The ``explain`` check: every critical query's executed plan stays within budget.

collect: for each query (and parameter set), EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON)
         one warm-up and N measured runs, each inside a transaction that is always rolled
         back (READ ONLY unless the query is marked ``writes: true``), with a statement
         timeout; or ingest a plan file.
parse:   the plan of the median run, walked into nodes (explain_plan).
evaluate: time budget, big sequential scans, spills, estimate errors, buffer reads and
          plan-shape changes against the previous run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pipeline.checks.explain_plan import (
    Plan,
    PlanNode,
    UnsafeStatement,
    plan_shape,
    read_plan,
    safe_statement,
    spill,
    walk,
)
from pipeline.checks.interface import Check, CheckContext, Evaluation
from pipeline.errors import ArtifactMissing, CheckError, ParseError
from pipeline.model import Finding, Measurement, Status, ToolInfo
from pipeline.redact import redact

DEFAULT_RULES: dict[str, Any] = {"max_ms": 100.0, "max_seq_scan_rows": 10_000, "max_estimate_factor": 100.0,
                                 "max_shared_read_blocks": None}
DEFAULT_RUNS = 3
DEFAULT_STATEMENT_TIMEOUT_MS = 5_000
# Estimates on a handful of rows are noise; judge them only from this many rows on.
ESTIMATE_MIN_ROWS = 100
HISTORY_FILE = "explain-plans.json"
HISTORY_SCHEMA = "readiness.explain-plans/1"
EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) "


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


@dataclass(frozen=True)
class ExplainRaw:
    runs: tuple[QueryRun, ...]


@dataclass(frozen=True)
class ParsedQuery:
    run: QueryRun
    plan: Plan | None
    nodes: tuple[PlanNode, ...] = ()
    shape: list[str] = field(default_factory=list)


class ExplainCheck(Check[ExplainRaw, tuple[ParsedQuery, ...]]):
    """Critical queries: executed plans within time budget, no big seq scans, no spills, sane estimates."""

    name = "explain"
    title = "Query plans (EXPLAIN ANALYZE)"

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> ExplainRaw:
        queries = settings.get("queries") or []
        if not queries:
            raise ArtifactMissing("checks.explain.queries lists no query",
                                  "List the critical queries: name, sql (a file), params.")
        history_path = ctx.evidence_dir / HISTORY_FILE
        previous = _read_history(ctx.resolve(settings["baseline"]) if settings.get("baseline") else history_path)
        planned = [run for query in queries for run in _expand(query, settings, ctx)]
        live = [r for r in planned if r.plan_output is None and r.error is None]
        if live:
            planned = _explain_all(planned, settings, ctx)
        else:
            ctx.tool = ToolInfo("postgresql", "unknown", "ingest")
        runs = tuple(_with_previous(r, previous) for r in planned)
        evidence = ctx.evidence_dir / "explain-plans-this-run.json"
        evidence.write_text(json.dumps({r.key: r.plan_output for r in runs}, indent=1, default=str))
        ctx.add_evidence(evidence)
        _write_history(history_path, runs, previous)
        return ExplainRaw(runs)

    def parse(self, raw: ExplainRaw) -> tuple[ParsedQuery, ...]:
        parsed = []
        for run in raw.runs:
            if run.error is not None or run.plan_output is None:
                parsed.append(ParsedQuery(run, None))
                continue
            plan = read_plan(run.plan_output, f"plan of {run.key}")
            parsed.append(ParsedQuery(run, plan, tuple(walk(plan.root)), plan_shape(plan.root)))
        return tuple(parsed)

    def evaluate(self, parsed: tuple[ParsedQuery, ...], settings: dict[str, Any]) -> Evaluation:
        return evaluate_explain(parsed)


def _expand(query: dict[str, Any], settings: dict[str, Any], ctx: CheckContext) -> list[QueryRun]:
    """One QueryRun per parameter set; an ingested plan is read here (it is collected evidence)."""
    rules = {**DEFAULT_RULES, **(settings.get("defaults") or {}),
             **{k: v for k, v in query.items() if k in DEFAULT_RULES}}
    sets: dict[str, dict[str, Any]] = (
        {label: dict(p) for label, p in query["param_sets"].items()} if query.get("param_sets")
        else {"": dict(query.get("params") or {})})
    runs = []
    for label, params in sets.items():
        key = f"{query['name']}[{label}]" if label else query["name"]
        run = QueryRun(key, query["name"], params, rules)
        if query.get("plan"):
            path = ctx.resolve(query["plan"])
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ArtifactMissing(f"the plan file {path} of query {query['name']} cannot be read: "
                                      f"{exc.strerror}") from exc
            ctx.add_evidence(path)
            run = QueryRun(key, query["name"], params, rules, plan_output=text)
        runs.append(run)
    return runs


def _explain_all(planned: list[QueryRun], settings: dict[str, Any], ctx: CheckContext) -> list[QueryRun]:
    dsn = settings.get("dsn") or os.environ.get("READINESS_DATABASE_URL")
    if not dsn:
        raise ArtifactMissing("no database to explain against: checks.explain.dsn is empty and "
                              "READINESS_DATABASE_URL is not set",
                              "Set READINESS_DATABASE_URL (the Nox sessions do when the gate starts the service).")
    queries = {q["name"]: q for q in settings["queries"]}
    timeout_ms = int(settings.get("statement_timeout_ms", DEFAULT_STATEMENT_TIMEOUT_MS))
    repeats = int(settings.get("runs", DEFAULT_RUNS))
    try:
        conn = psycopg.connect(dsn, connect_timeout=10, application_name="readiness-gate explain")
    except psycopg.Error as exc:
        raise CheckError(f"cannot connect to the database: {redact(str(exc)).strip()}",
                         "Check READINESS_DATABASE_URL (host, port, database, user) and that the server runs."
                         ) from None
    try:
        version = conn.execute("SHOW server_version").fetchone()
        conn.rollback()
        ctx.tool = ToolInfo("postgresql", str(version[0]) if version else "unknown", "run",
                            (EXPLAIN.strip(), f"runs={repeats}", f"statement_timeout={timeout_ms}ms"))
        done = []
        for run in planned:
            if run.plan_output is not None:
                done.append(run)
                continue
            query = queries[run.name]
            done.append(_explain_one(conn, run, ctx.resolve(query["sql"]), bool(query.get("writes")),
                                     timeout_ms, repeats))
        return done
    finally:
        # Never leave anything to commit (psycopg would commit on a clean `with` exit); a broken
        # connection must not hide the error that broke it.
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


def _explain_one(conn: psycopg.Connection[Any], run: QueryRun, sql_path: Path, writes: bool, timeout_ms: int,
                 repeats: int) -> QueryRun:
    """Warm-up, then ``repeats`` measured runs; the plan of the median one. Errors become data."""
    try:
        sql, needed = safe_statement(sql_path.read_text(encoding="utf-8"))
    except OSError as exc:
        return _failed(run, f"its SQL file {sql_path} cannot be read: {exc.strerror}")
    except UnsafeStatement as exc:
        return _failed(run, f"refused before it reached the server: {exc}")
    missing = sorted(needed - set(run.params))
    if missing:
        return _failed(run, f"no value for parameter(s) {', '.join(missing)}; set params in the config")
    outputs: list[tuple[float, Any]] = []
    for attempt in range(repeats + 1):
        try:
            output = _explain_in_rolled_back_transaction(conn, EXPLAIN + sql, run.params, writes, timeout_ms)
        except psycopg.errors.QueryCanceled:
            return _failed(run, f"ran past the statement timeout ({timeout_ms} ms)")
        except psycopg.Error as exc:
            return _failed(run, f"the server refused it: {redact(str(exc)).strip()}")
        if attempt:  # the first run only warms the caches
            outputs.append((float(output[0]["Execution Time"]), output))
    outputs.sort(key=lambda pair: pair[0])
    median = outputs[len(outputs) // 2][1]
    return QueryRun(run.key, run.name, run.params, run.rules, median, tuple(t for t, _ in outputs))


def _explain_in_rolled_back_transaction(conn: psycopg.Connection[Any], statement: str,
                                        params: dict[str, Any], writes: bool, timeout_ms: int) -> Any:
    # READ ONLY makes the server refuse any write; the rollback undoes what a `writes: true`
    # query changed. Both, always: EXPLAIN ANALYZE really executes the statement.
    conn.read_only = not writes
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
            cur.execute(statement, params)
            row = cur.fetchone()
    finally:
        conn.rollback()
    assert row is not None
    return row[0]


def _failed(run: QueryRun, reason: str) -> QueryRun:
    return QueryRun(run.key, run.name, run.params, run.rules, error=f"Query {run.key}: {reason}.")


def _read_history(path: Path) -> dict[str, list[str]]:
    """Plan shapes of the previous run (or a baseline): our history file or an explain result file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if data.get("schema") == HISTORY_SCHEMA:
        return {k: list(v["shape"]) for k, v in data.get("queries", {}).items()}
    return {q["key"]: list(q["shape"]) for q in data.get("details", {}).get("queries", []) if q.get("shape")}


def _with_previous(run: QueryRun, previous: dict[str, list[str]]) -> QueryRun:
    return QueryRun(run.key, run.name, run.params, run.rules, run.plan_output, run.timings_ms, run.error,
                    previous.get(run.key))


def _write_history(path: Path, runs: tuple[QueryRun, ...], previous: dict[str, list[str]]) -> None:
    shapes = {k: {"shape": v} for k, v in previous.items()}
    for run in runs:
        if run.plan_output is not None:
            try:
                shapes[run.key] = {"shape": plan_shape(read_plan(run.plan_output, run.key).root)}
            except ParseError:
                continue  # an unreadable plan is reported by parse; it is not a baseline
    path.write_text(json.dumps({"schema": HISTORY_SCHEMA, "written_at": dt.datetime.now(dt.UTC).isoformat(),
                                "queries": shapes}, indent=1))


def evaluate_explain(parsed: tuple[ParsedQuery, ...]) -> Evaluation:
    """Pure policy over every query's plan."""
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
    details = {"queries": rows}
    explained = sum(1 for q in parsed if q.plan is not None)
    reasons = tuple(errors) + tuple(f.title for f in failing)
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} plan problem(s) in {explained} explained query run(s).",
                          reasons, tuple(measurements), tuple(findings), details)
    if errors:
        return Evaluation(Status.ERROR, f"{len(errors)} of {len(parsed)} query run(s) could not be explained.",
                          reasons, tuple(measurements), tuple(findings), details)
    return Evaluation(Status.PASS, f"{explained} query run(s) explained; every plan is within budget.",
                      tuple(f.title for f in findings), tuple(measurements), tuple(findings), details)


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
