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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from pipeline.checks.interface import Check, CheckContext, Evaluation
from pipeline.checks.monitoring import (
    AlertRule,
    Dashboard,
    Family,
    exposed_series,
    metric_names,
    promtool_check,
    read_dashboard,
    read_exposition,
    read_rules,
)
from pipeline.errors import ArtifactMissing, CheckError, ParseError
from pipeline.model import Finding, Measurement, Status, ToolInfo
from pipeline.redact import redact

DEFAULT_MAX_RESPONSE_MS = 1000.0
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Probe:
    url: str
    status: int | None
    elapsed_ms: float | None
    error: str | None = None
    body: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class DashboardsRaw:
    health: Probe | None
    ready: Probe | None
    metrics: Probe | None
    database_up: bool | None
    dashboard_files: tuple[Path, ...]
    rule_files: tuple[tuple[Path, str | None], ...]  # (file, promtool's complaint)
    grafana: dict[str, Any] | None
    prometheus: dict[str, Any] | None


@dataclass(frozen=True)
class DashboardsParsed:
    raw: DashboardsRaw
    families: dict[str, Family] | None
    dashboards: tuple[Dashboard, ...]
    dashboard_errors: tuple[str, ...]
    rules: tuple[AlertRule, ...]
    rule_errors: tuple[str, ...] = field(default_factory=tuple)


class DashboardsCheck(Check[DashboardsRaw, DashboardsParsed]):
    """/health, /ready and /metrics answer; dashboards and alert rules exist, are valid and deployed."""

    name = "dashboards"
    title = "Monitoring presence"

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> DashboardsRaw:
        base = (settings.get("base_url") or os.environ.get("READINESS_BASE_URL") or "").rstrip("/")
        urls = {kind: settings.get(f"{kind}_url") or (f"{base}/{kind}" if base else None)
                for kind in ("health", "ready", "metrics")}
        if not any(urls.values()) and not settings.get("dashboard_files") and not settings.get("alert_rule_files"):
            raise ArtifactMissing("nothing to check: no service URL, dashboard file or alert rule file is configured",
                                  "Set READINESS_BASE_URL (or checks.dashboards.*_url) and the monitoring files.")
        ctx.tool = ToolInfo("requests", requests.__version__, "run", tuple(u for u in urls.values() if u))
        probes = {kind: _probe(url) if url else None for kind, url in urls.items()}
        metrics_probe = probes["metrics"]
        if metrics_probe is not None and metrics_probe.body:
            evidence = ctx.evidence_dir / "metrics.txt"
            evidence.write_text(metrics_probe.body)
            ctx.add_evidence(evidence)
        dashboards = tuple(ctx.resolve(p) for p in settings.get("dashboard_files") or ())
        rule_files = [ctx.resolve(p) for p in settings.get("alert_rule_files") or ()]
        rules = tuple((path, promtool_check(path) if path.is_file() else None) for path in rule_files)
        for path in (*dashboards, *(p for p, _ in rules)):
            if path.is_file():
                ctx.add_evidence(path)
        return DashboardsRaw(probes["health"], probes["ready"], metrics_probe, _database_up(settings),
                             dashboards, rules, _grafana(settings), _prometheus(settings))

    def parse(self, raw: DashboardsRaw) -> DashboardsParsed:
        families = None
        if raw.metrics is not None and raw.metrics.ok:
            families = read_exposition(raw.metrics.body, raw.metrics.url)
        dashboards, dashboard_errors = [], []
        for path in raw.dashboard_files:
            try:
                dashboards.append(read_dashboard(path))
            except ParseError as exc:
                dashboard_errors.append(exc.reason)
        rules, rule_errors = [], []
        for path, complaint in raw.rule_files:
            if complaint:
                rule_errors.append(f"promtool check rules {path.name}: {complaint}")
            try:
                rules += read_rules(path)
            except ParseError as exc:
                rule_errors.append(exc.reason)
        return DashboardsParsed(raw, families, tuple(dashboards), tuple(dashboard_errors), tuple(rules),
                                tuple(rule_errors))

    def evaluate(self, parsed: DashboardsParsed, settings: dict[str, Any]) -> Evaluation:
        return evaluate_dashboards(parsed, settings)


