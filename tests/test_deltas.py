"""Deltas per check: plan cost per query, and the rules that gate on how it moved."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import deltas
from pipeline._cli import main
from pipeline.checks.explain.plan import plan_shape, read_plan, walk
from pipeline.checks.explain.policy import PLAN_COST, ParsedQuery, QueryRun, evaluate_explain
from pipeline.checks.explain.settings import ExplainSettings
from pipeline.config import Config
from pipeline.model import CheckResult, Measurement, Status
from pipeline.policy import DELTA_RULES
from pipeline.policy_diff import compare
from pipeline.runner import run_check, write_result
from tests.conftest import MANDATORY, REPO, config_from, result, stamp_results, write_config, write_results

MONITORING = REPO / "configs" / "monitoring"

PLAN: dict[str, Any] = {"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders", "Actual Rows": 5,
                                 "Actual Loops": 1, "Plan Rows": 5, "Total Cost": 35.5, "Startup Cost": 0},
                        "Execution Time": 0.4, "Planning Time": 0.1}


def explained(plan: dict[str, Any], key: str = "orders_by_customer") -> dict[str, Any]:
    """The explain check's measurements for one query with ``plan``, by name."""
    read = read_plan([plan], "plan of query q")
    query = ParsedQuery(QueryRun(key, key, {}), read, tuple(walk(read.root)), plan_shape(read.root))
    evaluation = evaluate_explain((query,), ExplainSettings.model_validate({}))
    return {m.name: m for m in evaluation.measurements}


def test_the_explain_check_records_each_querys_plan_total_cost_with_its_time() -> None:
    found = explained(PLAN)
    assert found[f"orders_by_customer{PLAN_COST}"].value == 35.5
    assert found[f"orders_by_customer{PLAN_COST}"].unit == "cost units"
    assert found["orders_by_customer execution time (median)"].value == 0.4


def test_a_plan_without_costs_records_no_cost_rather_than_a_zero() -> None:
    plan = copy.deepcopy(PLAN)
    del plan["Plan"]["Total Cost"]  # EXPLAIN (COSTS OFF)
    assert not any(name.endswith(PLAN_COST) for name in explained(plan))


def test_the_deltas_name_the_cost_as_the_explain_check_does() -> None:
    assert deltas.PLAN_COST == PLAN_COST


def explain_result(cost: float, time_ms: float = 1.0) -> CheckResult:
    return replace(result("explain", Status.PASS), measurements=(
        Measurement(f"q{PLAN_COST}", cost, "cost units"),
        Measurement("q execution time (median)", time_ms, "ms", "<= 50", True)))


def test_the_deltas_show_each_querys_cost_old_and_new() -> None:
    (delta,) = deltas.compare([explain_result(35.5)], [explain_result(120.25)])
    moved = {name: (was, now) for name, was, now in delta.numbers}
    assert moved == {f"q{PLAN_COST}": (35.5, 120.25)}
    assert delta.to_dict()["numbers"][0]["change"] == 84.75


@pytest.mark.parametrize(("now", "broken"), [(150.0, False), (150.01, True), (20.0, False)])
def test_plan_cost_growth_is_gated_per_query_at_the_configured_fraction(now: float, broken: bool) -> None:
    moved = deltas.compare([explain_result(100.0)], [explain_result(now)])
    found = deltas.broken_rules(moved, {"max_plan_cost_growth": 0.5})
    assert bool(found) is broken
    if broken:
        assert found == [f"explain: q{PLAN_COST} grew 50% (100 -> {now:g} cost units), more than "
                         "deltas.max_plan_cost_growth 50%"]


def test_a_cost_rule_does_not_judge_the_time_and_the_time_rule_not_the_cost() -> None:
    moved = deltas.compare([explain_result(100.0, 1.0)], [explain_result(400.0, 1.0)])
    assert deltas.broken_rules(moved, {"max_query_time_growth": 0.1}) == []
    moved = deltas.compare([explain_result(100.0, 1.0)], [explain_result(100.0, 9.0)])
    assert deltas.broken_rules(moved, {"max_plan_cost_growth": 0.1}) == []


@pytest.mark.parametrize(("before", "after", "kind"), [(0.5, 1.0, "loosened"), (0.5, 0.2, "tightened"),
                                                       (0.5, None, "loosened"), (None, 0.5, "tightened")])
def test_the_cost_rule_is_stricter_when_lower_and_off_when_unset(before: float | None, after: float | None,
                                                                  kind: str) -> None:
    rule = {"stricter": DELTA_RULES["max_plan_cost_growth"]}
    assert compare(rule, before, after)[0] == kind


# Alert rules and dashboards added or removed, by name.

def monitoring_config(tmp_path: Path, alerts: str) -> Config:
    rules = tmp_path / "alerts.yml"
    rules.write_text(alerts)
    files = {"alert_rule_files": [str(rules)], "dashboard_files": [str(MONITORING / "orders-service-dashboard.json")]}
    slo = {**files, "spec": str(REPO / "examples" / "orders-service" / "openapi.json"),
           "config": str(REPO / "configs" / "readiness.yaml"),
           "k6_tags": {"GET /orders": ["orders_by_customer", "orders_by_status"]}}
    return config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"dashboards": files, "slo": slo}}))


