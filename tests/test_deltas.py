"""Deltas per check: plan cost per query, and the rules that gate on how it moved."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from pipeline import deltas
from pipeline.checks.explain.plan import plan_shape, read_plan, walk
from pipeline.checks.explain.policy import PLAN_COST, ParsedQuery, QueryRun, evaluate_explain
from pipeline.checks.explain.settings import ExplainSettings
from pipeline.model import CheckResult, Measurement, Status
from pipeline.policy import DELTA_RULES
from pipeline.policy_diff import compare
from tests.conftest import result

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
