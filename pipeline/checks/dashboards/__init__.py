"""The ``dashboards`` check: monitoring is really there, not only promised.

collect: probe /health, /ready (and the database behind it) and /metrics; read the Grafana
         dashboard files and the Prometheus rule files (promtool when installed); ask a live
         Grafana and Prometheus when configured.
parse:   metric families, dashboards, alert rules (monitoring).
evaluate: required metrics, dashboards, panels and alerts exist and agree with each other and
          with what the service exposes (policy).
"""

from __future__ import annotations

import requests

from pipeline.checks.dashboards import promtool
from pipeline.checks.dashboards.live import MAX_BODY_BYTES, ask_grafana, ask_prometheus, database_up, probe_url
from pipeline.checks.dashboards.monitoring import AlertRule, Dashboard, read_dashboard, read_exposition, read_rule_file
from pipeline.checks.dashboards.policy import DashboardsParsed, DashboardsRaw, Lint, evaluate_dashboards
from pipeline.checks.dashboards.settings import DashboardsSettings
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import ToolInfo

FINDINGS = {
    "endpoint": FindingKind("/health, /ready or /metrics does not answer 2xx (endpoint:<name>), or answers slower "
                            "than max_response_ms (endpoint:<name>:slow)",
                            "Make the endpoint answer 2xx within max_response_ms (the service log says why not); "
                            "check base_url or the *_url keys."),
    "ready": FindingKind("/ready answers 2xx while the database does not answer (ready:lies)",
                         "Make /ready query the database (and every other dependency) and answer 503 while one is "
                         "down."),
    "metric": FindingKind("/metrics lacks a required family (metric:<name>), it has another type (:type) or lacks "
                          "labels (:labels)",
                          "Expose the family with the configured type and labels; initialise labelled series at "
                          "start-up so they exist before the first event."),
    "dashboard": FindingKind("a panel of a dashboard file has no title or an undefined datasource "
                             "(dashboard:<uid>:panel), a required dashboard is missing (dashboard:<uid>), or no "
                             "panel queries a required series (dashboard:metric:<series>)",
                             "Fix the dashboard JSON (panel titles, datasource variables), commit the required "
                             "dashboard, or add a panel that queries the series."),
    "rules": FindingKind("promtool's lint complains about a rule file, e.g. duplicate rules (rules:lint)",
                         "Run promtool check rules on the file and remove what it names."),
    "alert": FindingKind("a required alert rule is missing (alert:<name>), or an alert lacks a severity label "
                         "(:severity), a summary (:summary), a runbook_url or description (:runbook), or uses a "
                         "series the service does not expose (:metrics)",
                         "Add the alert, or the label or annotation it lacks, at the line named; make its "
                         "expression use series the service exposes."),
    "grafana": FindingKind("Grafana says it is unhealthy (grafana:health), or a required dashboard is not "
                           "deployed there (grafana:<uid>)",
                           "Deploy the committed dashboard to Grafana (provisioning or the API); check Grafana's "
                           "database and log."),
    "prometheus": FindingKind("Prometheus has not loaded a required alert (prometheus:alert:<name>), has no target "
                              "for the service's job (prometheus:target) or the target is down "
                              "(prometheus:target:down)",
                              "Load the rule files into Prometheus (rule_files, then reload) and scrape the service "
                              "under the configured job; the target's last error says why it is down."),
}


