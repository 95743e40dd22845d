"""The k6 check's typed settings: defaults, the profile's load, what collect hands k6, ids and config errors.

Nothing here runs k6: ``_prepare`` only writes the options file and the arguments (the runs
with the real k6 are in test_k6_run.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.interface import CheckContext
from pipeline.checks.k6 import K6Parsed, _prepare, evaluate_k6
from pipeline.checks.k6.report import threshold_id
from pipeline.checks.k6.summary import parse_summary
from pipeline.model import CheckResult, Status, Waiver
from pipeline.runner import apply_waivers, run_check
from tests.checks.test_k6_summary import export_doc, k6_settings
from tests.conftest import config_from, write_config


def _context(tmp_path: Path, profile: str = "local", **env: str) -> CheckContext:
    (tmp_path / "load.js").write_text("export default function () {}\n")
    return CheckContext(reports_dir=tmp_path / "reports", project_dir=tmp_path, deadline_s=60, profile=profile,
                        env=dict(env), check="k6")


@pytest.mark.parametrize(("profile", "vus", "duration"), [("local", "20", "30s"), ("release", "100", "5m"),
                                                          ("other", "20", "30s")])
def test_the_profile_sets_the_load_unless_the_config_does(tmp_path: Path, profile: str, vus: str,
                                                          duration: str) -> None:
    run = _prepare(k6_settings(script="load.js"), _context(tmp_path, profile))
    assert run.load[:4] == ["--vus", vus, "--duration", duration]
    configured = _prepare(k6_settings(script="load.js", vus=7, duration="2m"), _context(tmp_path, profile))
    assert configured.load[:4] == ["--vus", "7", "--duration", "2m"]


def test_stages_replace_vus_and_duration(tmp_path: Path) -> None:
    settings_ = k6_settings(script="load.js", stages=[{"duration": "1m", "target": 50}, {"duration": "30s",
                                                                                      "target": 0}])
    assert _prepare(settings_, _context(tmp_path)).load[:4] == ["--stage", "1m:50", "--stage", "30s:0"]


@pytest.mark.parametrize(("profile", "duration"), [("local", "30s"), ("release", "5m")])
def test_an_arrival_rate_goes_into_the_options_file_as_a_scenario(tmp_path: Path, profile: str,
                                                                 duration: str) -> None:
    arrival = {"rate": 50, "pre_allocated_vus": 10, "max_vus": 40}
    run = _prepare(k6_settings(script="load.js", arrival_rate=arrival), _context(tmp_path, profile))
    assert "--vus" not in run.load and "--duration" not in run.load  # they would replace the scenario
    options = json.loads(run.options.read_text())
    assert options["scenarios"] == {"readiness_arrival_rate": {
        "executor": "constant-arrival-rate", "rate": 50, "timeUnit": "1s", "duration": duration,
        "preAllocatedVUs": 10, "maxVUs": 40}}
    # Proof that the scenario ran: without a sample (the script replaced the scenarios) it is an error.
    assert options["thresholds"]["iterations{scenario:readiness_arrival_rate}"] == ["count>0"]
    own = k6_settings(script="load.js", arrival_rate={"rate": 5, "pre_allocated_vus": 3, "duration": "7s"})
    scenario = json.loads(_prepare(own, _context(tmp_path)).options.read_text())["scenarios"]["readiness_arrival_rate"]
    assert (scenario["duration"], scenario["maxVUs"]) == ("7s", 3)
    closed = json.loads(_prepare(k6_settings(script="load.js"), _context(tmp_path)).options.read_text())
    assert "scenarios" not in closed


def test_base_url_and_token_reach_the_script_from_the_context_environment(tmp_path: Path) -> None:
    ctx = _context(tmp_path, READINESS_BASE_URL="http://127.0.0.1:9999", READINESS_API_TOKEN="tok")
    run = _prepare(k6_settings(script="load.js", env={"CUSTOMERS": "10"}), ctx)
    assert (run.env["BASE_URL"], run.env["API_TOKEN"], run.env["CUSTOMERS"]) == ("http://127.0.0.1:9999", "tok", "10")
    assert "tok" not in " ".join(run.load)  # never on the command line
    assert _prepare(k6_settings(script="load.js", base_url="http://x:1"), ctx).env["BASE_URL"] == "http://x:1"
    assert _prepare(k6_settings(script="load.js"), _context(tmp_path)).env["BASE_URL"] == "http://127.0.0.1:8000"


def test_the_options_file_carries_the_thresholds_in_k6s_forms_for_its_own_abort(tmp_path: Path) -> None:
    thresholds = {"http_req_duration": ["p(95)<200"],
                  "http_req_failed": [{"threshold": "rate<0.001", "abortOnFail": True, "delayAbortEval": "10s"}]}
    run = _prepare(k6_settings(script="load.js", thresholds=thresholds, endpoints=["get_order"]), _context(tmp_path))
    options = json.loads(run.options.read_text())
    assert options["thresholds"] == {**thresholds, "http_req_duration{name:get_order}": ["p(95)<200"],
                                     "http_req_failed{name:get_order}": thresholds["http_req_failed"]}
    assert "p(95)" in options["summaryTrendStats"] and "count" in options["summaryTrendStats"]


def test_evaluate_judges_the_thresholds_of_the_settings_it_is_given() -> None:
    parsed = K6Parsed(parse_summary(export_doc(10.0, 0.0, {})), 0, False)
    assert evaluate_k6(parsed, k6_settings()).status is Status.PASS
    # The same summary, judged with an endpoint the run never evaluated: nothing proves it met.
    missing = evaluate_k6(parsed, k6_settings(endpoints=["get_order"]))
    assert missing.status is Status.ERROR
    assert "http_req_duration{name:get_order} p(95)<200" in missing.reasons[0]
    objects = k6_settings(thresholds={"http_req_duration": [{"threshold": "p(95)<200", "abortOnFail": True}],
                                      "http_req_failed": ["rate<0.001"]})
    assert evaluate_k6(parsed, objects).status is Status.PASS


@pytest.mark.parametrize(("metric", "expression", "expected"), [
    ("http_req_duration{name:get_order}", "p(95)<200", "threshold:http_req_duration{name:get_order}:p(95)<200"),
    ("fake_rate", "rate >= 0.8", "threshold:fake_rate:rate>=0.8"),
    ("http_req_duration{name:get order}", " p(99) < 5 ", "threshold:http_req_duration{name:get_order}:p(99)<5"),
])
def test_threshold_ids_have_no_spaces(metric: str, expression: str, expected: str) -> None:
    assert threshold_id(metric, expression) == expected


@settings(max_examples=200, deadline=None)
@given(metric=st.text(min_size=1, max_size=30), expression=st.text(max_size=30))
def test_any_threshold_id_is_one_word_of_its_kind(metric: str, expression: str) -> None:
    finding_id = threshold_id(metric, expression)
    assert finding_id.startswith("threshold:") and not any(c.isspace() for c in finding_id)


@pytest.mark.parametrize("waived_id", ["threshold:http_req_failed:rate<0.001", "http_req_failed rate<0.001"])
def test_a_waiver_matches_the_new_id_and_the_one_before_issue_13(waived_id: str) -> None:
    evaluation = evaluate_k6(K6Parsed(parse_summary(export_doc(10.0, 0.01, {"rate": True})), 99, False),
                             k6_settings())
    assert evaluation.status is Status.FAIL
    result = CheckResult("k6", evaluation.status, evaluation.summary, findings=evaluation.findings)
    waiver = Waiver("k6", waived_id, "known, fixed next sprint", "team", dt.date(2026, 2, 1))
    assert apply_waivers(result, [waiver], dt.date(2026, 1, 1)).status is Status.WAIVED


@pytest.mark.parametrize(("section", "key"), [
    ("{vus: 0}", "checks.k6.vus"), ("{duration: 5 minutes}", "checks.k6.duration"),
    ("{mode: fast}", "checks.k6.mode"), ("{thresholds: {http_req_duration: [{abortOnFail: true}]}}",
                                          "checks.k6.thresholds"),
    ("{stages: [{duration: 1m}]}", "checks.k6.stages"), ("{endpoint: [a]}", "checks.k6"),
    ("{env: {A: 1}}", "checks.k6.env.A"),
    ("{arrival_rate: {rate: 0, pre_allocated_vus: 1}}", "checks.k6.arrival_rate.rate"),
    ("{arrival_rate: {rate: 5}}", "checks.k6.arrival_rate"),
    ("{arrival_rate: {rate: 5, pre_allocated_vus: 10, max_vus: 5}}", "max_vus (5) is below pre_allocated_vus (10)"),
    ("{vus: 5, arrival_rate: {rate: 5, pre_allocated_vus: 1}}", "arrival_rate replaces vus, duration and stages"),
    ("{arrival_rate: {rate: 5, pre_allocated_vus: 1, time_unit: 1 second}}", "checks.k6.arrival_rate.time_unit"),
])
def test_a_wrong_key_or_type_is_a_configuration_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                section: str, key: str) -> None:
    from pipeline._cli import main

    path = write_config(tmp_path, f"version: 1\nchecks: {{k6: {section}}}\n")
    assert main(["check", "k6", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err
    assert "configuration error" in err and key in err and "Traceback" not in err


def test_ingest_mode_is_judged_by_the_settings_thresholds(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps(export_doc(10.0, 0.0, {})))
    passed = run_check("k6", config_from(tmp_path, "version: 1\nchecks: {k6: {summary: summary.json}}\n"),
                       tmp_path / "r1", tmp_path)
    assert passed.status is Status.PASS and passed.tool.mode == "ingest"
    stricter = config_from(tmp_path, "version: 1\nchecks: {k6: {summary: summary.json, endpoints: [get_order]}}\n")
    assert run_check("k6", stricter, tmp_path / "r2", tmp_path).status is Status.ERROR