def _probe(url: str) -> Probe:
    started = time.perf_counter()
    try:
        answer = requests.get(url, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        return Probe(url, None, None, f"{type(exc).__name__}: {redact(str(exc))[:200]}")
    return Probe(url, answer.status_code, round((time.perf_counter() - started) * 1000, 1), None,
                 answer.text[:2_000_000])


def _database_up(settings: dict[str, Any]) -> bool | None:
    """Whether the service's database answers (None: not known); lets /ready be cross-checked."""
    dsn = settings.get("database_url") or os.environ.get("READINESS_DATABASE_URL")
    if not dsn:
        return None
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
            conn.rollback()
        return True
    except psycopg.Error:
        return False


def _grafana(settings: dict[str, Any]) -> dict[str, Any] | None:
    """Which required dashboards a live Grafana has deployed (uid or title -> found)."""
    grafana = settings.get("grafana") or {}
    if not grafana.get("url"):
        return None
    url = str(grafana["url"]).rstrip("/")
    token = os.environ.get(str(grafana.get("token_env", "GRAFANA_TOKEN")), "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    session = requests.Session()
    try:
        health = session.get(f"{url}/api/health", timeout=HTTP_TIMEOUT_S)
        found = {}
        for wanted in grafana.get("dashboards") or settings.get("require_dashboards") or ():
            answer = session.get(f"{url}/api/dashboards/uid/{wanted}", headers=headers, timeout=HTTP_TIMEOUT_S)
            if answer.status_code in (401, 403):
                raise CheckError(f"Grafana at {url} refused the token (HTTP {answer.status_code}).",
                                 f"Set {grafana.get('token_env', 'GRAFANA_TOKEN')} to a token with read access "
                                 "to dashboards.")
            if answer.status_code == 404:
                search = session.get(f"{url}/api/search", params={"query": wanted, "type": "dash-db"},
                                     headers=headers, timeout=HTTP_TIMEOUT_S)
                found[wanted] = search.ok and any(d.get("title") == wanted for d in search.json())
            else:
                answer.raise_for_status()
                found[wanted] = True
    except requests.RequestException as exc:
        raise CheckError(f"Grafana at {url} cannot be asked: {type(exc).__name__}.",
                         "Check checks.dashboards.grafana.url and that Grafana runs.") from None
    finally:
        session.close()
    return {"url": url, "healthy": health.ok, "dashboards": found}


def _prometheus(settings: dict[str, Any]) -> dict[str, Any] | None:
    """Alert rules a live Prometheus has loaded, and the health of the service's scrape targets."""
    prometheus = settings.get("prometheus")
    if not prometheus:
        return None
    url = str(prometheus.get("url") or "").rstrip("/")
    if not url:
        raise CheckError("no Prometheus to ask: checks.dashboards.prometheus.url is empty.",
                         "Install Prometheus (apt install prometheus): with service.start.prometheus the gate starts "
                         "one; or set READINESS_PROMETHEUS_URL to yours.")
    job = str(prometheus.get("job", ""))
    deadline = time.monotonic() + float(prometheus.get("wait_s", 20))
    try:
        while True:
            targets = requests.get(f"{url}/api/v1/targets", timeout=HTTP_TIMEOUT_S).json()["data"]["activeTargets"]
            mine = [t for t in targets if not job or t.get("labels", {}).get("job") == job]
            # A target Prometheus has not scraped yet says "unknown": give it a moment.
            if (mine and all(t.get("health") != "unknown" for t in mine)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        groups = requests.get(f"{url}/api/v1/rules", timeout=HTTP_TIMEOUT_S).json()["data"]["groups"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise CheckError(f"Prometheus at {url} cannot be asked: {type(exc).__name__}.",
                         "Check checks.dashboards.prometheus.url and that Prometheus runs.") from None
    alerts = sorted({r["name"] for g in groups for r in g.get("rules", []) if r.get("type") == "alerting"})
    return {"url": url, "job": job, "alerts": alerts,
            "targets": [{"url": t.get("scrapeUrl"), "health": t.get("health"), "error": t.get("lastError", "")}
                        for t in mine]}


def evaluate_dashboards(parsed: DashboardsParsed, settings: dict[str, Any]) -> Evaluation:
    """Pure policy over what was probed and read."""
    raw = parsed.raw
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
    findings += _metric_findings(parsed, settings)
    findings += _dashboard_findings(parsed, settings)
    findings += _rule_findings(parsed, settings)
    findings += _live_findings(raw, settings)
    if parsed.families is not None:
        measurements.append(Measurement("metric families exposed", len(parsed.families), ""))
    measurements.append(Measurement("dashboards read", len(parsed.dashboards), "files"))
    measurements.append(Measurement("alert rules read", len(parsed.rules), "rules"))
    details = {"alerts": sorted(r.name for r in parsed.rules), "dashboards": [d.title for d in parsed.dashboards],
               "prometheus": raw.prometheus, "grafana": raw.grafana}
    failing = [f for f in findings if f.failing]
    if failing:
        return Evaluation(Status.FAIL, f"{len(failing)} monitoring problem(s).", tuple(f.title for f in failing),
                          tuple(measurements), tuple(findings), details)
    return Evaluation(Status.PASS, "Health, readiness, metrics, dashboards and alert rules are in place.",
                      (), tuple(measurements), tuple(findings), details)


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
    found = [_finding("dashboard:invalid", error, "dashboards") for error in parsed.dashboard_errors]
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
    found = [_finding("rules:invalid", error, "alert rules") for error in parsed.rule_errors]
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
