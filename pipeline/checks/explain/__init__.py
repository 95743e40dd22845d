"""The ``explain`` check: every critical query's executed plan stays within budget.

collect: for each query (and parameter set), the SQL guard (explain_sql) first, then
         EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) one warm-up and N measured runs,
         each in a transaction that is always rolled back (explain_session); or ingest a plan file.
parse:   the plan of the median run, validated and walked into nodes (explain_plan).
evaluate: time budget, big sequential scans, spills, estimate errors, buffer reads and
          plan-shape changes against the previous run (explain_history).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from pipeline.checks.explain.history import HISTORY_FILE, next_history, read_facts, read_history, write_history
from pipeline.checks.explain.plan import plan_shape, read_plan, walk
from pipeline.checks.explain.policy import ParsedQuery, QueryRun, evaluate_explain
from pipeline.checks.explain.session import ExplainSession, open_session, statement_timeout
from pipeline.checks.explain.settings import ExplainSettings, Query, Rules, rules_for
from pipeline.checks.explain.sql import EXPLAIN_PREFIX, UnsafeStatement, guard
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import ToolInfo
from pipeline.redact import redact

__all__ = ["ExplainCheck", "ExplainSettings", "ParsedQuery", "QueryRun", "Rules", "evaluate_explain",
           "explain_query", "rules_for"]


@dataclass(frozen=True)
class ExplainRaw:
    """Every query run as collected, and who ran them."""

    runs: tuple[QueryRun, ...]
    role: str | None = None  # current_user the plans ran as; None when every plan was ingested
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExplainParsed:
    """Every query run with its validated plan."""

    queries: tuple[ParsedQuery, ...]
    role: str | None = None
    notes: tuple[str, ...] = ()


class ExplainCheck(Check[ExplainSettings, ExplainRaw, ExplainParsed]):
    """Critical queries: executed plans within time budget, no big seq scans, no spills, sane estimates."""

    name = "explain"
    title = "Query plans (EXPLAIN ANALYZE)"
    order = 60
    needs_target = True
    Settings = ExplainSettings
    extra = "explain"
    findings = {
        "time": FindingKind("a query's median execution time exceeds its max_ms budget",
                            "Read its plan in the report: add the index it lacks, fetch fewer rows or columns, "
                            "or simplify the query."),
        "seq-scan": FindingKind("a sequential scan read more rows than max_seq_scan_rows",
                                "Add an index that matches the query's filter (and sort), then re-run the check."),
        "spill": FindingKind("a sort or hash spilled to disk",
                             "Make the query handle fewer rows (an index that returns them in order, a tighter "
                             "filter) or raise work_mem for it."),
        "estimate": FindingKind("the planner's row estimate was off by more than max_estimate_factor",
                                "Run ANALYZE on the table, raise its statistics target, or add extended "
                                "statistics for correlated columns."),
        "buffers": FindingKind("the query read more shared blocks from outside the cache than "
                               "max_shared_read_blocks", "Make the query touch fewer pages (an index, fewer rows)."),
        "plan-changed": FindingKind("the plan's shape changed since the previous run or the baseline",
                                    "Compare the old and new plan in the report; restore the index or statistics "
                                    "the old plan used, or accept the new plan if it is the better one."),
    }

    def collect(self, settings: ExplainSettings, ctx: CheckContext) -> ExplainRaw:
        """Explain every query (or read its ingested plan) and keep the plans and their shapes."""
        if not settings.queries:
            raise ArtifactMissing("checks.explain.queries lists no query",
                                  "List the critical queries: name, sql (a file), params.")
        history_path = ctx.evidence_dir / HISTORY_FILE
        baseline = settings.baseline
        source = ctx.resolve(baseline) if baseline else history_path
        previous, note = read_history(source, required=bool(baseline))
        # The previous run is a reference only when asked for (compare_previous_run); a baseline always is.
        compared, facts = bool(baseline) or settings.compare_previous_run, read_facts(source)
        planned = [run for query in settings.queries for run in _expand(query, ctx)]
        role = None
        if any(r.plan_output is None and r.error is None for r in planned):
            planned, role = _explain_all(planned, settings, ctx)
        else:
            ctx.tool = ToolInfo("postgresql", "unknown", "ingest")
        runs = tuple(replace(r, previous_shape=previous.get(r.key), previous_facts=facts.get(r.key, {}))
                     if compared else r for r in planned)
        evidence = ctx.evidence_dir / "explain-plans-this-run.json"
        evidence.write_text(json.dumps({r.key: r.plan_output for r in runs}, indent=1, default=str))
        ctx.add_evidence(evidence)
        history = read_history(history_path, required=False)[0] if baseline else previous
        write_history(history_path, *next_history(runs, settings, history, {} if baseline else facts,
                                                  compared and not baseline))
        return ExplainRaw(runs, role, (note,) if note else ())

    def parse(self, raw: ExplainRaw) -> ExplainParsed:
        """Each plan validated and walked; an unreadable plan is that query's error, not the others'."""
        parsed = []
        for run in raw.runs:
            if run.error is not None or run.plan_output is None:
                parsed.append(ParsedQuery(run, None))
                continue
            try:
                plan = read_plan(run.plan_output, _plan_source(run))
            except ParseError as exc:
                parsed.append(ParsedQuery(replace(run, error=exc.reason), None))
                continue
            parsed.append(ParsedQuery(run, plan, tuple(walk(plan.root)), plan_shape(plan.root)))
        return ExplainParsed(tuple(parsed), raw.role, raw.notes)

    def evaluate(self, parsed: ExplainParsed, settings: ExplainSettings) -> Evaluation:
        """Every plan judged by its query's rules from the settings."""
        return evaluate_explain(parsed.queries, settings, role=parsed.role, notes=parsed.notes)


