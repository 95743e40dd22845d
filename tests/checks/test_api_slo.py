"""The slo check on the shipped files and on variants of them, and the PromQL reader it shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.dashboards.monitoring import metric_names
from pipeline.checks.slo.matrix import seconds, watcher
from pipeline.model import CheckResult, Status, Verdict
from pipeline.reporters import html, markdown
from pipeline.runner import run_check
from pipeline.verdict import decide
from pipeline.views import Table
from tests.conftest import REPO, config_from

MONITORING = REPO / "configs" / "monitoring"


def _slo(tmp_path: Path, k6: dict[str, Any] | None = None, alerts: str | None = None) -> CheckResult:
    """The slo check with the shipped files, the k6 section or the alert rules replaced."""
    gate: dict[str, Any] = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())
    if k6 is not None:
        gate["checks"]["k6"]["thresholds"].update(k6)
    (tmp_path / "gate.yaml").write_text(yaml.safe_dump(gate))
    rules = MONITORING / "alerts.yml"
    if alerts is not None:
        rules = tmp_path / "alerts.yml"
        rules.write_text(alerts)
    section = {**gate["checks"]["slo"], "spec": str(REPO / "examples" / "orders-service" / "openapi.json"),
               "config": str(tmp_path / "gate.yaml"), "alert_rule_files": [str(rules)],
               "dashboard_files": [str(MONITORING / "orders-service-dashboard.json")]}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"slo": section}}))
    return run_check("slo", config, tmp_path / "reports", REPO)


def test_the_shipped_spec_load_test_alerts_and_dashboard_agree(tmp_path: Path) -> None:
    result = _slo(tmp_path)
    assert result.status is Status.PASS, result.reasons
    matrix = next(v for v in result.views if isinstance(v, Table))
    assert len(matrix.rows) == 6 and all(matrix.ok)


def test_a_k6_threshold_looser_than_the_spec_is_not_ready_and_drawn(tmp_path: Path) -> None:
    result = _slo(tmp_path, k6={"http_req_duration{name:get_order}": ["p(95)<101"]})
    assert result.status is Status.FAIL
    assert {f.id for f in result.findings} == {"load-looser:GET /orders/{order_id}"}
    report = decide([result], mandatory=("slo",))
    assert report.verdict is Verdict.NOT_READY
    page, summary = html.render(report), markdown.render(report)
    assert '<table class="matrix">' in page and "101 ms / 0.001 (get_order)" in page
    assert "| operation | spec p95 \\/ errors |" in summary and "GET \\/orders\\/\\{order\\_id\\}" in summary


def test_alerts_looser_aggregated_or_missing_are_findings(tmp_path: Path) -> None:
    rule = ("groups:\n- name: g\n  rules:\n  - alert: Slow\n    expr: {expr}\n    for: {for_}\n"
            "    labels: {{severity: page}}\n    annotations: {{summary: s, description: d}}\n")
    bucket = "rate(http_request_duration_seconds_bucket[5m])"
    cases = {
        "loose": (f"'histogram_quantile(0.95, sum by (le, route) ({bucket})) > 0.5'", "5m", "alert-looser"),
        "p50": (f"'histogram_quantile(0.5, sum by (le, route) ({bucket})) > 0.05'", "5m", "alert-looser"),
        "slow": (f"'histogram_quantile(0.95, sum by (le, route) ({bucket})) > 0.05'", "1h", "alert-looser"),
        "aggregate": (f"'histogram_quantile(0.95, sum by (le) ({bucket})) > 0.05'", "5m", "no-alert"),
    }
    for name, (expr, for_, kind) in cases.items():
        (tmp_path / name).mkdir()
        result = _slo(tmp_path / name, alerts=rule.format(expr=expr, for_=for_))
        assert result.status is Status.FAIL, name
        assert {f.id.split(":")[0] for f in result.findings} == {kind}, (name, result.reasons)
        assert len(result.findings) == 6


def test_an_unmapped_operation_has_no_load_threshold(tmp_path: Path) -> None:
    gate = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())
    assert "list_customers" in gate["checks"]["k6"]["endpoints"]
    result = _slo(tmp_path, k6={"http_req_duration{name:list_customers}": []})
    assert {f.id for f in result.findings} == {"no-load-threshold:GET /customers"}


def test_a_route_matcher_watches_only_its_routes() -> None:
    one = watcher("a", 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
                       '{route="/orders"}[5m]))) > 0.1', "http_request_duration_seconds_bucket", (), "route", "5m")
    regex = watcher("b", 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
                         '{route=~"/orders.*"}[$__rate_interval])))', "http_request_duration_seconds_bucket", (),
                    "route")
    assert one is not None and one.watches("/orders") and not one.watches("/customers") and one.limit == 0.1
    assert one.for_s == 300
    assert regex is not None and regex.watches("/orders/{order_id}") and not regex.watches("/customers")
    assert watcher("c", "not promql ((", "x", (), "route") is None


@pytest.mark.parametrize(("expr", "names"), [
    ('rate(x_total{route=~"$route"}[$__rate_interval])', {"x_total"}),
    ('sum(rate(a_total[5m])) / ignoring(code) group_left sum(rate(b_total{code="500"}[5m]))', {"a_total", "b_total"}),
    ("sum by (le) (", set()),
    ('count_values("version", build_info)', {"build_info"}),
])
def test_promql_is_read_by_a_parser(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@given(parts=st.lists(st.tuples(st.integers(0, 999), st.sampled_from(["ms", "s", "m", "h", "d"])),
                      min_size=1, max_size=3))
@settings(max_examples=100, deadline=None)
def test_durations_are_summed(parts: list[tuple[int, str]]) -> None:
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    text = "".join(f"{n}{u}" for n, u in parts)
    assert seconds(text) == pytest.approx(sum(n * unit[u] for n, u in parts))
    assert seconds(text + "x") is None and seconds("") is None


def test_an_alert_expression_that_is_not_promql_is_an_error(tmp_path: Path) -> None:
    """Found by the fault matrix (slo x crash): the rule was ignored, so the check said "no alert" (fail)."""
    rules = (MONITORING / "alerts.yml").read_text()
    assert " > " in rules
    broken = rules.replace(" > ", " > > ", 1)
    result = _slo(tmp_path, alerts=broken)
    assert result.status is Status.ERROR, (result.summary, result.reasons)
    assert "is not PromQL" in result.summary
