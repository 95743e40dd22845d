"""The dashboards check's policy: pure judgement over what was probed and read (no I/O).

Every finding id is ``<kind>:<specifics>`` with a kind the check catalogues; names taken
from files, answers or the config have their whitespace replaced (``_``) so an id never
holds a space, and the id as it read before keeps matching as an alias.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.checks.dashboards.live import GrafanaAnswer, Probe, PrometheusAnswer
from pipeline.checks.dashboards.monitoring import AlertRule, Dashboard, Family, exposed_series, metric_names
from pipeline.checks.dashboards.promtool import PromtoolVerdict
from pipeline.checks.dashboards.settings import DashboardsSettings
from pipeline.checks.interface import Evaluation
from pipeline.model import Finding, Measurement, Status
from pipeline.views import Facts

NOT_VALIDATED = ("The alert rules were NOT validated by Prometheus's own parser (promtool is not installed); only "
                 "the gate's structural check ran. Install promtool (apt install prometheus) to have them validated.")


@dataclass(frozen=True)
class DashboardsRaw:
    """What collect gathered: the probes, the monitoring files, and the live answers."""

    project_dir: Path  # files are named relative to it in findings
    health: Probe | None
    ready: Probe | None
    metrics: Probe | None
    database_up: bool | None
    dashboard_files: tuple[Path, ...]
    rule_files: tuple[tuple[Path, PromtoolVerdict | None], ...]  # (file, promtool's verdict; None: not run)
    promtool: bool  # whether Prometheus's own parser validated the rule files
    grafana: GrafanaAnswer | None
    prometheus: PrometheusAnswer | None


@dataclass(frozen=True)
class Lint:
    """promtool's lint complaint about a rule file (semantic: duplicate rules)."""

    file: Path
    complaint: str


@dataclass(frozen=True)
class DashboardsParsed:
    """The typed facts: metric families, dashboards, alert rules, and what could not be read."""

    raw: DashboardsRaw
    families: dict[str, Family] | None
    dashboards: tuple[Dashboard, ...]
    rules: tuple[AlertRule, ...]
    unreadable: tuple[str, ...] = ()  # monitoring files that cannot be read or parsed (file and line)
    lint: tuple[Lint, ...] = ()


def evaluate_dashboards(parsed: DashboardsParsed, settings: DashboardsSettings) -> Evaluation:
    """Pure policy over what was probed and read.

    A monitoring file that cannot be read or parsed is an ``error`` (not a finding that a
    waiver could cover); missing alerts, labels or panel titles are findings.
    """
    raw = parsed.raw
    findings = (_probe_findings(raw, settings) + _metric_findings(parsed, settings)
                + _dashboard_findings(parsed, settings) + _rule_findings(parsed, settings)
                + _live_findings(raw, settings))
    measurements = _measurements(parsed, settings)
    notes = (NOT_VALIDATED,) if raw.rule_files and not raw.promtool else ()
    details = {"alerts": sorted(r.name for r in parsed.rules), "dashboards": [d.title for d in parsed.dashboards],
               "prometheus": raw.prometheus.to_dict() if raw.prometheus else None,
               "grafana": raw.grafana.to_dict() if raw.grafana else None, "rules_validated_by_promtool": raw.promtool}
    failing = tuple(f.title for f in findings if f.failing)
    common: dict[str, Any] = {"measurements": measurements, "findings": tuple(findings), "details": details,
                              "views": (_facts(parsed),)}
    if parsed.unreadable:
        also = f" {len(failing)} monitoring problem(s) were found in what could be read." if failing else ""
        return Evaluation(Status.ERROR, f"{len(parsed.unreadable)} monitoring file(s) cannot be read or parsed."
                          + also, (*parsed.unreadable, "Fix the files (the line is named); the check cannot judge "
                                   "monitoring it cannot read.", *failing, *notes), **common)
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} monitoring problem(s).", (*failing, *notes), **common)
    return Evaluation(Status.PASS, "Health, readiness, metrics, dashboards and alert rules are in place.", notes,
                      **common)


def _measurements(parsed: DashboardsParsed, settings: DashboardsSettings) -> tuple[Measurement, ...]:
    """Status and time of each probe, the database, and how much monitoring was read."""
    raw, limit = parsed.raw, settings.max_response_ms
    found: list[Measurement] = []
    for kind, probe in _probes(raw):
        found.append(Measurement(f"{kind} status", probe.status, "HTTP", "2xx", probe.ok))
        if probe.elapsed_ms is not None:
            found.append(Measurement(f"{kind} response time", probe.elapsed_ms, "ms", f"<= {limit:g}",
                                     probe.elapsed_ms <= limit))
    if raw.ready is not None and raw.database_up is False:
        found.append(Measurement("database answers", "no", "", "yes", False))
    if parsed.families is not None:
        found.append(Measurement("metric families exposed", len(parsed.families), ""))
    found.append(Measurement("dashboards read", len(parsed.dashboards), "files"))
    found.append(Measurement("alert rules read", len(parsed.rules), "rules"))
    found.append(Measurement("monitoring files unreadable", len(parsed.unreadable), "files", "== 0",
                             not parsed.unreadable))
    if raw.rule_files:
        found.append(Measurement("rules validated by promtool", "yes" if raw.promtool else "no", ""))
    return tuple(found)


