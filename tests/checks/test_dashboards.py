"""The dashboards check: real endpoints, the example's monitoring files, promtool and a real Prometheus."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.checks import dashboards
from pipeline.checks.dashboards import live as monitoring_live
from pipeline.checks.dashboards.monitoring import (
    dashboard_model,
    metric_names,
    read_dashboard,
    read_exposition,
    read_rule_file,
    read_rules,
)
from pipeline.errors import ParseError
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from pipeline.target import running_target
from tests.conftest import REPO, config_from, example_start_settings, need_example_service, need_tool
from tests.fuzzing import alias_bomb, fuzz, mutated

MONITORING = REPO / "configs" / "monitoring"
ALERTS = ["OrdersServiceHighLatency", "OrdersServiceHighErrorRate", "OrdersServicePoolSaturated", "OrdersServiceDown"]


def shipped_settings() -> dict[str, Any]:
    """checks.dashboards of the shipped config, with absolute file paths."""
    settings: dict[str, Any] = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())["checks"]["dashboards"]
    settings["dashboard_files"] = [str(REPO / p) for p in settings["dashboard_files"]]
    settings["alert_rule_files"] = [str(REPO / p) for p in settings["alert_rule_files"]]
    settings.pop("prometheus")
    return settings


def check(tmp_path: Path, **settings: Any) -> CheckResult:
    body = {"version": 1, "checks": {"dashboards": settings}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    return run_check("dashboards", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prometheus(tmp_path: Path, rule_files: list[Path], target: str) -> Iterator[str]:
    """A real Prometheus on a free loopback port, scraping ``target`` every second."""
    binary = need_tool("prometheus")
    port = _free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(p) for p in rule_files],
              "scrape_configs": [{"job_name": "orders-service", "static_configs": [{"targets": [target]}]}]}
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{url}/-/ready", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_example_passes_with_a_real_prometheus_scraping_it(tmp_path: Path, example_target: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)
    service = example_target["READINESS_BASE_URL"].removeprefix("http://")
    with prometheus(tmp_path, [MONITORING / "alerts.yml"], service) as url:
        result = check(tmp_path, **shipped_settings(), prometheus={"url": url, "job": "orders-service"})
    assert result.status is Status.PASS, result.reasons
    assert result.details["prometheus"]["alerts"] == sorted(ALERTS)
    assert [t["health"] for t in result.details["prometheus"]["targets"]] == ["up"]
    assert result.details["dashboards"] == ["orders-service overview"]


def test_alert_missing_from_the_rules_fails_in_files_and_in_prometheus(
        tmp_path: Path, example_target: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    rules["groups"][0]["rules"] = [r for r in rules["groups"][0]["rules"] if r["alert"] != "OrdersServiceDown"]
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    settings = {**shipped_settings(), "alert_rule_files": [str(tmp_path / "alerts.yml")]}
    service = example_target["READINESS_BASE_URL"].removeprefix("http://")
    with prometheus(tmp_path, [tmp_path / "alerts.yml"], service) as url:
        result = check(tmp_path, **settings, prometheus={"url": url, "job": "orders-service"})
    assert result.status is Status.FAIL
    assert {"alert:OrdersServiceDown", "prometheus:alert:OrdersServiceDown"} <= {f.id for f in result.findings}


def test_target_that_is_down_fails(tmp_path: Path) -> None:
    with prometheus(tmp_path, [MONITORING / "alerts.yml"], f"127.0.0.1:{_free_port()}") as url:
        result = check(tmp_path, prometheus={"url": url, "job": "orders-service", "wait_s": 20},
                       alert_rule_files=[str(MONITORING / "alerts.yml")])
    assert result.status is Status.FAIL
    down = next(f for f in result.findings if f.id == "prometheus:target:down")
    assert "is down" in down.title and "connection refused" in down.title


def test_removing_the_latency_panel_fails(tmp_path: Path, example_target: dict[str, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)
    dashboard = json.loads((MONITORING / "orders-service-dashboard.json").read_text())
    dashboard["panels"] = [p for p in dashboard["panels"] if not p["title"].startswith("Request latency")]
    (tmp_path / "dash.json").write_text(json.dumps(dashboard))
    result = check(tmp_path, **{**shipped_settings(), "dashboard_files": [str(tmp_path / "dash.json")]})
    assert result.status is Status.FAIL
    assert [f.title for f in result.findings if f.failing] == [
        "no dashboard panel queries http_request_duration_seconds_bucket"]


def test_promtool_names_the_line_of_a_broken_rule_file(tmp_path: Path) -> None:
    # A rule file promtool refuses is an error of the check (it was a waivable finding before).
    need_tool("promtool")
    (tmp_path / "bad.yml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up ==\n")
    result = check(tmp_path, alert_rule_files=[str(tmp_path / "bad.yml")])
    assert result.status is Status.ERROR
    assert any(r.startswith(f"promtool check rules {tmp_path / 'bad.yml'}: ") and "bad.yml: 5:15" in r
               for r in result.reasons), result.reasons
    assert not [f for f in result.findings if f.id == "rules:invalid"]


def test_rules_without_promtool_are_validated_with_lines(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        labels: {}\n")
    with pytest.raises(ParseError, match=r"r.yml: line 4: rule A has no 'expr'"):
        read_rules(tmp_path / "r.yml")
    (tmp_path / "y.yml").write_text("groups:\n  - name: x\n   rules: [\n")
    with pytest.raises(ParseError, match=r"y.yml: line \d+: is not valid YAML"):
        read_rules(tmp_path / "y.yml")


def test_alert_without_severity_summary_or_runbook_and_with_unknown_metric(
        tmp_path: Path, example_target: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "r.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "Bare", "expr": 'rate(http_requests_total{job="x"}[5m]) > 1'}]}]}))
    result = check(tmp_path, alert_rule_files=[str(tmp_path / "r.yml")])
    ids = {f.id for f in result.findings}
    assert {"alert:Bare:severity", "alert:Bare:summary", "alert:Bare:runbook", "alert:Bare:metrics"} <= ids
    unknown = next(f for f in result.findings if f.id == "alert:Bare:metrics")
    assert "http_requests_total" in unknown.title


class _Site(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, "no"))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def site(routes: dict[str, tuple[int, str]]) -> Iterator[str]:
    handler: Callable[..., BaseHTTPRequestHandler] = type("Site", (_Site,), {"routes": routes})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def test_metrics_with_garbage_lines_is_an_error_naming_the_line(tmp_path: Path) -> None:
    body = "# TYPE a counter\na_total 1\nthis is not a sample\n"
    with site({"/health": (200, "ok"), "/ready": (200, "ok"), "/metrics": (200, body)}) as url:
        result = check(tmp_path, base_url=url)
    assert result.status is Status.ERROR
    assert "line 3" in result.summary and "this is not a sample" in result.summary


def test_ready_that_stays_2xx_while_the_database_is_down_is_a_finding(tmp_path: Path) -> None:
    with site({"/health": (200, "ok"), "/ready": (200, "ok"), "/metrics": (200, "")}) as url:
        result = check(tmp_path, base_url=url, database_url=f"postgresql://x:y@127.0.0.1:{_free_port()}/db")
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings if f.failing] == ["ready:lies"]


def test_stopping_the_example_database_makes_ready_say_no(tmp_path: Path) -> None:
    need_example_service()
    settings = shipped_settings()
    with running_target(example_start_settings(orders=100, customers=10), REPO, tmp_path / "t") as target:
        settings["database_url"] = target.env["READINESS_DATABASE_URL"]
        settings["base_url"] = target.env["READINESS_BASE_URL"]
        healthy = check(tmp_path / "up", **settings)
        postgres = next(p for name, p in target.processes if name == "postgres")
        postgres.send_signal(signal.SIGINT)  # fast shutdown: the service's pool holds connections
        postgres.wait(timeout=30)
        down = check(tmp_path / "down", **settings)
    assert healthy.status is Status.PASS, healthy.reasons
    assert down.status is Status.FAIL
    ready = next(f for f in down.findings if f.id == "endpoint:ready")
    assert "HTTP 503" in ready.title
    assert "ready:lies" not in {f.id for f in down.findings}


def test_unreachable_service_fails_health(tmp_path: Path) -> None:
    result = check(tmp_path, base_url=f"http://127.0.0.1:{_free_port()}")
    assert result.status is Status.FAIL
    assert {"endpoint:health", "endpoint:ready", "endpoint:metrics"} <= {f.id for f in result.findings}


def test_prometheus_configured_but_absent_is_an_error(tmp_path: Path) -> None:
    result = check(tmp_path, alert_rule_files=[str(MONITORING / "alerts.yml")], prometheus={"url": ""})
    assert result.status is Status.ERROR and "apt install prometheus" in " ".join(result.reasons)


def test_dashboard_problems_are_named(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"title": "T", "uid": "t", "panels": [
        {"id": 1, "type": "timeseries", "title": "", "datasource": "${DS_NOPE}", "targets": [{"expr": "up"}]}]}))
    dashboard = read_dashboard(tmp_path / "d.json")
    assert dashboard.problems == ("panel #1 (id 1) has no title",
                                  "panel #1 (id 1) uses datasource ${DS_NOPE}, which the dashboard does not define")
    (tmp_path / "e.json").write_text('{"title": "T", "panels": [')
    with pytest.raises(ParseError, match=r"e\.json: line 1 column"):
        read_dashboard(tmp_path / "e.json")


def test_shipped_dashboard_and_rules_are_clean() -> None:
    dashboard = read_dashboard(MONITORING / "orders-service-dashboard.json")
    assert dashboard.problems == () and dashboard.uid == "orders-service-overview"
    assert sorted(r.name for r in read_rules(MONITORING / "alerts.yml")) == sorted(ALERTS)
    if shutil.which("promtool"):
        assert subprocess.run(["promtool", "check", "rules", str(MONITORING / "alerts.yml")],
                              capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="x"}[5m])))',
     {"http_request_duration_seconds_bucket"}),
    ("sum(rate(a_total[5m])) / sum(rate(b_count[5m] offset 1h)) > 0.001", {"a_total", "b_count"}),
    ('up{job="orders-service"} == 0 and on(instance) c', {"up", "c"}),
    ('label_replace(x, "dst", "$1", "src", "(.*)")', {"x"}),
])
def test_metric_names_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@fuzz(100)
@given(st.text(max_size=200))
def test_exposition_reader_never_crashes_on_hostile_bodies(body: str) -> None:
    try:
        read_exposition(body, "http://x/metrics")
    except ParseError as exc:
        assert exc.path == "http://x/metrics"


# --- promtool: real for its verdicts, a crashing stand-in for its crashes ------------------------------


def stand_in_promtool(folder: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A STAND-IN named promtool, first on PATH: a shell script that crashes the way a broken install does."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "promtool"
    binary.write_text(f"#!/bin/sh\n{script}\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return binary


@pytest.mark.parametrize(("script", "said"), [
    ("kill -SEGV $$", "promtool was killed by signal SIGSEGV while checking alerts.yml"),
    ("kill -KILL $$", "promtool was killed by signal SIGKILL while checking alerts.yml"),
    ("exit 2", "promtool exited with code 2 and printed nothing while checking alerts.yml"),
    ("exit 1", "promtool exited with code 1 and printed nothing while checking alerts.yml"),
    ("exit 0", "promtool exited with code 0 and printed nothing while checking alerts.yml"),
    ("echo 'Checking x'; exit 0", "promtool exited with code 0 and printed nothing while checking alerts.yml"),
])
def test_a_crashed_promtool_is_an_error_never_an_empty_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               script: str, said: str) -> None:
    stand_in_promtool(tmp_path / "bin", script, monkeypatch)
    result = check(tmp_path, alert_rule_files=[str(MONITORING / "alerts.yml")])
    assert result.status is Status.ERROR
    assert result.summary.startswith(said), result.summary


def test_a_hanging_promtool_is_stopped_at_the_budget_and_is_an_error(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in_promtool(tmp_path / "bin", "exec sleep 60", monkeypatch)
    started = time.monotonic()
    result = check(tmp_path, alert_rule_files=[str(MONITORING / "alerts.yml")], timeout_s=1.5)
    assert result.status is Status.ERROR and "promtool did not finish within 1.5 s" in result.summary
    assert time.monotonic() - started < 20


def test_real_promtool_validates_the_shipped_rules_and_says_so(tmp_path: Path) -> None:
    need_tool("promtool")
    result = check(tmp_path, alert_rule_files=[str(MONITORING / "alerts.yml")], require_alerts=ALERTS)
    assert result.status is Status.PASS, result.reasons
    assert {m.name: m.value for m in result.measurements}["rules validated by promtool"] == "yes"
    log = tmp_path / "reports" / "evidence" / "promtool-1-alerts.log"
    assert "SUCCESS: 4 rules found" in log.read_text()
    assert str(log.relative_to(tmp_path / "reports")) in result.evidence


def test_without_promtool_the_result_says_the_rules_were_not_validated(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = check(tmp_path, alert_rule_files=[str(MONITORING / "alerts.yml")], require_alerts=ALERTS)
    assert result.status is Status.PASS  # the structural check found nothing wrong
    assert {m.name: m.value for m in result.measurements}["rules validated by promtool"] == "no"
    assert any("NOT validated by Prometheus's own parser" in r for r in result.reasons)
    assert result.details["rules_validated_by_promtool"] is False


def test_duplicate_rules_are_a_lint_finding_not_an_error(tmp_path: Path) -> None:
    need_tool("promtool")
    rule = {"alert": "A", "expr": "up == 0", "labels": {"severity": "page"},
            "annotations": {"summary": "s", "description": "d"}}
    (tmp_path / "dup.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule, rule]}]}))
    result = check(tmp_path, alert_rule_files=[str(tmp_path / "dup.yml")])
    assert result.status is Status.FAIL
    lint = next(f for f in result.findings if f.id == "rules:lint")
    assert "duplicate rule" in lint.title


# --- A monitoring file that cannot be read is an error, not a finding -------------------------------


@pytest.mark.parametrize(("name", "body", "said"), [
    ("missing.json", None, "missing.json: cannot be read"),
    ("cut.json", '{"title": "T", "panels": [', "cut.json: line 1 column 27: is not valid JSON"),
    ("list.json", "[1, 2]", "list.json: the dashboard: is a list"),
    ("notitle.json", '{"panels": [{"title": "p"}]}', "notitle.json: title: is missing"),
    ("nopanels.json", '{"title": "T", "panels": []}', "nopanels.json: panels: holds no panel"),
])
def test_an_unreadable_dashboard_is_an_error_naming_file_and_place(tmp_path: Path, name: str, body: str | None,
                                                                   said: str) -> None:
    if body is not None:
        (tmp_path / name).write_text(body)
    waiver = {"check": "dashboards", "id": "dashboard:invalid", "reason": "accepted for the test", "owner": "ops-team",
              "expires": "2099-01-01"}
    body_ = {"version": 1, "checks": {"dashboards": {"dashboard_files": [str(tmp_path / name)]}}, "waivers": [waiver]}
    result = run_check("dashboards", config_from(tmp_path, yaml.safe_dump(body_)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR  # no waiver can cover it
    assert any(said in r for r in result.reasons), result.reasons
    assert {m.name: m.ok for m in result.measurements}["monitoring files unreadable"] is False


@pytest.mark.parametrize(("body", "said"), [
    ("groups:\n  - name: x\n   rules: [\n", "y.yml: line 3: is not valid YAML"),
    ("just: a mapping\n", "y.yml: line 1: has no 'groups' list"),
    ("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up\n        labels: [a, b]\n",
     "y.yml: line 4: labels of A: is ['a', 'b'], not a mapping"),
    ("groups:\n  - rules: []\n", "y.yml: groups[0].name: is None, not text"),
    ("groups:\n  - name: x\n    rules:\n      - alert: A\n        record: r\n        expr: up\n",
     "y.yml: line 4: is neither an alerting nor a recording rule"),
    ("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: [up]\n", "y.yml: line 4: rule A has no 'expr'"),
    ("\xff\xfe", "y.yml: line 1: has no 'groups' list"),
])
def test_an_unreadable_rule_file_is_an_error_naming_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             body: str, said: str) -> None:
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # the gate's own reader, without promtool
    (tmp_path / "y.yml").write_text(body)
    result = check(tmp_path, alert_rule_files=[str(tmp_path / "y.yml")])
    assert result.status is Status.ERROR
    assert any(said in r for r in result.reasons), result.reasons


def test_a_rule_file_holding_an_alias_bomb_is_an_error_at_once(tmp_path: Path) -> None:
    """Found by the fault matrix (dashboards x hostile): a label value aliasing 9**9 values made the gate's
    own reader quote it in full in its error message (minutes, gigabytes) after promtool had refused it."""
    anchors, alias = alias_bomb(indent="  ")
    rules = (MONITORING / "alerts.yml").read_text().replace("severity: page", f"severity: {alias}", 1)
    (tmp_path / "y.yml").write_text(f"x-anchors:\n{anchors}\n{rules}")
    started = time.monotonic()
    with pytest.raises(ParseError, match=r"y\.yml: line 1: YAML aliases expand it to [\d,]+ values"):
        read_rule_file(tmp_path / "y.yml")
    result = check(tmp_path, alert_rule_files=[str(tmp_path / "y.yml")])
    assert result.status is Status.ERROR and time.monotonic() - started < 5


def test_a_rule_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bin.yml").write_bytes(b"groups:\n  - name: \xff\xfe\n")
    with pytest.raises(ParseError, match=r"bin\.yml: byte 18: is not UTF-8 text"):
        read_rules(tmp_path / "bin.yml")


def test_an_unreadable_file_does_not_hide_the_other_problems(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"title": "T", "uid": "t", "panels": [{"id": 1, "title": "",
                                                                                       "targets": [{"expr": "up"}]}]}))
    result = check(tmp_path, dashboard_files=[str(tmp_path / "d.json"), str(tmp_path / "gone.json")])
    assert result.status is Status.ERROR
    assert "1 monitoring problem(s) were found in what could be read" in result.summary
    assert [f.title for f in result.findings if f.failing] == ["T: panel #1 (id 1) has no title"]


def test_semantic_problems_stay_findings_a_waiver_can_cover(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"title": "T", "uid": "t", "panels": [{"id": 1, "title": "",
                                                                                       "targets": [{"expr": "up"}]}]}))
    waiver = {"check": "dashboards", "id": "dashboard:t:panel", "reason": "accepted for the test", "owner": "ops-team",
              "expires": "2099-01-01"}
    body = {"version": 1, "checks": {"dashboards": {"dashboard_files": [str(tmp_path / "d.json")]}},
            "waivers": [waiver]}
    result = run_check("dashboards", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.WAIVED


@pytest.mark.parametrize(("change", "place"), [
    ({"panels": {"a": 1}}, "panels"),
    ({"panels": ["p"]}, "panels[0]"),
    ({"panels": [{"title": 3}]}, "panels[0].title"),
    ({"panels": [{"title": "p", "targets": {"expr": "up"}}]}, "panels[0].targets"),
    ({"panels": [{"title": "p", "targets": [{"expr": 1}]}]}, "panels[0].targets[0].expr"),
    ({"panels": [{"title": "p", "datasource": 7}]}, "panels[0].datasource"),
    ({"panels": [{"title": "p", "datasource": {"uid": ["x"]}}]}, "panels[0].datasource.uid"),
    ({"templating": {"list": [{"name": None}]}}, "templating.list[0].name"),
    ({"templating": [1]}, "templating"),
    ({"rows": [{"panels": "x"}]}, "rows[0].panels"),
    ({"uid": 5}, "uid"),
])
def test_malformed_dashboards_name_the_place(tmp_path: Path, change: dict[str, Any], place: str) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"title": "T", "uid": "t", "panels": [{"title": "p"}], **change}))
    with pytest.raises(ParseError) as caught:
        read_dashboard(tmp_path / "d.json")
    assert caught.value.place == place


# --- Live answers of the wrong shape are errors with the URL ----------------------------------------


class _Answers(BaseHTTPRequestHandler):
    """A STAND-IN for a misconfigured Grafana or a proxy in front of Prometheus: fixed answers per path."""

    answers: dict[str, tuple[int, str]] = {}

    def do_GET(self) -> None:
        status, body = self.answers.get(self.path.split("?")[0], (404, '{"message": "not found"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def answering(answers: dict[str, tuple[int, Any]]) -> Iterator[str]:
    encoded = {path: (status, body if isinstance(body, str) else json.dumps(body))
               for path, (status, body) in answers.items()}
    handler: Callable[..., BaseHTTPRequestHandler] = type("Answers", (_Answers,), {"answers": encoded})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


TARGETS_OK = {"status": "success", "data": {"activeTargets": [
    {"labels": {"job": "orders-service"}, "scrapeUrl": "http://127.0.0.1:1/metrics", "health": "up", "lastError": ""}]}}
RULES_OK = {"status": "success", "data": {"groups": [{"name": "g", "rules": [{"name": a, "type": "alerting"}
                                                                             for a in ALERTS]}]}}
LOGIN_PAGE = "<html><body>Please sign in</body></html>"


@pytest.mark.parametrize(("targets", "rules", "said"), [
    ((200, LOGIN_PAGE), (200, RULES_OK), "/api/v1/targets: line 1 column 1: is not valid JSON"),
    ((200, {"status": "success", "data": []}), (200, RULES_OK), "/api/v1/targets: data: is a list"),
    ((200, {"status": "success", "data": {}}), (200, RULES_OK), "/api/v1/targets: data.activeTargets: is null"),
    ((200, {"status": "success", "data": {"activeTargets": [{"health": "sideways", "scrapeUrl": "u"}]}}),
     (200, RULES_OK), "data.activeTargets[0].health: is 'sideways'"),
    ((503, {"status": "error", "error": "overloaded"}), (200, RULES_OK), "answered HTTP 503 (overloaded)"),
    ((200, TARGETS_OK), (200, {"status": "success", "data": {"groups": [{"rules": [{"type": "alerting"}]}]}}),
     "/api/v1/rules: data.groups[0].rules[0].name: is None, not text"),
    ((200, TARGETS_OK), (200, {"status": "success", "data": {"groups": {"g": 1}}}), "data.groups: is an object"),
])
def test_unexpected_prometheus_answers_are_errors_with_the_url(tmp_path: Path, targets: tuple[int, Any],
                                                               rules: tuple[int, Any], said: str) -> None:
    with answering({"/api/v1/targets": targets, "/api/v1/rules": rules}) as url:
        result = check(tmp_path, alert_rule_files=[str(MONITORING / "alerts.yml")],
                       prometheus={"url": url, "job": "orders-service", "wait_s": 0})
    assert result.status is Status.ERROR
    assert said in result.summary and url in result.summary, result.summary


def test_well_shaped_prometheus_answers_still_pass(tmp_path: Path) -> None:
    with answering({"/api/v1/targets": (200, TARGETS_OK), "/api/v1/rules": (200, RULES_OK)}) as url:
        result = check(tmp_path, alert_rule_files=[str(MONITORING / "alerts.yml")], require_alerts=ALERTS,
                       prometheus={"url": url, "job": "orders-service", "wait_s": 0})
    assert result.status is Status.PASS, result.reasons


def grafana_check(tmp_path: Path, url: str) -> CheckResult:
    return check(tmp_path, dashboard_files=[str(MONITORING / "orders-service-dashboard.json")],
                 grafana={"url": url, "dashboards": ["orders-service-overview"]})


HEALTHY = (200, {"database": "ok", "version": "stand-in"})
DASHBOARD = {"dashboard": {"uid": "orders-service-overview", "title": "orders-service overview"}, "meta": {}}


@pytest.mark.parametrize(("answers", "said"), [
    ({"/api/health": (200, LOGIN_PAGE)}, "/api/health: line 1 column 1: is not valid JSON"),
    ({"/api/health": HEALTHY, "/api/dashboards/uid/orders-service-overview": (200, LOGIN_PAGE)},
     "/api/dashboards/uid/orders-service-overview: line 1 column 1: is not valid JSON"),
    ({"/api/health": HEALTHY, "/api/dashboards/uid/orders-service-overview": (200, {"dashboard": {"uid": "other",
                                                                                                "title": "x"}})},
     "dashboard.uid: is 'other': Grafana answered with another dashboard"),
    ({"/api/health": HEALTHY, "/api/dashboards/uid/orders-service-overview": (200, {"meta": {}})},
     "dashboard: is null (None), not an object"),
    ({"/api/health": HEALTHY, "/api/search": (500, "{}")}, "/api/search answered HTTP 500"),
    ({"/api/health": HEALTHY, "/api/search": (200, {"title": "x"})}, "/api/search: the answer: is an object"),
    ({"/api/health": HEALTHY, "/api/dashboards/uid/orders-service-overview": (502, "bad gateway")},
     "answered HTTP 502"),
])
def test_unexpected_grafana_answers_are_errors_with_the_url(tmp_path: Path, answers: dict[str, tuple[int, Any]],
                                                            said: str) -> None:
    with answering(answers) as url:
        result = grafana_check(tmp_path, url)
    assert result.status is Status.ERROR  # a login page answering 200 used to count as "deployed"
    assert said in result.summary and url in result.summary, result.summary


def test_grafana_that_says_it_is_unhealthy_is_a_finding(tmp_path: Path) -> None:
    answers = {"/api/health": (503, {"database": "failing"}),
               "/api/dashboards/uid/orders-service-overview": (200, DASHBOARD)}
    with answering(answers) as url:
        result = grafana_check(tmp_path, url)
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings if f.failing] == ["grafana:health"]


def test_metrics_that_answer_a_web_page_is_an_error_with_the_url(tmp_path: Path) -> None:
    with site({"/health": (200, "ok"), "/ready": (200, "ok"), "/metrics": (200, LOGIN_PAGE)}) as url:
        result = check(tmp_path, base_url=url)
    assert result.status is Status.ERROR
    assert result.summary.startswith(f"{url}/metrics: line 1: ") and "Please sign in" in result.summary


def test_metrics_larger_than_the_gate_reads_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitoring_live, "MAX_BODY_BYTES", 100)
    monkeypatch.setattr(dashboards, "MAX_BODY_BYTES", 100)
    body = "".join(f"# TYPE m{i} gauge\nm{i} 1\n" for i in range(40))
    with site({"/health": (200, "ok"), "/ready": (200, "ok"), "/metrics": (200, body)}) as url:
        result = check(tmp_path, base_url=url)
    assert result.status is Status.ERROR and "the metric families cannot all be checked" in result.summary


# --- Hypothesis: hostile monitoring input raises only ParseError ------------------------------------


EXPOSITION = ("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
              'http_requests_total{route="/a",status="200"} 3\n# TYPE h histogram\nh_bucket{le="0.1"} 1\n'
              'h_bucket{le="+Inf"} 2\nh_count 2\nh_sum 0.3\n')


@fuzz(200)
@given(st.text(alphabet=st.sampled_from(list('# {}="\\\n\t ,_ahlmTYPEHELP01.+-eNaInf')), max_size=60),
       st.integers(0, len(EXPOSITION)))
def test_exposition_with_hostile_insertions_raises_only_parse_errors(insert: str, at: int) -> None:
    try:
        families = read_exposition(EXPOSITION[:at] + insert + EXPOSITION[at:], "http://x/metrics")
    except ParseError as exc:
        assert exc.path == "http://x/metrics"
        return
    assert all(isinstance(f.labels, frozenset) for f in families.values())


RULES_DOCUMENT = {"groups": [{"name": "g", "rules": [
    {"alert": "A", "expr": "up == 0", "for": "5m", "labels": {"severity": "page"},
     "annotations": {"summary": "s", "runbook_url": "u"}}, {"record": "r:x", "expr": "sum(up)"}]}]}


@fuzz(200)
@given(st.one_of(mutated(RULES_DOCUMENT).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                 st.text(max_size=120)))
def test_mutated_rule_files_raise_only_parse_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yml"
        path.write_text(text)
        try:
            rule_file = read_rule_file(path)
        except ParseError as exc:
            assert exc.path == str(path)
            return
        assert rule_file.total >= len(rule_file.alerts)


DASHBOARD_DOCUMENT = {"title": "T", "uid": "t", "templating": {"list": [{"name": "DS"}]}, "__inputs": [{"name": "I"}],
                      "panels": [{"id": 1, "title": "p", "datasource": "${DS}",
                                  "targets": [{"expr": "rate(a_total[5m])", "datasource": {"uid": "${DS}"}}]},
                                 {"type": "row", "panels": [{"id": 2, "title": "q", "targets": [{"query": "x"}]}]}],
                      "rows": [{"panels": [{"id": 3, "title": "r"}]}]}


@fuzz(200)
@given(mutated(DASHBOARD_DOCUMENT))
def test_mutated_dashboards_raise_only_parse_errors(document: Any) -> None:
    with contextlib.suppress(ParseError):
        dashboard_model(document, "d.json")


@fuzz(200)
@given(mutated(TARGETS_OK["data"]), mutated(RULES_OK["data"]))
def test_mutated_prometheus_answers_raise_only_parse_errors(targets: Any, rules: Any) -> None:
    with contextlib.suppress(ParseError):
        monitoring_live.prometheus_targets(targets, "http://p/api/v1/targets")
    with contextlib.suppress(ParseError):
        monitoring_live.prometheus_alerts(rules, "http://p/api/v1/rules")


@fuzz(200)
@given(mutated(DASHBOARD), mutated([{"uid": "u", "title": "t"}]), mutated({"database": "ok"}))
def test_mutated_grafana_answers_raise_only_parse_errors(dashboard: Any, search: Any, health: Any) -> None:
    with contextlib.suppress(ParseError):
        monitoring_live.grafana_dashboard(dashboard, "http://g/api/dashboards/uid/x", "orders-service-overview")
    with contextlib.suppress(ParseError):
        monitoring_live.grafana_search(search, "http://g/api/search", "t")
    with contextlib.suppress(ParseError):
        monitoring_live.grafana_health(health, 200, "http://g/api/health")


@fuzz(100)
@given(st.binary(max_size=300), st.sampled_from(["d.json", "r.yml"]))
def test_any_bytes_as_a_monitoring_file_raise_only_parse_errors(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        with contextlib.suppress(ParseError):
            (read_dashboard if name.endswith(".json") else read_rule_file)(path)
