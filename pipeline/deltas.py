"""What changed since the baseline, per check, and the ``deltas`` rules that gate on it. Pure: no I/O.

Findings are matched by their stable id (new / fixed / persisting). The numbers are the
results' own: every numeric measurement (coverage, the k6 thresholds per endpoint, each
query's median time and plan total cost, alert and vulnerability counts) and every bar of a ``Bars`` view
(coverage per package, p95 per endpoint). ``key_figures`` is the short list the history
keeps and the trend charts draw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.model import CheckResult, Finding
from pipeline.views import Bars

HIGH = frozenset({"high", "critical"})
# The names a result's details list (the dashboards and slo checks: what they read), and how they are called.
NAMED = {"alerts": "alert rules", "dashboards": "dashboards"}
P95_VIEW = "Latency per endpoint"
QUERY_TIME = " execution time (median)"
PLAN_COST = " plan total cost"  # the explain check's measurement of a query's planner cost


@dataclass(frozen=True)
class CheckDelta:
    """One check against its baseline: findings new, fixed and persisting; numbers that moved."""

    check: str
    new: tuple[Finding, ...]
    fixed: tuple[Finding, ...]
    persisting: int
    numbers: tuple[tuple[str, float, float], ...]  # (name, baseline, now) of every number that moved
    named: tuple[Named, ...] = ()  # alert rules and dashboards added or removed, by name

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"check": self.check, "persisting": self.persisting,
                "new": [_finding(f) for f in self.new], "fixed": [_finding(f) for f in self.fixed],
                "numbers": [{"name": n, "baseline": b, "now": a, "change": round(a - b, 6)}
                            for n, b, a in self.numbers],
                "named": [n.to_dict() for n in self.named]}


@dataclass(frozen=True)
class Named:
    """Things a check saw by name (its alert rules, its dashboards): which were added, which removed,
    and which of the removed ones the baseline's policy required (a loosening the policy diff judges)."""

    kind: str  # a key of NAMED: alerts | dashboards
    added: tuple[str, ...]
    removed: tuple[str, ...]
    required: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "what": NAMED[self.kind], "added": list(self.added),
                "removed": list(self.removed), "removed_required": list(self.required)}


def _finding(finding: Finding) -> dict[str, Any]:
    return {"id": finding.id, "severity": finding.severity, "title": finding.title, "failing": finding.failing,
            "waived_by": finding.waived_by}


def numbers(result: CheckResult) -> dict[str, float]:
    """Every number a result holds: its numeric measurements and the bars of its ``Bars`` views."""
    found = {m.name: float(m.value) for m in result.measurements
             if isinstance(m.value, int | float) and not isinstance(m.value, bool)}
    for view in result.views:
        if isinstance(view, Bars):
            found.update({f"{view.title}: {row.label}": float(row.value) for row in view.rows})
    return found


def names(result: CheckResult) -> dict[str, frozenset[str]]:
    """The names a result lists per kind (``NAMED``); a kind it does not list as text is unknown, not empty."""
    found = {}
    for kind in NAMED:
        listed = result.details.get(kind)
        if isinstance(listed, list) and all(isinstance(n, str) for n in listed):
            found[kind] = frozenset(listed)
    return found


def required_names(policy: dict[str, Any] | None) -> dict[str, frozenset[str]]:
    """The alerts and dashboards a recorded policy requires (``dashboards.require_alerts``, ``..._dashboards``)."""
    rules = (policy or {}).get("rules") or {}
    found = {}
    for kind in NAMED:
        value = (rules.get(f"dashboards.require_{kind}") or {}).get("value")
        found[kind] = frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()
    return found


def _named(old: CheckResult, new: CheckResult, required: dict[str, frozenset[str]]) -> tuple[Named, ...]:
    was, is_ = names(old), names(new)
    changed = []
    for kind in (k for k in NAMED if k in was and k in is_ and was[k] != is_[k]):
        removed = tuple(sorted(was[kind] - is_[kind]))
        changed.append(Named(kind, tuple(sorted(is_[kind] - was[kind])), removed,
                             tuple(n for n in removed if n in required.get(kind, ()))))
    return tuple(changed)


