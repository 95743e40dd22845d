"""The ``slo`` check: one latency objective across the spec, the load test, the alerts and the dashboards.

collect: the spec's x-sla per operation, the k6 thresholds of the gate config (checks.k6, as the
         k6 check computes them), the alert rules and the dashboards (files, no service).
parse:   what each alert and panel watches, read with a PromQL parser (route matchers, grouping).
evaluate: a matrix, one row per operation; a finding for no load-test threshold, a threshold or an
          alert looser than the spec, no alert, no panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.api.spec import each_operation, read_spec
from pipeline.checks.dashboards import promql
from pipeline.checks.dashboards.monitoring import AlertRule, read_dashboard, read_rules
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.checks.k6.settings import K6Settings, effective_thresholds, expression
from pipeline.checks.slo.matrix import Objective, Watcher, row, watcher
from pipeline.checks.slo.settings import SloSettings
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import Measurement, Status, ToolInfo
from pipeline.views import Table

__all__ = ["SloCheck", "SloSettings"]


@dataclass(frozen=True)
class SloRaw:
    """The four sources, read."""

    objectives: tuple[Objective, ...]
    thresholds: dict[str, tuple[str, ...]]
    alerts: tuple[Watcher, ...]
    panels: tuple[Watcher, ...]
    alert_names: tuple[str, ...] = ()  # every alerting rule read (validated text), for the release deltas
    dashboard_names: tuple[str, ...] = ()  # every dashboard's title read


class SloCheck(Check[SloSettings, SloRaw, SloRaw]):
    """The spec's SLA is the one the load test enforces, the alerts fire on and a panel shows."""

    name = "slo"
    title = "SLO consistency"
    order = 75  # after dashboards (70); reads files only
    Settings = SloSettings
    findings = {
        "no-load-threshold": FindingKind("no k6 p(95) threshold covers the operation's requests "
                                         "(no-load-threshold:<op>)",
                                         "Tag its requests in the k6 script and list the tag in checks.k6.endpoints "
                                         "(or map it in checks.slo.k6_tags)."),
        "load-looser": FindingKind("the k6 threshold is looser than the spec's x-sla (load-looser:<op>)",
                                   "Give the tag its own threshold, e.g. http_req_duration{name:get_order}: "
                                   "[\"p(95)<100\"]."),
        "alert-looser": FindingKind("the alert watching the operation fires above its x-sla, on a lower quantile, "
                                    "or after too long a for: (alert-looser:<op>)",
                                    "Lower the alert's threshold to the spec's p95 (in seconds) or shorten for:."),
        "no-alert": FindingKind("no latency alert watches the operation's route (no-alert:<op>)",
                                "Alert on histogram_quantile(0.95, ...) grouped by route, or name the route."),
        "no-panel": FindingKind("no dashboard panel shows the operation's latency (no-panel:<op>)",
                                "Add a p95 latency panel grouped by route."),
    }

    def collect(self, settings: SloSettings, ctx: CheckContext) -> SloRaw:
        """Read the spec, the k6 section of the gate config, the rule files and the dashboards."""
        from pipeline.gate import check_settings, load_config

        if not settings.spec:
            raise ArtifactMissing("checks.slo.spec names no spec", "Set it to the committed OpenAPI file.")
        ctx.tool = ToolInfo("promql-parser", "builtin", "ingest")
        spec = ctx.add_evidence(ctx.resolve(settings.spec)) if ctx.resolve(settings.spec).is_file() \
            else ctx.resolve(settings.spec)
        k6 = check_settings(load_config(ctx.resolve(settings.config), ctx.profile, ctx.env), "k6")
        assert isinstance(k6, K6Settings)
        thresholds = {m: tuple(expression(t) for t in items) for m, items in effective_thresholds(k6).items()}
        rules = [r for f in settings.alert_rule_files for r in _alert_rules(self._kept(ctx, f))]
        dashboards = [read_dashboard(self._kept(ctx, f)) for f in settings.dashboard_files]
        alerts = [watcher(r.name, r.expr, settings.latency_metric, settings.error_metrics, settings.route_label,
                          r.for_) for r in rules]
        panels = [watcher(f"{d.title}", e, settings.latency_metric, settings.error_metrics, settings.route_label)
                  for d in dashboards for e in d.expressions]
        return SloRaw(_objectives(read_spec(spec), str(spec)), thresholds,
                      tuple(a for a in alerts if a), tuple(p for p in panels if p),
                      tuple(sorted({r.name for r in rules})), tuple(sorted({d.title for d in dashboards})))

    @staticmethod
    def _kept(ctx: CheckContext, configured: str) -> Path:
        path = ctx.resolve(configured)
        if not path.is_file():
            raise ArtifactMissing(f"{path} does not exist", "Point checks.slo at the shipped monitoring files.")
        return ctx.add_evidence(path)

    def parse(self, raw: SloRaw) -> SloRaw:
        """Everything was validated while read."""
        return raw

    def evaluate(self, parsed: SloRaw, settings: SloSettings) -> Evaluation:
        """One matrix row per operation; its problems are findings."""
        rows = [row(o, settings.k6_tags.get(o.operation, (o.operation_id,) if o.operation_id else ()),
                    parsed.thresholds, settings.routes.get(o.operation, o.path), parsed.alerts, parsed.panels,
                    settings.max_alert_for_s) for o in parsed.objectives]
        findings = tuple(f for r in rows for f in r.findings)
        table = Table("SLO matrix: spec x-sla · k6 threshold · alert · panel",
                      ("operation", "spec p95 / errors", "k6 p95 / errors (tags)", "alert", "panel"),
                      tuple(r.cells for r in rows), tuple(not r.findings for r in rows))
        status = Status.FAIL if findings else Status.PASS
        return Evaluation(status, f"{len(findings)} inconsistencies over {len(rows)} operations.",
                          tuple(f.title for f in findings),
                          (Measurement("inconsistencies", len(findings), "", "== 0", not findings),),
                          findings, {"alerts": list(parsed.alert_names), "dashboards": list(parsed.dashboard_names)},
                          views=(table,))


def _alert_rules(path: Path) -> list[AlertRule]:
    """The file's alerting rules; one whose expression is not PromQL is a ParseError, never a rule ignored."""
    rules = read_rules(path)
    for rule in rules:
        if promql.parse(rule.expr) is None:
            raise ParseError(path, f"line {rule.line or '?'}", f"the expr of alert {rule.name} is not PromQL "
                                                               f"({rule.expr[:80]!r})",
                             "Fix the expression; `promtool check rules` shows where it breaks.")
    return rules


def _objectives(document: dict[str, Any], source: str) -> tuple[Objective, ...]:
    found = []
    for method, path, op in each_operation(document, source):
        sla = op.get("x-sla")
        if sla is not None and not isinstance(sla, dict):
            raise ParseError(source, f"paths.{path}.{method}.x-sla", "is not an object")
        sla = sla or {}
        p95 = evidence.number(sla["p95_ms"], source, f"{path} x-sla.p95_ms", minimum=0) if "p95_ms" in sla \
            else None
        err = evidence.rate(sla["error_rate"], source, f"{path} x-sla.error_rate") if "error_rate" in sla else None
        found.append(Objective(f"{method.upper()} {path}", str(op.get("operationId", "")), path, p95, err))
    if not found:
        raise ParseError(source, "paths", "lists no operation")
    return tuple(found)
