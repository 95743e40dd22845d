"""The dashboards check: real endpoints, the example's monitoring files, promtool and a real Prometheus."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
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

from pipeline.checks.monitoring import metric_names, read_dashboard, read_exposition, read_rules
from pipeline.errors import ParseError
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from pipeline.target import running_target
from tests.conftest import REPO, config_from, example_start_settings, need_example_service, need_tool

MONITORING = REPO / "configs" / "monitoring"
ALERTS = ["OrdersServiceHighLatency", "OrdersServiceHighErrorRate", "OrdersServicePoolSaturated", "OrdersServiceDown"]


def shipped_settings() -> dict[str, Any]:
    """checks.dashboards of the shipped config, with absolute file paths."""
    settings = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())["checks"]["dashboards"]
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
    need_tool("promtool")
    (tmp_path / "bad.yml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up ==\n")
    result = check(tmp_path, alert_rule_files=[str(tmp_path / "bad.yml")])
    assert result.status is Status.FAIL
    promtool = next(f for f in result.findings if f.id == "rules:invalid")
    assert "promtool check rules bad.yml" in promtool.title and "5:15" in promtool.title


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


@given(st.text(max_size=200))
def test_exposition_reader_never_crashes_on_hostile_bodies(body: str) -> None:
    try:
        read_exposition(body, "http://x/metrics")
    except ParseError as exc:
        assert exc.path == "http://x/metrics"