def compare(baseline: Iterable[CheckResult], now: Iterable[CheckResult],
            required: dict[str, frozenset[str]] | None = None) -> tuple[CheckDelta, ...]:
    """Per check present in both, what changed; ``required``: the alerts and dashboards (by ``NAMED`` kind)
    the baseline's policy required, so that their removal is marked."""
    before = {r.check: r for r in baseline}
    deltas = []
    for result in now:
        old = before.get(result.check)
        if old is None:
            continue
        old_ids, new_ids = {f.id for f in old.findings}, {f.id for f in result.findings}
        was, is_ = numbers(old), numbers(result)
        moved = tuple((name, was[name], is_[name]) for name in sorted(set(was) & set(is_)) if was[name] != is_[name])
        deltas.append(CheckDelta(result.check, tuple(f for f in result.findings if f.id not in old_ids),
                                 tuple(f for f in old.findings if f.id not in new_ids),
                                 len(old_ids & new_ids), moved, _named(old, result, required or {})))
    return tuple(deltas)


def broken_rules(deltas: Iterable[CheckDelta], rules: dict[str, Any]) -> list[str]:
    """One sentence per ``deltas`` rule the change breaks."""
    broken: list[str] = []
    for delta in deltas:
        if rules.get("no_new_high"):
            broken += [f"{delta.check}: new {f.severity} finding {f.id} since the baseline"
                       + (f" (waived by {f.waived_by}; deltas.no_new_high counts it)" if f.waived_by else "")
                       for f in delta.new if f.severity.lower() in HIGH]
        for name, was, now in delta.numbers:
            broken += _number_rule(delta.check, name, was, now, rules)
    return broken


# The growth rules: (config key, check, whether a number is one the rule judges, how it is named, unit).
_GROWTH_RULES: tuple[tuple[str, str, Callable[[str], bool], Callable[[str], str], str], ...] = (
    ("max_p95_growth", "k6", lambda n: n.startswith(f"{P95_VIEW}: "),
     lambda n: f"p95 of {n.removeprefix(P95_VIEW + ': ')}", "ms"),
    ("max_query_time_growth", "explain", lambda n: n.endswith(QUERY_TIME), lambda n: n, "ms"),
    ("max_plan_cost_growth", "explain", lambda n: n.endswith(PLAN_COST), lambda n: n, "cost units"),
)


def _number_rule(check: str, name: str, was: float, now: float, rules: dict[str, Any]) -> list[str]:
    # Rounded: 0.91 - 0.905 is 0.005000000000000004 in floats, and a drop of exactly the limit is allowed.
    growth = round((now - was) / was, 9) if was > 0 else None
    for key, owner, judged, named, unit in _GROWTH_RULES:
        limit = rules.get(key)
        if limit is not None and check == owner and judged(name) and growth is not None and growth > limit:
            return [f"{check}: {named(name)} grew {growth:.0%} ({was:g} -> {now:g} {unit}), more than "
                    f"deltas.{key} {limit:.0%}"]
    limit = rules.get("max_coverage_drop")
    if limit is not None and check == "coverage" and name == "line_rate" and round(was - now, 9) > limit:
        return [f"coverage: line rate dropped {was - now:.2%} ({was:.2%} -> {now:.2%}), more than "
                f"deltas.max_coverage_drop {limit:.2%}"]
    return []


def key_figures(results: Iterable[CheckResult]) -> dict[str, float]:
    """The figures the history keeps: coverage, p95 per endpoint, open vulnerabilities by severity,
    open findings per check, and the gate's duration."""
    results = list(results)
    figures: dict[str, float] = {}
    for result in results:
        open_findings = [f for f in result.findings if f.failing and not f.waived_by]
        figures[f"findings: {result.check}"] = len(open_findings)
        found = numbers(result)
        if result.check == "coverage" and "line_rate" in found:
            figures["coverage: line rate"] = found["line_rate"]
        if result.check == "k6":
            figures.update({f"p95: {k.removeprefix(P95_VIEW + ': ')}": v for k, v in found.items()
                            if k.startswith(P95_VIEW + ": ")})
        if result.check == "audit":
            by_severity = Counter(f.severity.lower() for f in open_findings)
            # The usual four always (a zero is a point of the trend), and whatever else a tool says (moderate).
            severities = dict.fromkeys(("critical", "high", "medium", "low")) | dict.fromkeys(sorted(by_severity))
            figures.update({f"vulnerabilities: {s}": by_severity.get(s, 0) for s in severities})
    if results:
        span = max(r.finished_at for r in results) - min(r.started_at for r in results)
        figures["gate: duration s"] = round(span.total_seconds(), 3)
    return figures