class DashboardsCheck(Check[DashboardsSettings, DashboardsRaw, DashboardsParsed]):
    """/health, /ready and /metrics answer; dashboards and alert rules exist, are valid and deployed."""

    name = "dashboards"
    title = "Monitoring presence"
    order = 70
    needs_target = True
    Settings = DashboardsSettings
    findings = FINDINGS

    def collect(self, settings: DashboardsSettings, ctx: CheckContext) -> DashboardsRaw:
        """Probe the endpoints, validate the files with promtool, ask the live Grafana and Prometheus."""
        base = (settings.base_url or ctx.env.get("READINESS_BASE_URL") or "").rstrip("/")
        urls = {kind: configured or (f"{base}/{kind}" if base else None) for kind, configured in
                (("health", settings.health_url), ("ready", settings.ready_url), ("metrics", settings.metrics_url))}
        if not any(urls.values()) and not settings.dashboard_files and not settings.alert_rule_files:
            raise ArtifactMissing("nothing to check: no service URL, dashboard file or alert rule file is configured",
                                  "Set READINESS_BASE_URL (or checks.dashboards.*_url) and the monitoring files.")
        ctx.tool = ToolInfo("requests", requests.__version__, "run", tuple(u for u in urls.values() if u))
        probes = {kind: probe_url(url) if url else None for kind, url in urls.items()}
        metrics_probe = probes["metrics"]
        if metrics_probe is not None and metrics_probe.body:
            evidence = ctx.evidence_dir / "metrics.txt"
            evidence.write_text(metrics_probe.body)
            ctx.add_evidence(evidence)
        dashboards = tuple(ctx.resolve(p) for p in settings.dashboard_files)
        rules = promtool.validate_files([ctx.resolve(p) for p in settings.alert_rule_files], ctx)
        for path in (*dashboards, *(p for p, _ in rules)):
            if path.is_file():
                ctx.add_evidence(path)
        grafana = settings.grafana
        prometheus = settings.prometheus
        return DashboardsRaw(
            ctx.project_dir, probes["health"], probes["ready"], metrics_probe,
            database_up(settings.database_url or ctx.env.get("READINESS_DATABASE_URL")), dashboards, rules,
            promtool.find_promtool(ctx.env) is not None,
            ask_grafana(grafana, grafana.dashboards or settings.require_dashboards, ctx.env.get(grafana.token_env, ""))
            if grafana is not None and grafana.url else None,
            ask_prometheus(prometheus) if prometheus is not None and prometheus.configured() else None)

    def parse(self, raw: DashboardsRaw) -> DashboardsParsed:
        """Metric families, dashboards and alert rules; what cannot be read is listed, not judged."""
        families = None
        if raw.metrics is not None and raw.metrics.ok:
            if raw.metrics.truncated:
                raise ParseError(raw.metrics.url, "", f"answered more than {MAX_BODY_BYTES // 1_000_000} MB; the "
                                 "gate reads at most that much, so the metric families cannot all be checked")
            families = read_exposition(raw.metrics.body, raw.metrics.url)
        dashboards: list[Dashboard] = []
        unreadable: list[str] = []
        for path in raw.dashboard_files:
            try:
                dashboards.append(read_dashboard(path))
            except ParseError as exc:
                unreadable.append(exc.reason)
        rules, lint = _read_rules(raw, unreadable)
        return DashboardsParsed(raw, families, tuple(dashboards), rules, tuple(unreadable), lint)

    def evaluate(self, parsed: DashboardsParsed, settings: DashboardsSettings) -> Evaluation:
        """Pure policy (see ``policy.evaluate_dashboards``)."""
        return evaluate_dashboards(parsed, settings)


def _read_rules(raw: DashboardsRaw, unreadable: list[str]) -> tuple[tuple[AlertRule, ...], tuple[Lint, ...]]:
    """The alerting rules of every rule file and promtool's lint; unreadable files are added to ``unreadable``."""
    rules: list[AlertRule] = []
    lint: list[Lint] = []
    for path, verdict in raw.rule_files:
        if verdict is not None and verdict.rejected:
            unreadable.append(f"promtool check rules {path}: {verdict.rejected}")
        if verdict is not None and verdict.lint:
            lint.append(Lint(path, verdict.lint))
        try:
            rule_file = read_rule_file(path)
        except ParseError as exc:
            unreadable.append(exc.reason)
            continue
        rules += rule_file.alerts
        if verdict is not None and verdict.rules is not None and verdict.rules != rule_file.total:
            unreadable.append(f"{path}: promtool found {verdict.rules} rules, the gate read {rule_file.total}")
    return tuple(rules), tuple(lint)
