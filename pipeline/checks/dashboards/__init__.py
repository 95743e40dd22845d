"""The ``dashboards`` check: monitoring is really there, not only promised.

collect: probe /health, /ready (and the database behind it) and /metrics; read the Grafana
         dashboard files and the Prometheus rule files (promtool when installed); ask a live
         Grafana and Prometheus when configured.
parse:   metric families, dashboards, alert rules (monitoring).
evaluate: required metrics, dashboards, panels and alerts exist and agree with each other and
          with what the service exposes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from pipeline.checks.dashboards import promtool as promtool
from pipeline.checks.dashboards.live import (
    MAX_BODY_BYTES,
    Probe,
    ask_grafana,
    ask_prometheus,
    database_up,
    probe_url,
)
from pipeline.checks.dashboards.monitoring import (
    AlertRule,
    Dashboard,
    Family,
    exposed_series,
    metric_names,
    read_dashboard,
    read_exposition,
    read_rule_file,
)
from pipeline.checks.dashboards.promtool import PromtoolVerdict
from pipeline.checks.interface import Check, CheckContext, Evaluation, LegacySettings
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import Finding, Measurement, Status, ToolInfo

DEFAULT_MAX_RESPONSE_MS = 1000.0


@dataclass(frozen=True)
class DashboardsRaw:
    health: Probe | None
    ready: Probe | None
    metrics: Probe | None
    database_up: bool | None
    dashboard_files: tuple[Path, ...]
    rule_files: tuple[tuple[Path, PromtoolVerdict | None], ...]  # (file, promtool's verdict; None: not run)
    promtool: bool  # whether Prometheus's own parser validated the rule files
    grafana: dict[str, Any] | None
    prometheus: dict[str, Any] | None


@dataclass(frozen=True)
class DashboardsParsed:
    raw: DashboardsRaw
    families: dict[str, Family] | None
    dashboards: tuple[Dashboard, ...]
    rules: tuple[AlertRule, ...]
    unreadable: tuple[str, ...] = ()  # monitoring files that cannot be read or parsed (file and line)
    lint: tuple[str, ...] = ()  # promtool's lint complaints (semantic)


class DashboardsCheck(Check[Any, DashboardsRaw, DashboardsParsed]):
    """/health, /ready and /metrics answer; dashboards and alert rules exist, are valid and deployed."""

    name = "dashboards"
    title = "Monitoring presence"
    order = 70
    needs_target = True
    Settings = LegacySettings  # a plain mapping until the check gets typed settings

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> DashboardsRaw:
        base = (settings.get("base_url") or os.environ.get("READINESS_BASE_URL") or "").rstrip("/")
        urls = {kind: settings.get(f"{kind}_url") or (f"{base}/{kind}" if base else None)
                for kind in ("health", "ready", "metrics")}
        if not any(urls.values()) and not settings.get("dashboard_files") and not settings.get("alert_rule_files"):
            raise ArtifactMissing("nothing to check: no service URL, dashboard file or alert rule file is configured",
                                  "Set READINESS_BASE_URL (or checks.dashboards.*_url) and the monitoring files.")
        ctx.tool = ToolInfo("requests", requests.__version__, "run", tuple(u for u in urls.values() if u))
        probes = {kind: probe_url(url) if url else None for kind, url in urls.items()}
        metrics_probe = probes["metrics"]
        if metrics_probe is not None and metrics_probe.body:
            evidence = ctx.evidence_dir / "metrics.txt"
            evidence.write_text(metrics_probe.body)
            ctx.add_evidence(evidence)
        dashboards = tuple(ctx.resolve(p) for p in settings.get("dashboard_files") or ())
        rules = promtool.validate_files([ctx.resolve(p) for p in settings.get("alert_rule_files") or ()], ctx)
        for path in (*dashboards, *(p for p, _ in rules)):
            if path.is_file():
                ctx.add_evidence(path)
        return DashboardsRaw(probes["health"], probes["ready"], metrics_probe, database_up(settings),
                             dashboards, rules, promtool.find_promtool() is not None, ask_grafana(settings),
                             ask_prometheus(settings))

    def parse(self, raw: DashboardsRaw) -> DashboardsParsed:
        families = None
        if raw.metrics is not None and raw.metrics.ok:
            if raw.metrics.truncated:
                raise ParseError(raw.metrics.url, "", f"answered more than {MAX_BODY_BYTES // 1_000_000} MB; the "
                                 "gate reads at most that much, so the metric families cannot all be checked")
            families = read_exposition(raw.metrics.body, raw.metrics.url)
        dashboards, unreadable = [], []
        for path in raw.dashboard_files:
            try:
                dashboards.append(read_dashboard(path))
            except ParseError as exc:
                unreadable.append(exc.reason)
        rules: list[AlertRule] = []
        lint = []
        for path, verdict in raw.rule_files:
            if verdict is not None and verdict.rejected:
                unreadable.append(f"promtool check rules {path}: {verdict.rejected}")
            if verdict is not None and verdict.lint:
                lint.append(f"promtool check rules {path.name}: {verdict.lint}")
            try:
                rule_file = read_rule_file(path)
            except ParseError as exc:
                unreadable.append(exc.reason)
                continue
            rules += rule_file.alerts
            if verdict is not None and verdict.rules is not None and verdict.rules != rule_file.total:
                unreadable.append(f"{path}: promtool found {verdict.rules} rules, the gate read {rule_file.total}")
        return DashboardsParsed(raw, families, tuple(dashboards), tuple(rules), tuple(unreadable), tuple(lint))

    def evaluate(self, parsed: DashboardsParsed, settings: dict[str, Any]) -> Evaluation:
        return evaluate_dashboards(parsed, settings)


def evaluate_dashboards(parsed: DashboardsParsed, settings: dict[str, Any]) -> Evaluation:
    """Pure policy over what was probed and read.

    A monitoring file that cannot be read or parsed is an ``error`` (not a finding that a
    waiver could cover); missing alerts, labels or panel titles are findings.
    """
    raw = parsed.raw
    findings, measurements = _probe_findings(raw, settings)
    findings += _metric_findings(parsed, settings)
    findings += _dashboard_findings(parsed, settings)
    findings += _rule_findings(parsed, settings)
    findings += _live_findings(raw, settings)
    if parsed.families is not None:
        measurements.append(Measurement("metric families exposed", len(parsed.families), ""))
    measurements.append(Measurement("dashboards read", len(parsed.dashboards), "files"))
    measurements.append(Measurement("alert rules read", len(parsed.rules), "rules"))
    measurements.append(Measurement("monitoring files unreadable", len(parsed.unreadable), "files", "== 0",
                                    not parsed.unreadable))
    notes: tuple[str, ...] = ()
    if raw.rule_files:
        measurements.append(Measurement("rules validated by promtool", "yes" if raw.promtool else "no", ""))
        if not raw.promtool:
            notes = ("The alert rules were NOT validated by Prometheus's own parser (promtool is not installed); "
                     "only the gate's structural check ran. Install promtool (apt install prometheus) to have "
                     "them validated.",)
    details = {"alerts": sorted(r.name for r in parsed.rules), "dashboards": [d.title for d in parsed.dashboards],
               "prometheus": raw.prometheus, "grafana": raw.grafana, "rules_validated_by_promtool": raw.promtool}
    failing = tuple(f.title for f in findings if f.failing)
    if parsed.unreadable:
        also = f" {len(failing)} monitoring problem(s) were found in what could be read." if failing else ""
        return Evaluation(Status.ERROR, f"{len(parsed.unreadable)} monitoring file(s) cannot be read or parsed."
                          + also, (*parsed.unreadable, "Fix the files (the line is named); the check cannot judge "
                                   "monitoring it cannot read.", *failing, *notes),
                          tuple(measurements), tuple(findings), details)
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} monitoring problem(s).", (*failing, *notes),
                          tuple(measurements), tuple(findings), details)
    return Evaluation(Status.PASS, "Health, readiness, metrics, dashboards and alert rules are in place.",
                      notes, tuple(measurements), tuple(findings), details)


def _probe_findings(raw: DashboardsRaw, settings: dict[str, Any]) -> tuple[list[Finding], list[Measurement]]:
    """Status and response time of /health, /ready, /metrics, and /ready against the database."""
    findings: list[Finding] = []
    measurements: list[Measurement] = []
    limit = float(settings.get("max_response_ms", DEFAULT_MAX_RESPONSE_MS))
    for kind, probe in (("health", raw.health), ("ready", raw.ready), ("metrics", raw.metrics)):
        if probe is None:
            continue
        measurements.append(Measurement(f"{kind} status", probe.status, "HTTP", "2xx", probe.ok))
        if probe.elapsed_ms is not None:
            measurements.append(Measurement(f"{kind} response time", probe.elapsed_ms, "ms", f"<= {limit:g}",
                                            probe.elapsed_ms <= limit))
        if not probe.ok:
            answer = probe.error or f"HTTP {probe.status}"
            findings.append(_finding(f"endpoint:{kind}", f"{probe.url} does not answer 2xx ({answer})", probe.url))
        elif probe.elapsed_ms is not None and probe.elapsed_ms > limit:
            findings.append(_finding(f"endpoint:{kind}:slow", f"{probe.url} took {probe.elapsed_ms:.0f} ms "
                                     f"(limit {limit:g} ms)", probe.url))
    if raw.ready is not None and raw.database_up is False:
        measurements.append(Measurement("database answers", "no", "", "yes", False))
        if raw.ready.ok:
            findings.append(_finding("ready:lies", f"{raw.ready.url} answers {raw.ready.status} while the database "
                                     "does not answer: readiness must depend on the database", raw.ready.url))
    return findings, measurements


def _required_metrics(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return [m if isinstance(m, dict) else {"name": str(m)} for m in settings.get("require_metrics") or ()]


def _metric_findings(parsed: DashboardsParsed, settings: dict[str, Any]) -> list[Finding]:
    if parsed.families is None:
        return []
    found = []
    for wanted in _required_metrics(settings):
        name = wanted["name"]
        family = parsed.families.get(name) or parsed.families.get(name.removesuffix("_total"))
        if family is None:
            found.append(_finding(f"metric:{name}", f"/metrics does not expose {name}", "metrics"))
            continue
        if wanted.get("type") and family.type != wanted["type"]:
            found.append(_finding(f"metric:{name}:type", f"{name} is a {family.type}, not a {wanted['type']}",
                                  "metrics"))
        missing = sorted(set(wanted.get("labels") or ()) - family.labels)
        if missing and not family.sample_names:
            found.append(_finding(f"metric:{name}:labels", f"{name} is declared but has no sample, so its labels "
                                  f"({', '.join(missing)}) cannot be checked; initialise its label values at "
                                  "start-up so dashboards and alerts see it before the first event", "metrics"))
        elif missing:
            found.append(_finding(f"metric:{name}:labels", f"{name} lacks the label(s) {', '.join(missing)}",
                                  "metrics"))
    return found


def _dashboard_findings(parsed: DashboardsParsed, settings: dict[str, Any]) -> list[Finding]:
    found = []
    for dashboard in parsed.dashboards:
        found += [_finding(f"dashboard:{dashboard.uid or dashboard.title}:panel", f"{dashboard.title}: {problem}",
                           dashboard.path) for problem in dashboard.problems]
    present = {d.uid for d in parsed.dashboards} | {d.title for d in parsed.dashboards}
    for wanted in settings.get("require_dashboards") or ():
        if wanted not in present:
            found.append(_finding(f"dashboard:{wanted}", f"no dashboard file has uid or title {wanted!r}",
                                  "dashboards"))
    used = {name for d in parsed.dashboards for expr in d.expressions for name in metric_names(expr)}
    if parsed.dashboards:
        for wanted in _panel_metrics(parsed, settings):
            if not wanted & used:
                shown = min(wanted, key=len)
                found.append(_finding(f"dashboard:metric:{shown}", f"no dashboard panel queries {shown}",
                                      "dashboards"))
    return found


def _panel_metrics(parsed: DashboardsParsed, settings: dict[str, Any]) -> list[set[str]]:
    """What panels must query: each ``panel_metrics`` series exactly, else each required metric by any of
    its series (a histogram counts as used when one of _bucket/_count/_sum is queried)."""
    if settings.get("panel_metrics"):
        return [{str(name)} for name in settings["panel_metrics"]]
    wanted = []
    for metric in _required_metrics(settings):
        names = {metric["name"], metric["name"].removesuffix("_total")}
        family = (parsed.families or {}).get(metric["name"])
        if family is not None:
            names |= family.sample_names
        wanted.append(names)
    return wanted


def _rule_findings(parsed: DashboardsParsed, settings: dict[str, Any]) -> list[Finding]:
    found = [_finding("rules:lint", complaint, "alert rules") for complaint in parsed.lint]
    by_name = {rule.name: rule for rule in parsed.rules}
    for wanted in settings.get("require_alerts") or ():
        if wanted not in by_name:
            found.append(_finding(f"alert:{wanted}", f"no alert rule named {wanted}", "alert rules"))
    exposed = exposed_series(parsed.families) if parsed.families is not None else None
    for rule in parsed.rules:
        if "severity" not in rule.labels:
            found.append(_finding(f"alert:{rule.name}:severity", f"alert {rule.name} has no severity label",
                                  rule.source))
        if "summary" not in rule.annotations:
            found.append(_finding(f"alert:{rule.name}:summary", f"alert {rule.name} has no summary annotation",
                                  rule.source))
        if not {"runbook_url", "description"} & rule.annotations.keys():
            found.append(_finding(f"alert:{rule.name}:runbook", f"alert {rule.name} has neither a runbook_url "
                                  "nor a description annotation", rule.source))
        if exposed is not None:
            unknown = sorted(metric_names(rule.expr) - exposed)
            if unknown:
                found.append(_finding(f"alert:{rule.name}:metrics", f"alert {rule.name} uses {', '.join(unknown)}, "
                                      "which the service does not expose", rule.source))
    return found


def _live_findings(raw: DashboardsRaw, settings: dict[str, Any]) -> list[Finding]:
    found = []
    if raw.grafana is not None and not raw.grafana["healthy"]:
        found.append(_finding("grafana:health", f"Grafana at {raw.grafana['url']} says it is not healthy "
                              "(/api/health: database not ok)", raw.grafana["url"]))
    if raw.grafana is not None:
        for wanted, deployed in raw.grafana["dashboards"].items():
            if not deployed:
                found.append(_finding(f"grafana:{wanted}", f"dashboard {wanted!r} is committed but not deployed in "
                                      f"Grafana at {raw.grafana['url']}", raw.grafana["url"]))
    if raw.prometheus is not None:
        loaded = set(raw.prometheus["alerts"])
        for wanted in settings.get("require_alerts") or ():
            if wanted not in loaded:
                found.append(_finding(f"prometheus:alert:{wanted}", f"alert {wanted} is not loaded in Prometheus "
                                      f"at {raw.prometheus['url']}", raw.prometheus["url"]))
        targets = raw.prometheus["targets"]
        if not targets:
            found.append(_finding("prometheus:target", f"Prometheus has no scrape target for job "
                                  f"{raw.prometheus['job']!r}", raw.prometheus["url"]))
        for target in targets:
            if target["health"] != "up":
                found.append(_finding("prometheus:target:down", f"Prometheus target {target['url']} is "
                                      f"{target['health']} ({target['error'] or 'no error text'})", target["url"]))
    return found


def _finding(id_: str, title: str, location: str) -> Finding:
    return Finding(id_, "high", title, location)
