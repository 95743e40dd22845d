"""EXPLAIN plans and the plan history are validated before any rule sees them."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.checks.explain.history import HISTORY_SCHEMA, read_history
from pipeline.checks.explain.plan import plan_shape, read_plan, spill, walk
from pipeline.checks.explain.policy import ParsedQuery, QueryRun, evaluate_explain
from pipeline.checks.explain.settings import ExplainSettings
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from pipeline.views import Plan
from tests.conftest import config_from
from tests.fuzzing import fuzz

PLAN: dict[str, Any] = {
    "Plan": {"Node Type": "Hash Join", "Actual Rows": 5, "Actual Loops": 1, "Plan Rows": 5, "Actual Total Time": 0.5,
             "Shared Read Blocks": 0, "Plans": [
                 {"Node Type": "Seq Scan", "Relation Name": "t", "Actual Rows": 5, "Actual Loops": 1, "Plan Rows": 5,
                  "Rows Removed by Filter": 2, "Rows Removed by Index Recheck": 0},
                 {"Node Type": "Hash", "Actual Rows": 5, "Actual Loops": 1, "Plan Rows": 5, "Hash Batches": 1,
                  "Peak Memory Usage": 9, "Plans": [
                      {"Node Type": "Sort", "Sort Method": "quicksort", "Sort Space Used": 25, "Sort Space Type":
                       "Memory", "Actual Rows": 5, "Actual Loops": 1, "Plan Rows": 5, "Disk Usage": 0}]}]},
    "Planning Time": 0.1, "Execution Time": 1.5, "Settings": {"work_mem": "64kB"},
    "JIT": {"Functions": 2, "Timing": {"Total": 0.3}},
}


def _with(path: tuple[Any, ...], value: Any) -> list[dict[str, Any]]:
    plan = copy.deepcopy(PLAN)
    target: Any = plan
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return [plan]


def test_a_valid_plan_reads_whole() -> None:
    plan = read_plan([PLAN], "plan of query q")
    assert (plan.execution_ms, plan.planning_ms, plan.settings) == (1.5, 0.1, {"work_mem": "64kB"})
    assert [n.label for n in walk(plan.root)] == ["Hash Join", "Seq Scan on t", "Hash", "Sort"]


S0, S1 = ("Plan", "Plans", 0), ("Plan", "Plans", 1, "Plans", 0)


@pytest.mark.parametrize(("path", "value", "place", "problem"), [
    (("Execution Time",), math.nan, "Execution Time", "is nan, not a finite number"),
    (("Execution Time",), -1.0, "Execution Time", "below the smallest possible value 0"),
    (("Execution Time",), True, "Execution Time", "is True, not a number"),
    (("Execution Time",), "12", "Execution Time", "not a number"),
    (("Execution Time",), math.inf, "Execution Time", "not a finite number"),
    (("Execution Time",), 10**400, "Execution Time", "not a finite number"),
    (("Planning Time",), -0.5, "Planning Time", "below the smallest"),
    (("Plan", "Actual Rows"), math.nan, "Plan.Actual Rows", "not a finite number"),
    (("Plan", "Actual Total Time"), -0.1, "Plan.Actual Total Time", "below the smallest"),
    (("Plan", "Shared Read Blocks"), -1, "Plan.Shared Read Blocks", "below the smallest"),
    ((*S0, "Actual Loops"), True, "Plan.Plans[0].Actual Loops", "not a number"),
    ((*S0, "Plan Rows"), math.inf, "Plan.Plans[0].Plan Rows", "not a finite number"),
    ((*S0, "Rows Removed by Filter"), -3, "Plan.Plans[0].Rows Removed by Filter", "below the smallest"),
    ((*S0, "Rows Removed by Index Recheck"), None, "Plan.Plans[0].Rows Removed by Index Recheck", "not a number"),
    (("Plan", "Plans", 1, "Hash Batches"), False, "Plan.Plans[1].Hash Batches", "not a number"),
    ((*S1, "Sort Space Used"), "big", "Plan.Plans[1].Plans[0].Sort Space Used", "not a number"),
    ((*S1, "Disk Usage"), math.nan, "Plan.Plans[1].Plans[0].Disk Usage", "not a finite number"),
    ((*S1, "Sort Method"), 7, "Plan.Plans[1].Plans[0].Sort Method", "not text"),
    (("Plan", "Node Type"), 3, "Plan.Node Type", "is 3, not text"),
    ((*S0, "Node Type"), None, "Plan.Plans[0].Node Type", "not text"),
    ((*S0, "Relation Name"), ["t"], "Plan.Plans[0].Relation Name", "not text"),
    (("Plan", "Plans"), {"Node Type": "Seq Scan"}, "Plan.Plans", "not a list of plan nodes"),
    (S0, "Seq Scan", "Plan.Plans[0]", "not a plan node"),
    (("JIT", "Timing", "Total"), -1, "JIT.Timing.Total", "below the smallest"),
    (("Plan", "Workers"), [{"Worker Number": 0, "Actual Rows": math.nan}], "Plan.Workers[0].Actual Rows", "finite"),
    (("Settings",), ["work_mem"], "Settings", "not an object"),
])
def test_a_bad_number_or_field_names_the_query_and_the_node(path: tuple[Any, ...], value: Any, place: str,
                                                            problem: str) -> None:
    with pytest.raises(ParseError) as caught:
        read_plan(_with(path, value), "plan of query q")
    assert caught.value.path == "plan of query q" and caught.value.place == place
    assert problem in caught.value.reason


def test_missing_execution_time_says_analyze_is_needed() -> None:
    plan = copy.deepcopy(PLAN)
    del plan["Execution Time"]
    with pytest.raises(ParseError, match="was not made with EXPLAIN ANALYZE"):
        read_plan([plan], "q")


def test_a_plan_nested_too_deep_is_refused_not_a_crash() -> None:
    node: dict[str, Any] = {"Node Type": "Result"}
    for _ in range(2000):
        node = {"Node Type": "Limit", "Plans": [node]}
    with pytest.raises(ParseError, match="nested deeper than"):
        read_plan([{"Plan": node, "Execution Time": 1}], "q")
    with pytest.raises(ParseError, match="nested too deep"):
        read_plan("[" * 100_000 + "]" * 100_000, "q")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["Plan", "Plans", "Node Type", "Execution Time", "Planning Time", "Actual Rows",
                         "Actual Loops", "Plan Rows", "Hash Batches", "Sort Method", "Sort Space Type",
                         "Disk Usage", "Relation Name", "Parent Relationship", "Settings", "x"]),
        children, max_size=6),
    max_leaves=30)


@fuzz(300)
@given(output=_json)
def test_any_json_is_a_plan_or_a_parse_error(output: Any) -> None:
    try:
        plan = read_plan(output, "q")
    except ParseError:
        return
    nodes = tuple(walk(plan.root))
    for node in nodes:
        spill(node)
    run = QueryRun("q", "q", {})
    settings_ = ExplainSettings.model_validate({})
    result = evaluate_explain((ParsedQuery(run, plan, nodes, plan_shape(plan.root)),), settings_)
    assert result.status in (Status.PASS, Status.FAIL)


@fuzz(200)
@given(text=st.text(max_size=200))
def test_any_text_is_a_plan_or_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        read_plan(text, "q")


def _ingest(tmp_path: Path, plans: dict[str, str]) -> CheckResult:
    queries = []
    for name, body in plans.items():
        (tmp_path / f"{name}.json").write_text(body)
        queries.append({"name": name, "plan": f"{name}.json"})
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"explain": {"queries": queries}}}))
    return run_check("explain", config, tmp_path / "reports", tmp_path)


@pytest.mark.parametrize("execution_time", ["NaN", "-3.5", "true", "Infinity", "\"12\""])
def test_an_ingested_plan_with_a_bad_execution_time_is_an_error(tmp_path: Path, execution_time: str) -> None:
    good = json.dumps([PLAN])
    bad = good.replace('"Execution Time": 1.5', f'"Execution Time": {execution_time}')
    assert bad != good
    result = _ingest(tmp_path, {"good": good, "bad": bad})
    assert result.status is Status.ERROR
    assert result.reasons[0].startswith(f"plan of query bad ({tmp_path / 'bad.json'}): Execution Time: is ")
    plans = {view.title: view for view in result.views if isinstance(view, Plan)}
    assert plans["good"].nodes and plans["bad"].error == result.reasons[0] and not plans["bad"].nodes


@pytest.mark.parametrize("content", [
    b"[]", b"not json", b"\xff\xfe\x00", b"NaN", b"[" * 50_000,
    json.dumps({"schema": HISTORY_SCHEMA, "queries": []}).encode(),
    json.dumps({"schema": HISTORY_SCHEMA, "queries": {"good": {"shape": "Seq Scan"}}}).encode(),
    json.dumps({"schema": HISTORY_SCHEMA, "queries": {"good": "Seq Scan"}}).encode(),
    json.dumps({"schema": HISTORY_SCHEMA, "queries": {"good": {"shape": [1, 2]}}}).encode(),
    json.dumps({"details": {"queries": [1]}}).encode(),
    json.dumps({"details": {"queries": [{"key": "good", "shape": {"a": 1}}]}}).encode(),
])
def test_a_malformed_previous_history_is_set_aside_with_a_note(tmp_path: Path, content: bytes) -> None:
    history = tmp_path / "reports" / "evidence" / "explain-plans.json"
    history.parent.mkdir(parents=True)
    history.write_bytes(content)
    result = _ingest(tmp_path, {"good": json.dumps([PLAN])})
    assert result.status is Status.PASS, result.reasons
    assert any("the plans were not compared with the previous run" in reason for reason in result.reasons)
    rewritten = json.loads(history.read_text())
    assert rewritten["queries"]["good"]["shape"][0] == "Hash Join"


def test_a_malformed_or_missing_baseline_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "baseline.json").write_text('{"details": {"queries": "x"}}')
    with pytest.raises(ParseError, match="neither a plan history"):
        read_history(tmp_path / "baseline.json", required=True)
    with pytest.raises(ArtifactMissing, match="does not exist"):
        read_history(tmp_path / "absent.json", required=True)
    assert read_history(tmp_path / "absent.json", required=False) == ({}, None)


@fuzz(200)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_history_file_is_shapes_or_a_note(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    path = tmp_path_factory.mktemp("history") / "explain-plans.json"
    path.write_bytes(content)
    shapes, note = read_history(path, required=False)
    assert note is None or "not compared" in note
    assert all(isinstance(k, str) and all(isinstance(line, str) for line in v) for k, v in shapes.items())
