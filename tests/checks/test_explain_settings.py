"""The explain check's typed settings: each query's rules, judged in evaluate; ids, views, baselines, config errors.

The plans are synthetic or ingested here; the runs against a real PostgreSQL are in test_explain.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.checks.explain import ExplainSettings, ParsedQuery, QueryRun, evaluate_explain, rules_for
from pipeline.checks.explain.plan import plan_shape, read_plan, walk
from pipeline.checks.explain.policy import node_names
from pipeline.checks.interface import Evaluation
from pipeline.model import Status
from pipeline.runner import run_check
from pipeline.views import Facts, Plan
from tests.checks.test_explain_plan import PLAN, _ingest
from tests.conftest import config_from, write_config


def explain_settings(**keys: Any) -> ExplainSettings:
    """Settings as the config gives them (JSON form)."""
    return ExplainSettings.model_validate_json(json.dumps(keys))


def judge(settings: ExplainSettings, plan: dict[str, Any] | None = None, key: str = "q", name: str = "q",
          previous: list[str] | None = None, role: str | None = None) -> Evaluation:
    """The policy on one query run with a synthetic plan (default: PLAN, 1.5 ms, a Seq Scan of 7 rows)."""
    read = read_plan([plan or PLAN], key)
    run = QueryRun(key, name, {"id": 5}, previous_shape=previous)
    return evaluate_explain((ParsedQuery(run, read, tuple(walk(read.root)), plan_shape(read.root)),), settings,
                            role=role)


def test_a_query_rule_overrides_the_defaults_and_an_explicit_null_turns_a_rule_off() -> None:
    settings = explain_settings(defaults={"max_ms": 50, "max_estimate_factor": 10},
                                queries=[{"name": "a", "sql_file": "a.sql", "max_ms": 5, "max_estimate_factor": None},
                                         {"name": "b", "sql_file": "b.sql"}])
    a, b = rules_for(settings, "a"), rules_for(settings, "b")
    assert (a.max_ms, a.max_seq_scan_rows, a.max_estimate_factor) == (5.0, 10_000, None)
    assert (b.max_ms, b.max_seq_scan_rows, b.max_estimate_factor) == (50.0, 10_000, 10.0)
    assert rules_for(settings, "unknown") == settings.defaults
    assert rules_for(explain_settings(), "q").model_dump() == {
        "max_ms": 100.0, "max_seq_scan_rows": 10_000, "max_estimate_factor": 100.0, "max_shared_read_blocks": None}


@pytest.mark.parametrize(("rules", "status"), [
    ({"max_ms": 1.5}, Status.PASS),  # the median equals the budget: within it
    ({"max_ms": 1.49}, Status.FAIL),
    ({"max_seq_scan_rows": 7}, Status.PASS),  # 5 returned + 2 filtered
    ({"max_seq_scan_rows": 6}, Status.FAIL),
])
def test_the_same_plan_is_judged_by_the_settings_evaluate_is_given(rules: dict[str, Any], status: Status) -> None:
    as_defaults = judge(explain_settings(defaults=rules))
    as_query = judge(explain_settings(queries=[{"name": "q", "sql_file": "q.sql", **rules}]))
    assert as_defaults.status is as_query.status is status


def test_finding_ids_are_kind_key_and_a_node_name_without_spaces() -> None:
    plan = copy.deepcopy(PLAN)
    plan["Plan"]["Plans"][0]["Actual Rows"] = 50_000
    plan["Plan"]["Plans"][1]["Plans"][0].update({"Sort Method": "external merge", "Sort Space Type": "Disk"})
    result = judge(explain_settings(defaults={"max_ms": 1, "max_shared_read_blocks": 0}), plan, key="q[big set]",
                   previous=["Seq Scan on t"])
    plan["Plan"]["Shared Read Blocks"] = 3
    buffers = judge(explain_settings(defaults={"max_shared_read_blocks": 0}), plan, key="q[big set]")
    ids = {f.id for f in result.findings} | {f.id for f in buffers.findings}
    assert ids == {"time:q[big-set]", "seq-scan:q[big-set]:t", "estimate:q[big-set]:seq-scan-on-t",
                   "spill:q[big-set]:sort", "plan-changed:q[big-set]", "buffers:q[big-set]"}
    aliases = {a for f in result.findings for a in f.aliases}  # the ids before issue 13, for old waivers
    assert {"q[big set]:time", "q[big set]:seq-scan:t", "q[big set]:spill:Sort"} <= aliases


def test_node_names_are_unique_when_labels_repeat() -> None:
    plan = {"Plan": {"Node Type": "Append", "Plans": [{"Node Type": "Sort"}, {"Node Type": "Sort"},
                                                      {"Node Type": "Seq Scan", "Relation Name": "Order Lines"}]},
            "Execution Time": 1}
    nodes = tuple(walk(read_plan([plan], "q").root))
    assert node_names(nodes) == ["append", "sort", "sort-2", "seq-scan-on-order-lines"]


def test_the_plan_view_and_the_role_facts() -> None:
    plan = copy.deepcopy(PLAN)
    plan["Plan"]["Plans"][0]["Actual Rows"] = 50_000
    result = judge(explain_settings(defaults={"max_ms": 20}), plan, previous=["Seq Scan on t"], role="reader")
    facts, view = result.views
    assert facts == Facts("Plans ran as", (("role", "reader"),))
    assert isinstance(view, Plan)
    assert (view.title, view.params, view.error, view.median_ms, view.budget_ms) == ("q", (("id", "5"),), "", 1.5, 20)
    assert [n.label for n in view.nodes if n.flagged] == ["Seq Scan on t"]
    assert view.nodes[0].time_ms == 0.5 and view.nodes[1].rows == 50_000
    assert view.shape == tuple(plan_shape(plan["Plan"])) and view.previous_shape == ("Seq Scan on t",)
    assert set(view.problems) == {f.title for f in result.findings}
    assert "role" not in result.details and "queries" not in result.details


def test_a_previous_explain_result_file_is_a_baseline_through_its_plan_views(tmp_path: Path) -> None:
    (tmp_path / "first").mkdir()
    first = _ingest(tmp_path / "first", {"good": json.dumps([PLAN])})
    assert first.status is Status.PASS
    result_file = tmp_path / "first" / "reports" / "results" / "explain.json"
    same = _with_baseline(tmp_path / "same", result_file)
    assert same.status is Status.PASS, same.reasons
    written = json.loads(result_file.read_text())
    next(v for v in written["views"] if v["kind"] == "plan")["shape"] = ["Index Scan using t_pkey on t"]
    (tmp_path / "changed.json").write_text(json.dumps(written))
    changed = _with_baseline(tmp_path / "changed", tmp_path / "changed.json")
    assert changed.status is Status.FAIL and [f.id for f in changed.findings] == ["plan-changed:good"]


def test_a_result_file_of_another_check_is_no_baseline(tmp_path: Path) -> None:
    other = {"schema": "readiness.result/1", "check": "k6", "views": []}
    (tmp_path / "k6.json").write_text(json.dumps(other))
    result = _with_baseline(tmp_path / "run", tmp_path / "k6.json")
    assert result.status is Status.ERROR and "neither a plan history" in result.summary


def _with_baseline(folder: Path, baseline: Path) -> Any:
    folder.mkdir(parents=True)
    (folder / "good.json").write_text(json.dumps([PLAN]))
    config = config_from(folder, yaml.safe_dump({"version": 1, "checks": {"explain": {
        "baseline": str(baseline), "queries": [{"name": "good", "plan": "good.json"}]}}}))
    return run_check("explain", config, folder / "reports", folder)


def test_without_dsn_the_database_comes_from_the_context_environment(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("READINESS_DATABASE_URL", raising=False)
    (tmp_path / "q.sql").write_text("SELECT 1")
    config = config_from(tmp_path, "version: 1\nchecks: {explain: {dsn: '', queries: [{name: q, sql_file: q.sql}]}}\n")
    result = run_check("explain", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and "READINESS_DATABASE_URL is not set" in result.summary


@pytest.mark.parametrize(("section", "key"), [
    ("{queries: [{name: q}]}", "checks.explain.queries.0"),
    ("{queries: [{name: q, sql_file: a.sql}, {name: q, sql_file: b.sql}]}", "each query name must be unique"),
    ("{queries: [{name: 'q 1', sql_file: a.sql}]}", "checks.explain.queries.0.name"),
    ("{queries: [{name: q, sql_file: a.sql, max_ms: null}]}", "checks.explain.queries.0.max_ms"),
    ("{runs: '3'}", "checks.explain.runs"),
    ("{defaults: {max_estimate_factor: 0.5}}", "checks.explain.defaults.max_estimate_factor"),
    ("{role: ''}", "checks.explain.role"),
    ("{rules: {}}", "checks.explain"),
    # sql is the statement itself: the key's old meaning, a file name, is refused with the fix.
    ("{queries: [{name: q, sql: queries/q.sql}]}", "write sql_file: queries/q.sql instead"),
    ("{queries: [{name: q, sql: 'SELECT 1', sql_file: q.sql}]}", "sets both sql (inline) and sql_file"),
])
def test_a_wrong_key_or_type_is_a_configuration_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                section: str, key: str) -> None:
    from pipeline._cli import main

    path = write_config(tmp_path, f"version: 1\nchecks: {{explain: {section}}}\n")
    assert main(["check", "explain", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err
    assert "configuration error" in err and key in err and "Traceback" not in err
