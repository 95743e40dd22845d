"""The dashboards check's settings, finding catalogue and pure policy, on synthetic facts.

The end-to-end behaviour (real endpoints, promtool, a real Prometheus) is in test_dashboards.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.dashboards import DashboardsCheck
from pipeline.checks.dashboards.live import GrafanaAnswer, Probe, PrometheusAnswer, ScrapeTarget
from pipeline.checks.dashboards.monitoring import AlertRule, Dashboard, Family
from pipeline.checks.dashboards.policy import DashboardsParsed, DashboardsRaw, Lint, evaluate_dashboards
from pipeline.checks.dashboards.settings import DashboardsSettings
from pipeline.checks.interface import CheckContext
from pipeline.checks.registry import registry
from pipeline.model import Finding, Status
from pipeline.runner import apply_waivers, run_check
from pipeline.views import Facts
from tests.conftest import config_from, write_config
from tests.fuzzing import budget

PROJECT = Path("/project")


def typed(**keys: Any) -> DashboardsSettings:
    """Settings as the gate builds them: from the JSON form of a config section."""
    return DashboardsSettings.model_validate_json(json.dumps(keys))


def rule(name: str, *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
         expr: str = "up == 0", line: int | None = 7) -> AlertRule:
    return AlertRule(name, expr, labels or {}, annotations or {}, PROJECT / "configs" / "alerts.yml", line)


def raw(**overrides: Any) -> DashboardsRaw:
    fields: dict[str, Any] = {"project_dir": PROJECT, "health": None, "ready": None, "metrics": None,
                              "database_up": None, "dashboard_files": (), "rule_files": (), "promtool": True,
                              "grafana": None, "prometheus": None}
    return DashboardsRaw(**{**fields, **overrides})


def parsed(*, raw_facts: DashboardsRaw | None = None, **overrides: Any) -> DashboardsParsed:
    fields: dict[str, Any] = {"families": None, "dashboards": (), "rules": ()}
    return DashboardsParsed(raw_facts or raw(), **{**fields, **overrides})


def ids(findings: tuple[Finding, ...]) -> list[str]:
    return sorted(f.id for f in findings if f.failing)


# --- Settings -------------------------------------------------------------------------------------


def test_defaults_live_in_the_settings_class() -> None:
    defaults = typed()
    assert defaults.max_response_ms == 1000 and defaults.require_metrics == () and defaults.prometheus is None
    assert typed(grafana={"url": "http://g"}).grafana == typed(grafana={"url": "http://g", "token_env": "GRAFANA_TOKEN"
                                                                        }).grafana
    prometheus = typed(prometheus={"url": "http://p"}).prometheus
    assert prometheus is not None and prometheus.wait_s == 20
    assert [m.name for m in typed(require_metrics=["a_total", {"name": "b", "type": "gauge"}]).required_metrics()] \
        == ["a_total", "b"]


def test_an_empty_prometheus_section_asks_no_prometheus_but_an_empty_url_is_an_error(tmp_path: Path) -> None:
    section = typed(prometheus={}).prometheus
    assert section is not None and not section.configured()
    rules = Path(__file__).resolve().parents[2] / "configs" / "monitoring" / "alerts.yml"
    silent = run_check("dashboards", config_from(tmp_path / "a", yaml.safe_dump(
        {"version": 1, "checks": {"dashboards": {"alert_rule_files": [str(rules)], "prometheus": {}}}})),
        tmp_path / "a" / "reports", tmp_path / "a")
    assert silent.status is Status.PASS, silent.reasons
    empty = run_check("dashboards", config_from(tmp_path / "b", yaml.safe_dump(
        {"version": 1, "checks": {"dashboards": {"alert_rule_files": [str(rules)], "prometheus": {"url": ""}}}})),
        tmp_path / "b" / "reports", tmp_path / "b")
    assert empty.status is Status.ERROR and "no Prometheus to ask" in empty.summary


@pytest.mark.parametrize(("section", "named"), [
    ({"max_response_ms": "fast"}, "checks.dashboards.max_response_ms"),
    ({"max_response_ms": 0}, "checks.dashboards.max_response_ms"),
    ({"require_metric": []}, "unknown key 'require_metric'"),
    ({"prometheus": {"wait_s": True}}, "checks.dashboards.prometheus.wait_s"),
    ({"prometheus": {"wait_s": -1}}, "checks.dashboards.prometheus.wait_s"),
    ({"require_metrics": [{"name": "a", "type": "countr"}]}, "checks.dashboards.require_metrics.0.type"),
    ({"require_metrics": [{"name": "a", "unit": "s"}]}, "checks.dashboards.require_metrics.0"),
    ({"grafana": {"token_env": "not a name"}}, "checks.dashboards.grafana.token_env"),
    ({"dashboard_files": "one.json"}, "checks.dashboards.dashboard_files"),
])
def test_a_wrong_key_or_type_exits_3_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               section: dict[str, Any], named: str) -> None:
    from pipeline._cli import main

    path = write_config(tmp_path, yaml.safe_dump({"version": 1, "checks": {"dashboards": section}}))
    assert main(["check", "dashboards", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err
    assert "configuration error" in err and named in err, err


# --- Policy: thresholds at their edge, and facts judged as before ------------------------------------


@pytest.mark.parametrize(("elapsed_ms", "slow"), [(250.0, False), (250.1, True)])
def test_response_time_at_the_limit_passes_and_above_fails(elapsed_ms: float, slow: bool) -> None:
    probe = Probe("http://s/health", 200, elapsed_ms)
    evaluation = evaluate_dashboards(parsed(raw_facts=raw(health=probe)), typed(max_response_ms=250))
    assert ids(evaluation.findings) == (["endpoint:health:slow"] if slow else [])
    time = next(m for m in evaluation.measurements if m.name == "health response time")
    assert (time.threshold, time.ok) == ("<= 250", not slow)


def test_ready_that_answers_while_the_database_is_down_is_a_finding() -> None:
    ready = Probe("http://s/ready", 200, 3.0)
    lying = evaluate_dashboards(parsed(raw_facts=raw(ready=ready, database_up=False)), typed())
    assert ids(lying.findings) == ["ready:lies"] and lying.status is Status.FAIL
    honest = evaluate_dashboards(parsed(raw_facts=raw(ready=Probe("http://s/ready", 503, 3.0), database_up=False)),
                                 typed())
    assert ids(honest.findings) == ["endpoint:ready"]


def test_metric_type_and_labels_are_judged() -> None:
    families = {"http_requests": Family("http_requests", "counter", frozenset({"route"}),
                                        frozenset({"http_requests_total"})),
                "pool": Family("pool", "gauge", frozenset(), frozenset())}
    wanted = [{"name": "http_requests_total", "type": "counter", "labels": ["route", "status"]},
              {"name": "pool", "type": "histogram", "labels": ["db"]}, "absent_total"]
    evaluation = evaluate_dashboards(parsed(families=families), typed(require_metrics=wanted))
    assert ids(evaluation.findings) == ["metric:absent_total", "metric:http_requests_total:labels",
                                        "metric:pool:labels", "metric:pool:type"]


def test_alert_findings_point_at_the_rule_file_and_line() -> None:
    facts = parsed(rules=(rule("Bare", line=12), rule("Good", labels={"severity": "page"},
                                                      annotations={"summary": "s", "description": "d"})))
    evaluation = evaluate_dashboards(facts, typed(require_alerts=["Good", "Missing"]))
    bare = [f for f in evaluation.findings if f.id.startswith("alert:Bare:")]
    assert sorted(f.id for f in bare) == ["alert:Bare:runbook", "alert:Bare:severity", "alert:Bare:summary"]
    assert {(f.file, f.line, f.location) for f in bare} == {("configs/alerts.yml", 12, "alerts.yml:12")}
    missing = next(f for f in evaluation.findings if f.id == "alert:Missing")
    assert (missing.file, missing.line) == ("", None)


def test_dashboard_and_lint_findings_name_their_file() -> None:
    inside = Dashboard(str(PROJECT / "dash" / "d.json"), "d", "D", (), ("up",), frozenset(), ("panel #1 has no title",))
    outside = Dashboard("/elsewhere/e.json", "", "E", (), ("up",), frozenset(), ("panel #2 has no title",))
    lint = Lint(PROJECT / "rules.yml", "duplicate rule")
    evaluation = evaluate_dashboards(parsed(dashboards=(inside, outside), lint=(lint,)), typed())
    assert {(f.id, f.file) for f in evaluation.findings} == {
        ("dashboard:d:panel", "dash/d.json"), ("dashboard:E:panel", "/elsewhere/e.json"), ("rules:lint", "rules.yml")}


def test_live_answers_are_judged() -> None:
    grafana = GrafanaAnswer("http://g", False, (("deployed", True), ("absent", False)))
    prometheus = PrometheusAnswer("http://p", "svc", ("A",), (ScrapeTarget("svc", "http://s/metrics", "down",
                                                                           "connection refused"),))
    evaluation = evaluate_dashboards(parsed(raw_facts=raw(grafana=grafana, prometheus=prometheus)),
                                     typed(require_alerts=["A", "B"]))
    assert ids(evaluation.findings) == ["alert:A", "alert:B", "grafana:absent", "grafana:health",
                                        "prometheus:alert:B", "prometheus:target:down"]
    assert evaluation.details["grafana"] == {"url": "http://g", "healthy": False,
                                             "dashboards": {"deployed": True, "absent": False}}
    view = evaluation.views[0]
    assert isinstance(view, Facts)
    facts = dict(view.items)
    assert facts["Grafana"] == "http://g: NOT healthy; 1 of 2 dashboard(s) deployed"


def test_without_promtool_the_result_says_the_rules_were_not_validated() -> None:
    facts = parsed(raw_facts=raw(rule_files=((PROJECT / "r.yml", None),), promtool=False))
    evaluation = evaluate_dashboards(facts, typed())
    assert evaluation.status is Status.PASS
    assert any("NOT validated by Prometheus's own parser" in r for r in evaluation.reasons)


# --- Finding ids: catalogued kinds, no spaces, old spelling kept as an alias ----------------------------

NAMES = st.text(alphabet=st.sampled_from(list("ab _-.:\t")), min_size=1, max_size=12)


@settings(max_examples=budget(100), deadline=None)
@given(NAMES, NAMES, NAMES)
def test_every_finding_id_has_a_catalogued_kind_and_no_whitespace(dashboard: str, alert: str, metric: str) -> None:
    everything = parsed(
        raw_facts=raw(health=Probe("http://s/health", None, None, "ConnectionError"),
                      ready=Probe("http://s/ready", 200, 5000.0), database_up=False,
                      grafana=GrafanaAnswer("http://g", False, ((dashboard, False),)),
                      prometheus=PrometheusAnswer("http://p", "j", (), ())),
        families={"x": Family("x", "gauge", frozenset(), frozenset())},
        dashboards=(Dashboard("/d.json", "", dashboard, (), (), frozenset(), ("a problem",)),),
        rules=(rule(alert, expr=metric),), lint=(Lint(PROJECT / "r.yml", "dup"),))
    evaluation = evaluate_dashboards(everything, typed(require_metrics=[metric], require_alerts=[alert],
                                                       require_dashboards=[dashboard + "!"], max_response_ms=1))
    catalogue = registry().get("dashboards").findings
    assert evaluation.findings
    for finding in evaluation.findings:
        assert finding.id.split(":", 1)[0] in catalogue
        assert not any(c.isspace() for c in finding.id), finding.id
        # The spelling with whitespace, where there was one, stays as the one alias.
        assert all(any(c.isspace() for c in alias) for alias in finding.aliases) and len(finding.aliases) <= 1


def test_catalogue_has_a_remediation_for_every_kind() -> None:
    for kind, meaning in DashboardsCheck.findings.items():
        assert " " not in kind and meaning.summary and meaning.remediation


def test_a_waiver_written_with_the_spaced_id_still_matches() -> None:
    from pipeline.model import CheckResult, ToolInfo, Waiver, now_utc

    spaced = Dashboard("/d.json", "", "orders overview", (), (), frozenset(), ("panel #1 has no title",))
    evaluation = evaluate_dashboards(parsed(dashboards=(spaced,)), typed())
    [finding] = evaluation.findings
    assert finding.id == "dashboard:orders_overview:panel" and finding.aliases == ("dashboard:orders overview:panel",)
    now = now_utc()
    result = CheckResult("dashboards", Status.FAIL, "s", (), (), evaluation.findings, (), ToolInfo("none"), now, now)
    for written in ("dashboard:orders overview:panel", "dashboard:orders_overview:panel"):
        waiver = Waiver("dashboards", written, "accepted", "ops", now.date().replace(year=now.year + 1))
        assert apply_waivers(result, [waiver], now.date()).status is Status.WAIVED


# --- The environment reaches the check through its context ------------------------------------------


class _Grafana(BaseHTTPRequestHandler):
    """A STAND-IN for Grafana (it cannot run here): healthy, one dashboard, behind a bearer token."""

    token = "glsa_from-the-context-only"

    def do_GET(self) -> None:
        if self.path == "/api/health":
            return self._send(200, {"database": "ok"})
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(401, {"message": "invalid API key"})
        return self._send(200, {"dashboard": {"uid": "u", "title": "T"}})

    def _send(self, status: int, body: Any) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def grafana_stand_in() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Grafana)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def test_base_url_and_token_come_from_the_context_not_the_process(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("READINESS_BASE_URL", raising=False)
    monkeypatch.delenv("DASH_TEST_TOKEN", raising=False)
    with grafana_stand_in() as url:
        ctx = CheckContext(reports_dir=tmp_path / "reports", project_dir=tmp_path, deadline_s=60,
                           env={"READINESS_BASE_URL": url, "DASH_TEST_TOKEN": _Grafana.token})
        settings = typed(grafana={"url": url, "token_env": "DASH_TEST_TOKEN", "dashboards": ["u"]})
        collected = DashboardsCheck().collect(settings, ctx)
    assert collected.health is not None and collected.health.url == f"{url}/health"
    assert collected.grafana == GrafanaAnswer(url, True, (("u", True),))