def test_the_dashboards_and_slo_checks_record_the_alert_rules_and_dashboards_they_read(tmp_path: Path) -> None:
    shipped = (MONITORING / "alerts.yml").read_text()
    config = monitoring_config(tmp_path, shipped)
    for check in ("dashboards", "slo"):
        found = run_check(check, config, tmp_path / "reports", REPO)
        assert deltas.names(found) == {
            "alerts": {"OrdersServiceHighLatency", "OrdersServiceHighErrorRate", "OrdersServicePoolSaturated",
                       "OrdersServiceDown"},
            "dashboards": {"orders-service overview"}}, (check, found.reasons)


def seen(check: str, alerts: list[str], dashboards: list[str] | None = None) -> CheckResult:
    details: dict[str, Any] = {"alerts": alerts} | ({"dashboards": dashboards} if dashboards is not None else {})
    return replace(result(check, Status.PASS), details=details)


def test_alerts_and_dashboards_added_and_removed_are_listed_by_name() -> None:
    (delta,) = deltas.compare([seen("dashboards", ["A", "B"], ["Overview"])],
                              [seen("dashboards", ["A", "C"], ["Overview", "Pool"])],
                              {"alerts": frozenset({"B"}), "dashboards": frozenset()})
    assert [n.to_dict() for n in delta.named] == [
        {"kind": "alerts", "what": "alert rules", "added": ["C"], "removed": ["B"], "removed_required": ["B"]},
        {"kind": "dashboards", "what": "dashboards", "added": ["Pool"], "removed": [], "removed_required": []}]


@pytest.mark.parametrize("listed", [None, "A, B", [1, 2], ["A", None]])
def test_names_a_result_does_not_list_as_text_are_unknown_not_all_removed(listed: Any) -> None:
    broken = replace(result("slo", Status.PASS), details={"alerts": listed} if listed is not None else {})
    (delta,) = deltas.compare([seen("slo", ["A", "B"])], [broken])
    assert delta.named == ()


def test_the_required_names_come_from_the_baselines_recorded_policy() -> None:
    policy = {"rules": {"dashboards.require_alerts": {"value": ["B", "A"]}}}
    assert deltas.required_names(policy) == {"alerts": frozenset({"A", "B"}), "dashboards": frozenset()}
    assert deltas.required_names(None) == {"alerts": frozenset(), "dashboards": frozenset()}


REQUIRED = """\
version: 1
service: {name: orders}
checks:
  dashboards: {require_alerts: [%s]}
"""


def release(tmp_path: Path, name: str, alerts: list[str], required: str, *extra: str) -> dict[str, Any]:
    reports = tmp_path / name
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    write_result(seen("dashboards", alerts, ["Overview"]), reports)
    config = write_config(tmp_path / f"c-{name}", REQUIRED % required + "".join(extra))
    stamp_results(reports, config)
    main(["verdict", "--reports-dir", str(reports), "--config", str(config), "--baseline", str(tmp_path / "v1")])
    data: dict[str, Any] = json.loads((reports / "readiness.json").read_text())
    return data


def test_a_removed_required_alert_is_listed_and_without_an_approval_not_ready(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "v1"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    write_result(seen("dashboards", ["OrdersDown", "HighLatency"], ["Overview"]), reports)
    config = write_config(tmp_path / "c1", REQUIRED % "OrdersDown, HighLatency")
    stamp_results(reports, config)
    assert main(["verdict", "--reports-dir", str(reports), "--config", str(config)]) == 0

    data = release(tmp_path, "v2", ["HighLatency", "PoolSaturated"], "HighLatency")
    assert data["verdict"] == "not_ready"
    (named,) = next(d for d in data["comparison"]["deltas"] if d["check"] == "dashboards")["named"]
    assert (named["added"], named["removed"], named["removed_required"]) == (["PoolSaturated"], ["OrdersDown"],
                                                                             ["OrdersDown"])
    change = next(c for c in data["comparison"]["policy_changes"] if c["key"] == "dashboards.require_alerts")
    assert change["kind"] == "loosened" and change["detail"] == "removed OrdersDown"
    markdown = (tmp_path / "v2" / "readiness.md").read_text()
    assert "alert rules added: PoolSaturated, removed: OrdersDown (required by the baseline's policy: OrdersDown)" \
        in markdown.replace("\\", "")
    page = (tmp_path / "v2" / "readiness.html").read_text()
    assert "alert rules: PoolSaturated" in page and "alert rules: OrdersDown" in page
    assert "required by the baseline's policy: OrdersDown" in page

    approval = ("approvals:\n  - {setting: dashboards.require_alerts, approver: Rita, reason: the service has no "
                "down state any more, expires: 2099-01-01}\n")
    assert release(tmp_path, "v3", ["HighLatency", "PoolSaturated"], "HighLatency", approval)["verdict"] == "ready"


def test_an_alert_removed_that_no_policy_required_is_listed_and_does_not_gate(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "v1"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    write_result(seen("dashboards", ["OrdersDown", "Noise"]), reports)
    config = write_config(tmp_path / "c1", REQUIRED % "OrdersDown")
    stamp_results(reports, config)
    assert main(["verdict", "--reports-dir", str(reports), "--config", str(config)]) == 0
    data = release(tmp_path, "v2", ["OrdersDown"], "OrdersDown")
    assert data["verdict"] == "ready", data["reasons"]
    (named,) = next(d for d in data["comparison"]["deltas"] if d["check"] == "dashboards")["named"]
    assert named["removed"] == ["Noise"] and named["removed_required"] == []