def _probes(raw: DashboardsRaw) -> list[tuple[str, Probe]]:
    return [(kind, probe) for kind, probe in (("health", raw.health), ("ready", raw.ready), ("metrics", raw.metrics))
            if probe is not None]


def _probe_findings(raw: DashboardsRaw, settings: DashboardsSettings) -> list[Finding]:
    """/health, /ready and /metrics answer 2xx within the limit; /ready says no while the database is down."""
    found = []
    limit = settings.max_response_ms
    for kind, probe in _probes(raw):
        if not probe.ok:
            answer = probe.error or f"HTTP {probe.status}"
            found.append(finding(("endpoint", kind), f"{probe.url} does not answer 2xx ({answer})", probe.url))
        elif probe.elapsed_ms is not None and probe.elapsed_ms > limit:
            found.append(finding(("endpoint", kind, "slow"), f"{probe.url} took {probe.elapsed_ms:.0f} ms "
                                 f"(limit {limit:g} ms)", probe.url))
    if raw.ready is not None and raw.database_up is False and raw.ready.ok:
        found.append(finding(("ready", "lies"), f"{raw.ready.url} answers {raw.ready.status} while the database "
                             "does not answer: readiness must depend on the database", raw.ready.url))
    return found


def _metric_findings(parsed: DashboardsParsed, settings: DashboardsSettings) -> list[Finding]:
    """Every required family is exposed, with its type and labels."""
    if parsed.families is None:
        return []
    found = []
    for wanted in settings.required_metrics():
        name = wanted.name
        family = parsed.families.get(name) or parsed.families.get(name.removesuffix("_total"))
        if family is None:
            found.append(finding(("metric", name), f"/metrics does not expose {name}", "metrics"))
            continue
        if wanted.type and family.type != wanted.type:
            found.append(finding(("metric", name, "type"), f"{name} is a {family.type}, not a {wanted.type}",
                                 "metrics"))
        missing = sorted(set(wanted.labels) - family.labels)
        if missing and not family.sample_names:
            found.append(finding(("metric", name, "labels"), f"{name} is declared but has no sample, so its labels "
                                 f"({', '.join(missing)}) cannot be checked; initialise its label values at "
                                 "start-up so dashboards and alerts see it before the first event", "metrics"))
        elif missing:
            found.append(finding(("metric", name, "labels"), f"{name} lacks the label(s) {', '.join(missing)}",
                                 "metrics"))
    return found


def _dashboard_findings(parsed: DashboardsParsed, settings: DashboardsSettings) -> list[Finding]:
    """Panels are sound, the required dashboards exist, and some panel queries each required series."""
    found = []
    for dashboard in parsed.dashboards:
        shown = project_path(Path(dashboard.path), parsed.raw.project_dir)
        found += [finding(("dashboard", dashboard.uid or dashboard.title, "panel"), f"{dashboard.title}: {problem}",
                          dashboard.path, file=shown) for problem in dashboard.problems]
    present = {d.uid for d in parsed.dashboards} | {d.title for d in parsed.dashboards}
    for wanted in settings.require_dashboards:
        if wanted not in present:
            found.append(finding(("dashboard", wanted), f"no dashboard file has uid or title {wanted!r}", "dashboards"))
    used = {name for d in parsed.dashboards for expr in d.expressions for name in metric_names(expr)}
    if parsed.dashboards:
        for series in _panel_metrics(parsed, settings):
            if not series & used:
                shown_name = min(series, key=len)
                found.append(finding(("dashboard", "metric", shown_name), f"no dashboard panel queries {shown_name}",
                                     "dashboards"))
    return found


def _panel_metrics(parsed: DashboardsParsed, settings: DashboardsSettings) -> list[set[str]]:
    """What panels must query: each ``panel_metrics`` series exactly, else each required metric by any of
    its series (a histogram counts as used when one of _bucket/_count/_sum is queried)."""
    if settings.panel_metrics:
        return [{name} for name in settings.panel_metrics]
    wanted = []
    for metric in settings.required_metrics():
        names = {metric.name, metric.name.removesuffix("_total")}
        family = (parsed.families or {}).get(metric.name)
        if family is not None:
            names |= family.sample_names
        wanted.append(names)
    return wanted