def _plan_source(run: QueryRun) -> str:
    return f"plan of query {run.key}" + (f" ({run.source})" if run.source else "")


def _expand(query: Query, ctx: CheckContext) -> list[QueryRun]:
    """One QueryRun per parameter set; an ingested plan is read here (it is collected evidence)."""
    sets = ({label: dict(p) for label, p in query.param_sets.items()} if query.param_sets
            else {"": dict(query.params)})
    runs = []
    for label, params in sets.items():
        run = QueryRun(f"{query.name}[{label}]" if label else query.name, query.name, params)
        if query.plan:
            path = ctx.resolve(query.plan)
            kept = ctx.add_evidence(path) if path.is_file() else path  # judged: the copy that is signed
            try:
                text = kept.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ArtifactMissing(f"the plan file {path} of query {query.name} cannot be read: "
                                      f"{getattr(exc, 'strerror', None) or exc}") from exc
            run = replace(run, plan_output=text, source=str(path))
        runs.append(run)
    return runs


def _explain_all(planned: list[QueryRun], settings: ExplainSettings,
                 ctx: CheckContext) -> tuple[list[QueryRun], str]:
    """Every live run explained on one connection; the runs and the role (current_user) they ran as."""
    dsn = ctx.database(settings.dsn, "explain against")
    repeats = settings.runs
    live = sum(1 for r in planned if r.plan_output is None and r.error is None)
    timeout = statement_timeout(settings.statement_timeout_ms, live * (repeats + 1), ctx.deadline_s)
    with open_session(dsn, settings.role, timeout) as session:
        ctx.tool = ToolInfo("postgresql", session.server_version, "run",
                            (EXPLAIN_PREFIX.strip(), f"runs={repeats}", f"statement_timeout={timeout.ms}ms",
                             f"role={session.current_user}"))
        done = []
        for run in planned:
            if run.plan_output is not None:
                done.append(run)
                continue
            query = settings.query(run.name)
            assert query is not None and (query.sql or query.sql_file)  # a query without a plan has SQL
            source = query.sql if query.sql else ctx.resolve(query.sql_file or "")
            done.append(explain_query(session, run, source, query.writes, repeats))
        return done, session.current_user


def explain_query(session: ExplainSession, run: QueryRun, sql: Path | str, writes: bool, repeats: int) -> QueryRun:
    """Warm-up, then ``repeats`` measured runs; the plan of the median one. Errors become data.

    ``sql`` is the statement itself (``sql:`` inline) or the file that holds it (``sql_file:``).
    """
    try:
        statement = guard(sql if isinstance(sql, str) else sql.read_text(encoding="utf-8"), writes=writes)
    except (OSError, UnicodeDecodeError) as exc:
        return _failed(run, f"its SQL file {sql} cannot be read: {getattr(exc, 'strerror', None) or exc}")
    except UnsafeStatement as exc:
        return _failed(run, f"refused before it reached the server: {exc}")
    missing = sorted(set(statement.names) - set(run.params))
    if missing:
        return _failed(run, f"no value for parameter(s) {', '.join(missing)}; set params in the config")
    outputs: list[tuple[float, Any]] = []
    for attempt in range(repeats + 1):
        try:
            output = session.explain(statement, run.params, writes)
            plan = read_plan(output, _plan_source(run))
        except psycopg.errors.QueryCanceled:
            return _failed(run, f"ran past the statement timeout ({session.timeout.describe()})")
        except psycopg.Error as exc:
            return _failed(run, f"the server refused it: {redact(str(exc)).strip()}")
        except ParseError as exc:
            return replace(run, error=exc.reason)
        if attempt:  # the first run only warms the caches
            outputs.append((plan.execution_ms, output))
    outputs.sort(key=lambda pair: pair[0])
    return replace(run, plan_output=outputs[len(outputs) // 2][1], timings_ms=tuple(t for t, _ in outputs))


def _failed(run: QueryRun, reason: str) -> QueryRun:
    return replace(run, error=f"Query {run.key}: {reason}.")
