"""The SLO matrix: per operation, the spec's x-sla beside the k6 threshold, the alert and the panel.

Pure functions over what ``collect`` read. An operation is matched by name: k6 tags (default
its operationId, else ``k6_tags``), the route label (default its path, else ``routes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipeline.checks.dashboards import promql
from pipeline.checks.k6.thresholds import parse_expression
from pipeline.model import Finding

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Objective:
    """An operation and its x-sla."""

    operation: str
    operation_id: str
    path: str
    p95_ms: float | None
    error_rate: float | None


@dataclass(frozen=True)
class Watcher:
    """An alert or a panel query: which routes it watches (None: every route), and for alerts the limit."""

    name: str
    kind: str  # "latency" or "errors"
    routes: frozenset[str] | None
    patterns: tuple[str, ...]
    limit: float | None  # seconds for latency, a ratio for errors
    quantile: float | None
    for_s: float | None

    def watches(self, route: str) -> bool:
        """Whether the expression selects this route (a grouping by route selects every route)."""
        if self.routes is None:
            return True
        return route in self.routes or any(re.fullmatch(p, route) for p in self.patterns)


def watcher(name: str, expression: str, latency_metric: str, error_metrics: Iterable[str], route_label: str,
            for_: str = "") -> Watcher | None:
    """What a PromQL expression watches; None when it selects neither latency nor errors per route."""
    tree = promql.parse(expression)
    if tree is None:
        return None
    chosen = list(promql.selectors(tree))
    names = {s.name for s in chosen}
    kind = "latency" if latency_metric in names else "errors" if names & set(error_metrics) else None
    if kind is None:
        return None
    exact = {v for s in chosen for label, op, v in s.matchers if label == route_label and op == "="}
    patterns = tuple(v for s in chosen for label, op, v in s.matchers if label == route_label and op == "=~")
    per_route = route_label in promql.grouping(tree)
    routes = None if (per_route or kind == "errors") and not exact and not patterns else frozenset(exact)
    if kind == "latency" and routes is None and not per_route:
        return None  # one p95 over every route hides a slow route: it watches none of them
    compared = promql.threshold(tree)
    return Watcher(name, kind, routes, patterns, compared[1] if compared else None, promql.quantile(tree),
                   seconds(for_) if for_ else 0.0)


def seconds(text: str) -> float | None:
    """A Prometheus duration such as 10m or 1h30m, in seconds; None when it is not one."""
    parts = _PART.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _SECONDS[u] for n, u in parts)


def k6_limits(thresholds: Mapping[str, Iterable[str]], tags: Iterable[str]) -> tuple[float | None, float | None]:
    """The loosest p95 limit (ms) and error-rate limit over the tags (None: some tag has none)."""
    p95: list[float | None] = []
    errors: list[float | None] = []
    for tag in tags:
        p95.append(_limit(thresholds.get(f"http_req_duration{{name:{tag}}}", ()), 95.0))
        errors.append(_limit(thresholds.get(f"http_req_failed{{name:{tag}}}", ()), None))
    return _loosest(p95), _loosest(errors)


def _loosest(limits: list[float | None]) -> float | None:
    """The largest limit; None when there is none or some tag has none (that tag is unguarded)."""
    if not limits or any(x is None for x in limits):
        return None
    return max(x for x in limits if x is not None)


def _limit(expressions: Iterable[str], percentile: float | None) -> float | None:
    limits = [e.limit for e in map(parse_expression, expressions)
              if e is not None and e.operator in ("<", "<=") and e.percentile == percentile
              and (percentile is not None or e.aggregation == "rate")]
    return min(limits) if limits else None


@dataclass(frozen=True)
class Row:
    """One operation's line of the matrix, and what is wrong with it."""

    cells: tuple[str, ...]
    findings: tuple[Finding, ...]


def row(objective: Objective, tags: tuple[str, ...], thresholds: Mapping[str, Iterable[str]], route: str,
        alerts: Iterable[Watcher], panels: Iterable[Watcher], max_for_s: float) -> Row:
    """The matrix row of one operation with its findings."""
    op, sla_ms, sla_err = objective.operation, objective.p95_ms, objective.error_rate
    load_ms, load_err = k6_limits(thresholds, tags)
    latency = [a for a in alerts if a.kind == "latency" and a.watches(route)]
    errors = [a for a in alerts if a.kind == "errors" and a.watches(route)]
    panel = next((p for p in panels if p.kind == "latency" and p.watches(route)), None)
    problems: list[tuple[str, str]] = []
    if load_ms is None:
        problems.append(("no-load-threshold", f"no k6 p(95) threshold for its requests ({', '.join(tags) or 'none'})"))
    elif sla_ms is not None and load_ms > sla_ms:
        problems.append(("load-looser", f"the k6 threshold p(95)<{load_ms:g} ms is looser than the spec's {sla_ms:g}"))
    if sla_err is not None and load_err is not None and load_err > sla_err:
        problems.append(("load-looser", f"the k6 error threshold rate<{load_err:g} is looser than {sla_err:g}"))
    best = min(latency, key=lambda a: a.limit if a.limit is not None else float("inf"), default=None)
    if best is None:
        problems.append(("no-alert", f"no latency alert watches route {route}"))
    elif sla_ms is not None and (best.limit is None or best.limit * 1000 > sla_ms or (best.quantile or 0) < 0.95):
        problems.append(("alert-looser", f"alert {best.name} fires above {_ms(best.limit)} (quantile "
                                         f"{best.quantile}), looser than the spec's p95 {sla_ms:g} ms"))
    elif best.for_s is not None and best.for_s > max_for_s:
        problems.append(("alert-looser", f"alert {best.name} waits for: {best.for_s:g} s before it fires"))
    if sla_err is not None and errors and all(a.limit is None or a.limit > sla_err for a in errors):
        problems.append(("alert-looser", f"no error alert fires at the spec's error rate {sla_err:g}"))
    if panel is None:
        problems.append(("no-panel", f"no dashboard panel shows the latency of route {route}"))
    findings = tuple(Finding(f"{kind}:{op}", "medium", f"{op}: {text}", op) for kind, text in _unique(problems))
    cells = (op, f"{_n(sla_ms)} ms / {_n(sla_err)}", f"{_n(load_ms)} ms / {_n(load_err)} ({', '.join(tags)})",
             f"{best.name}: {_ms(best.limit)} for {_n(best.for_s)} s" if best else "none",
             panel.name if panel else "none")
    return Row(cells, findings)


def _unique(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for kind, text in problems:
        seen[kind] = f"{seen[kind]}; {text}" if kind in seen else text
    return list(seen.items())


def _ms(limit: float | None) -> str:
    return "?" if limit is None else f"{limit * 1000:g} ms"


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"