def _rule_findings(parsed: DashboardsParsed, settings: DashboardsSettings) -> list[Finding]:
    """promtool's lint, the required alerts, and each alert's labels, annotations and series."""
    raw = parsed.raw
    found = [finding(("rules", "lint"), f"promtool check rules {lint.file.name}: {lint.complaint}", "alert rules",
                     file=project_path(lint.file, raw.project_dir)) for lint in parsed.lint]
    by_name = {rule.name: rule for rule in parsed.rules}
    found += [finding(("alert", wanted), f"no alert rule named {wanted}", "alert rules")
              for wanted in settings.require_alerts if wanted not in by_name]
    exposed = exposed_series(parsed.families) if parsed.families is not None else None
    for rule in parsed.rules:
        problems = []
        if "severity" not in rule.labels:
            problems.append(("severity", f"alert {rule.name} has no severity label"))
        if "summary" not in rule.annotations:
            problems.append(("summary", f"alert {rule.name} has no summary annotation"))
        if not {"runbook_url", "description"} & rule.annotations.keys():
            problems.append(("runbook", f"alert {rule.name} has neither a runbook_url nor a description annotation"))
        unknown = sorted(metric_names(rule.expr) - exposed) if exposed is not None else []
        if unknown:
            problems.append(("metrics", f"alert {rule.name} uses {', '.join(unknown)}, which the service does not "
                                        "expose"))
        found += [finding(("alert", rule.name, what), title, rule.source, file=project_path(rule.file, raw.project_dir),
                          line=rule.line) for what, title in problems]
    return found


def _live_findings(raw: DashboardsRaw, settings: DashboardsSettings) -> list[Finding]:
    """Grafana is healthy and has the dashboards; Prometheus loaded the alerts and scrapes the service."""
    found = []
    if raw.grafana is not None:
        grafana = raw.grafana
        if not grafana.healthy:
            found.append(finding(("grafana", "health"), f"Grafana at {grafana.url} says it is not healthy "
                                 "(/api/health: database not ok)", grafana.url))
        found += [finding(("grafana", wanted), f"dashboard {wanted!r} is committed but not deployed in Grafana at "
                          f"{grafana.url}", grafana.url) for wanted, deployed in grafana.deployed if not deployed]
    if raw.prometheus is not None:
        prometheus = raw.prometheus
        found += [finding(("prometheus", "alert", wanted), f"alert {wanted} is not loaded in Prometheus at "
                          f"{prometheus.url}", prometheus.url)
                  for wanted in settings.require_alerts if wanted not in prometheus.alerts]
        if not prometheus.targets:
            found.append(finding(("prometheus", "target"), f"Prometheus has no scrape target for job "
                                 f"{prometheus.job!r}", prometheus.url))
        found += [finding(("prometheus", "target", "down"), f"Prometheus target {target.url} is {target.health} "
                          f"({target.error or 'no error text'})", target.url)
                  for target in prometheus.targets if target.health != "up"]
    return found


def _facts(parsed: DashboardsParsed) -> Facts:
    """What the report shows beside the findings: what was read and asked."""
    raw = parsed.raw
    items = [("dashboards", ", ".join(d.title for d in parsed.dashboards) or "none"),
             ("alert rules", f"{len(parsed.rules)} read" + (", validated by promtool" if raw.promtool
                                                            and raw.rule_files else ""))]
    if raw.prometheus is not None:
        health = ", ".join(f"{t.url} {t.health}" for t in raw.prometheus.targets) or "no target"
        items.append(("Prometheus", f"{raw.prometheus.url}: {len(raw.prometheus.alerts)} alert(s) loaded; {health}"))
    if raw.grafana is not None:
        deployed = sum(1 for _, found in raw.grafana.deployed if found)
        items.append(("Grafana", f"{raw.grafana.url}: {'healthy' if raw.grafana.healthy else 'NOT healthy'}; "
                                 f"{deployed} of {len(raw.grafana.deployed)} dashboard(s) deployed"))
    return Facts("Monitoring", tuple(items))


def finding(parts: Sequence[str], title: str, location: str, *, file: str = "", line: int | None = None) -> Finding:
    """A failing finding whose id joins ``parts`` with ':' (the first part is its kind).

    Whitespace inside a part becomes ``_``, so no id holds a space; the id as it read
    with the spaces stays an alias, so a waiver written for it still matches.
    """
    spaced = ":".join(parts)
    id_ = ":".join(re.sub(r"\s+", "_", part.strip()) for part in parts)
    return Finding(id_, "high", title, location, aliases=(spaced,) if spaced != id_ else (), file=file, line=line)


def project_path(path: Path, project_dir: Path) -> str:
    """``path`` relative to the project when it lies inside it (what annotations want), else as it is."""
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        return str(path)
