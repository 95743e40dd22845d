"""Real outputs of real tools (../shared/fixtures/real) through the parsers and the policy."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.checks.audit import AuditParsed, AuditSettings, evaluate_audit, osv
from pipeline.checks.audit.offline import match_offline
from pipeline.checks.audit.reports import SEVERITY_RANK, Dependency, read_requirements
from pipeline.checks.audit.tool_reports import read_report
from pipeline.checks.coverage import CoverageParsed, CoverageSettings, evaluate_coverage
from pipeline.checks.coverage.reports import read_cobertura, read_junit, read_lcov
from pipeline.checks.dashboards import promtool as promtool
from pipeline.checks.dashboards.monitoring import read_dashboard, read_exposition, read_rule_file, read_rules
from pipeline.checks.explain import ExplainSettings, ParsedQuery, QueryRun, evaluate_explain
from pipeline.checks.explain.plan import plan_shape, read_plan, walk
from pipeline.checks.k6 import K6Parsed, K6Settings, evaluate_k6
from pipeline.checks.k6.summary import EXPORT, HANDLE_SUMMARY, read_summary
from pipeline.checks.zap import ZapParsed, ZapSettings, evaluate_zap
from pipeline.checks.zap.report import Rules
from pipeline.checks.zap.report import read_json_report as read_zap_json
from pipeline.checks.zap.report import read_rules as read_zap_rules
from pipeline.checks.zap.report import read_xml_report as read_zap_xml
from pipeline.errors import ParseError
from pipeline.model import Status
from pipeline.reporters import write_all
from pipeline.results import load_results
from pipeline.runner import run_check
from pipeline.verdict import decide
from tests.conftest import REPO, SHARED_FIXTURES, config_from

COBERTURA = {
    # file: (lines covered, lines valid), as the files' own lines-covered/lines-valid say
    # (or, for the files without those attributes, as their <line> elements count by hand)
    "coveragepy-gold-x_xml.xml": (2, 3),
    "coveragepy-gold-y_xml_branch.xml": (4, 5),
    "cobertura-action-coveragepy-4.0.3.xml": (9, 10),
    "cobertura-action-istanbul.xml": (51, 51),
    "cobertura-action-branch.xml": (27, 30),
}


@pytest.mark.parametrize("name", sorted(COBERTURA))
def test_real_cobertura_counts(shared_fixtures: Path, name: str) -> None:
    report = read_cobertura(shared_fixtures / "coverage" / "cobertura" / name)
    assert (report.lines_covered, report.lines_valid) == COBERTURA[name]
    # The tools round their attribute; the exact count agrees to that precision.
    assert report.tool_line_rate is not None
    assert abs(report.lines_covered / report.lines_valid - report.tool_line_rate) < 0.0001


def test_coveragepy_branch_gold_has_branches(shared_fixtures: Path) -> None:
    report = read_cobertura(shared_fixtures / "coverage/cobertura/coveragepy-gold-y_xml_branch.xml")
    assert report.branches_valid > 0
    typed = CoverageSettings.model_validate({"min_branch_rate": 0.0})
    evaluation = evaluate_coverage(CoverageParsed(report, (), 0, None), typed)
    assert any(m.name == "branch_rate" for m in evaluation.measurements)


@pytest.mark.parametrize("name", ["lcov-parse-parts.info", "node-coveralls-istanbul.lcov"])
def test_real_lcov(shared_fixtures: Path, name: str) -> None:
    report = read_lcov(shared_fixtures / "coverage" / "lcov" / name)
    assert 0 < report.lines_covered <= report.lines_valid


def test_real_lcov_mixed_with_make_output_is_refused_with_its_line(shared_fixtures: Path) -> None:
    # node-coveralls captured make's "Entering directory" lines into the tracefile.
    with pytest.raises(ParseError, match=r"onefile\.lcov: line 1: not an LCOV record"):
        read_lcov(shared_fixtures / "coverage/lcov/node-coveralls-onefile.lcov")


# file: (test cases, failed, errored, skipped), per <testcase> element (a case with both an
# <error> and a <failure> counts once, as an error; pytest subtests are not separate cases;
# Surefire's flakyFailure reruns that passed count as passed).
EXPECTED_JUNIT: dict[str, tuple[int, int, int, int]] = {
    "pytest/dorny-python-xunit-pytest.xml": (10, 2, 0, 2),
    "pytest/mikepenz-python-report.xml": (3, 2, 0, 0),
    "surefire/mikepenz-TEST-StringUtilsTest.xml": (5, 2, 0, 1),
    "surefire/mikepenz-surefire-flaky.xml": (1, 0, 0, 0),
    "surefire/dorny-TEST-pulsar-AddMissingPatchVersionTest.xml": (2, 1, 0, 1),
    "jest-junit/dorny-jest-junit.xml": (6, 4, 0, 1),
    "jest-junit/dorny-jest-test-errors.xml": (2, 0, 2, 0),
    "go-junit-report/go-junit-report-001-report.xml": (5, 1, 0, 2),
    "nested/mikepenz-nested-junit.xml": (5, 3, 0, 0),
    "nested/mikepenz-nested-multi-level.xml": (3, 0, 0, 0),
    "misc/mikepenz-test_multiple_errors.xml": (3, 0, 2, 0),
    "misc/mikepenz-testDisabled.xml": (22, 4, 2, 0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_JUNIT))
def test_real_junit_totals_match_the_file(shared_fixtures: Path, name: str) -> None:
    path = shared_fixtures / "junit" / name
    read = read_junit(path)
    counts = {k: sum(o.outcome == k for o in read.problems) for k in ("failed", "error")}
    expected = EXPECTED_JUNIT[name]
    assert (read.total, counts["failed"], counts["error"], read.skipped) == expected


def test_real_jest_errors_report_fails_the_check(shared_fixtures: Path) -> None:
    from pipeline.checks.coverage.reports import CoverageReport, FileCoverage

    junit = read_junit(shared_fixtures / "junit/jest-junit/dorny-jest-junit.xml")
    report = CoverageReport("c", "cobertura", (FileCoverage("a", "a", 10, 10),))
    evaluation = evaluate_coverage(CoverageParsed(report, (junit,), 1), CoverageSettings.model_validate({}))
    assert evaluation.status is Status.FAIL
    assert any(f.id.startswith("test:") for f in evaluation.findings)


def test_empty_jest_suite_is_an_error_not_a_pass(shared_fixtures: Path) -> None:
    from pipeline.checks.coverage.reports import CoverageReport, FileCoverage

    junit = read_junit(shared_fixtures / "junit/jest-junit/dorny-jest-junit-empty-testsuite.xml")
    report = CoverageReport("c", "cobertura", (FileCoverage("a", "a", 10, 10),))
    evaluation = evaluate_coverage(CoverageParsed(report, (junit,), 0), CoverageSettings.model_validate({}))
    assert evaluation.status is Status.ERROR


# k6 v1.1 summaries: (shape, {(metric, expression): ok}) as k6 itself judged them
# (for the exports: the script and k6's exit code recorded in PROVENANCE.md).
K6 = {
    "summary-export/k6-1.1.0-thresholds-failed.json": (EXPORT, {
        ("http_req_duration", "p(95)<200"): True, ("http_req_duration", "p(99)<400"): True,
        ("http_req_failed", "rate<0.001"): False, ("http_req_duration{name:get_health}", "p(95)<10"): False,
        ("checks", "rate>0.9"): True, ("http_req_duration{name:list_items}", "p(95)<100"): True}),
    "summary-export/k6-1.1.0-thresholds-passed.json": (EXPORT, {
        ("checks", "rate>0.9"): True, ("http_req_duration{name:list_items}", "p(95)<200"): True,
        ("http_req_duration", "p(95)<200"): True}),
    "handle-summary/k6-1.1.0-handle-summary-data.json": (HANDLE_SUMMARY, {
        ("http_req_duration", "p(95)<200"): True, ("http_req_duration{name:list_items}", "p(95)<200"): True,
        ("checks", "rate>0.9"): True}),
    "handle-summary/benc-uk-k6-reporter-simple.json": (HANDLE_SUMMARY, {
        ("http_req_duration", "p(95)<1000"): True, ("iteration_duration", "max<4000"): True}),
    "handle-summary/benc-uk-k6-reporter-grpc.json": (HANDLE_SUMMARY, {
        ("fake_rate", "rate >= 0.8"): False, ("grpc_req_duration", "med <= 2"): True}),
}


@pytest.mark.parametrize("name", sorted(K6))
def test_real_k6_summaries_keep_their_polarity(shared_fixtures: Path, name: str) -> None:
    summary = read_summary(shared_fixtures / "k6" / name)
    shape, verdicts = K6[name]
    assert summary.shape == shape
    assert {(t.metric, t.expression): t.ok for t in summary.thresholds} == verdicts


def test_real_failed_export_fails_the_check_with_exit_99(shared_fixtures: Path) -> None:
    summary = read_summary(shared_fixtures / "k6" / "summary-export" / "k6-1.1.0-thresholds-failed.json")
    settings = K6Settings.model_validate_json('{"thresholds": {"http_req_failed": ["rate<0.001"]}}')
    result = evaluate_k6(K6Parsed(summary, 99, False), settings)
    assert result.status is Status.FAIL
    assert {f.id for f in result.findings if f.failing} == {
        "threshold:http_req_failed:rate<0.001", "threshold:http_req_duration{name:get_health}:p(95)<10"}
    assert [row.label for view in result.views for row in getattr(view, "rows", ())] == ["get_health", "list_items"]


# Real EXPLAIN (ANALYZE, FORMAT JSON) outputs: (execution ms, node count, first nodes of the shape).
PLANS = {
    "json/pg_flame-plan.json": (48.942, 6, ["Sort", "  Aggregate", "    Hash Join", "      Seq Scan on users"]),
    "json/pg_flame-cte.json": (756.376, 45, ["Aggregate", "  Seq Scan on posts"]),
    "psql-wrapped-json/pev2-json-0-unaligned.plan": (2.157, 3, ["Nested Loop", "  Seq Scan on users"]),
    "psql-wrapped-json/pev2-json-1-aligned-ascii.plan": (2.051, 3, ["Nested Loop", "  Seq Scan on users"]),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_real_plans_parse_with_psql_frames(shared_fixtures: Path, name: str) -> None:
    text = (shared_fixtures / "postgres-explain" / name).read_text()
    plan = read_plan(json.loads(text) if name.endswith(".json") else text, name)
    execution_ms, count, shape_start = PLANS[name]
    assert plan.execution_ms == execution_ms
    assert len(walk(plan.root)) == count
    assert plan_shape(plan.root)[:len(shape_start)] == shape_start


def test_real_plan_seq_scan_is_judged_with_relation_and_rows(shared_fixtures: Path) -> None:
    text = (shared_fixtures / "postgres-explain" / "json" / "pg_flame-plan.json").read_text()
    plan = read_plan(json.loads(text), "plan")
    run = QueryRun("q", "q", {}, plan_output=text)
    result = evaluate_explain((ParsedQuery(run, plan, tuple(walk(plan.root)), plan_shape(plan.root)),),
                              ExplainSettings.model_validate({}))
    assert result.status is Status.FAIL
    seq = [f for f in result.findings if f.id.startswith("seq-scan:")]
    assert [(f.details["relation"], f.details["rows_scanned"]) for f in seq] == [("users", 100_000.0)]


def test_real_cte_plan_has_no_estimate_noise_from_partially_read_ctes(shared_fixtures: Path) -> None:
    plan = read_plan(json.loads((shared_fixtures / "postgres-explain" / "json" / "pg_flame-cte.json").read_text()), "p")
    settings = ExplainSettings.model_validate_json('{"defaults": {"max_ms": 1000, "max_seq_scan_rows": 1000000000}}')
    result = evaluate_explain((ParsedQuery(QueryRun("q", "q", {}), plan, tuple(walk(plan.root)),
                                           plan_shape(plan.root)),), settings)
    assert not [f for f in result.findings if "Seq Scan on posts: estimated" in f.title]


@pytest.mark.parametrize("name", ["text/pev2-from-text-37-external-merge.plan",
                                  "text/pev2-io-timings-read-and-write.plan"])
def test_real_text_plans_are_refused_with_a_reason(shared_fixtures: Path, name: str) -> None:
    with pytest.raises(ParseError, match="JSON"):
        read_plan((shared_fixtures / "postgres-explain" / name).read_text(), name)


PYPA = ("osv", "pypa-advisory-database")


@pytest.fixture(scope="module")
def pypa_db() -> osv.Database:
    folder = SHARED_FIXTURES.joinpath(*PYPA)
    if not folder.is_dir():
        pytest.skip(f"the real PyPA advisory database is not at {folder} (../shared is absent)")
    return osv.load_database(folder)


def _offline(db: osv.Database, pins: dict[str, str]) -> list[Any]:
    deps = tuple(Dependency("PyPI", name, version, "requirements.txt:1") for name, version in pins.items())
    matched = match_offline(deps, db)
    assert matched.undecided == {}
    return matched.vulnerabilities


def test_real_pypa_requests_2_19_0_gives_cve_2018_18074_once_with_aliases(pypa_db: osv.Database) -> None:
    found = _offline(pypa_db, {"requests": "2.19.0"})
    cve = [v for v in found if "CVE-2018-18074" in v.ids]
    assert len(cve) == 1
    assert cve[0].ids == ("CVE-2018-18074", "GHSA-x84v-xcm2-53pg", "PYSEC-2018-28")
    assert cve[0].fixed == ("2.20.0",)


def test_real_pypa_fixed_boundary(pypa_db: osv.Database) -> None:
    at_fixed = _offline(pypa_db, {"requests": "2.20.0"})
    assert not [v for v in at_fixed if "CVE-2018-18074" in v.ids]
    assert [v for v in _offline(pypa_db, {"requests": "2.19.1"}) if "CVE-2018-18074" in v.ids]


def test_real_pypa_current_requests_and_the_example_are_clean(pypa_db: osv.Database) -> None:
    assert _offline(pypa_db, {"requests": "2.32.4"}) == []
    example = tuple(read_requirements(REPO / "examples" / "orders-service" / "requirements.txt"))
    assert len(example) == 20 and match_offline(example, pypa_db).vulnerabilities == []
    assert pypa_db.problems == [] and pypa_db.withdrawn > 0


def test_real_pypa_record_with_an_unreadable_bound_leaves_the_pin_undecided(pypa_db: osv.Database) -> None:
    # PYSEC-2021-371 closes its range at 0.2.0-n653, which is not a PEP 440 version: the old
    # matcher answered "not affected" for every binderhub version; the gate now says it cannot tell.
    pin = Dependency("PyPI", "binderhub", "0.1", "requirements.txt:1")
    matched = match_offline((pin,), pypa_db)
    assert matched.vulnerabilities == []
    assert "PYSEC-2021-371" in matched.undecided[pin] and "'0.2.0-n653' is not a PEP 440" in matched.undecided[pin]


def test_real_pypa_deliberately_old_pin_turns_the_check_to_fail(shared_fixtures: Path, tmp_path: Path) -> None:
    pins = (REPO / "examples" / "orders-service" / "requirements.txt").read_text() + "requests==2.19.0\n"
    (tmp_path / "requirements.txt").write_text(pins)
    # The snapshot is frozen, so its age is not what this test judges (the next test is about that).
    body = {"version": 1, "checks": {"audit": {"requirements": ["requirements.txt"], "max_database_age_days": None,
                                               "osv_dir": str(shared_fixtures.joinpath(*PYPA))}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.FAIL
    finding = next(f for f in result.findings if f.id == "vulnerability:CVE-2018-18074")
    assert finding.location == "requests==2.19.0" and "fixed in 2.20.0" in finding.title


PIP_AUDIT = {  # file: (dependencies, not audited, vulnerabilities)
    "defectdojo-many_vulns_new.json": (7, 1, 7),
    "defectdojo-many_vulns-legacy-list.json": (7, 1, 7),
    "defectdojo-zero_vulns_new.json": (3, 1, 0),
    "defectdojo-empty_new.json": (0, 0, 0),
}


@pytest.mark.parametrize("name", sorted(PIP_AUDIT))
def test_real_pip_audit_reports(shared_fixtures: Path, name: str) -> None:
    contents = read_report(shared_fixtures / "pip-audit" / name)
    deps, vulns = contents.dependencies, contents.vulnerabilities
    assert contents.kind == "pip"
    assert (len(deps), len([d for d in deps if d.skip_reason]), len(vulns)) == PIP_AUDIT[name]
    # Every one of these reports skipped a dependency (or is empty): never a pass, and an error
    # even where vulnerabilities were found (a fail could be waived while azure-devops was never audited).
    evaluation = evaluate_audit(AuditParsed("ingest", deps, vulns, ()), AuditSettings.model_validate({}))
    assert evaluation.status is Status.ERROR
    assert len([f for f in evaluation.findings if f.failing]) == len(vulns)
    allowed = evaluate_audit(AuditParsed("ingest", deps, vulns, ()),
                             AuditSettings.model_validate({"allow_unaudited": True}))
    assert allowed.status is (Status.FAIL if vulns else Status.PASS if deps else Status.ERROR)


NPM_AUDIT = {  # file: (vulnerabilities, highest severity)
    "v1/defectdojo-one_vuln-npm6.json": (1, "critical"),
    "v2/defectdojo-one_vuln.json": (2, "high"),
    "v2/defectdojo-many_vulns.json": (3, "medium"),
    "v2/defectdojo-many_vuln_npm7.json": (8, "high"),
    "v2/defectdojo-issue_10801.json": (1, "medium"),
    "v2/defectdojo-no_vuln.json": (0, None),
}


NPM_COUNTED = {  # the dependencies npm says it audited (metadata.dependencies.total, npm 6: totalDependencies)
    "v1/defectdojo-one_vuln-npm6.json": 43,
    "v2/defectdojo-one_vuln.json": 97,
    "v2/defectdojo-many_vulns.json": 1180,
    "v2/defectdojo-many_vuln_npm7.json": 1047,
    "v2/defectdojo-issue_10801.json": 97,
    "v2/defectdojo-no_vuln.json": 97,
}


@pytest.mark.parametrize("name", sorted(NPM_AUDIT))
def test_real_npm_audit_reports(shared_fixtures: Path, name: str) -> None:
    contents = read_report(shared_fixtures / "npm-audit" / name)
    vulns = contents.vulnerabilities
    count, highest = NPM_AUDIT[name]
    assert contents.kind == "npm" and contents.counted == NPM_COUNTED[name]
    assert len(vulns) == count
    assert max((v.severity for v in vulns), key=SEVERITY_RANK.__getitem__, default=None) == highest


DASHBOARDS = {  # file: (uid, panels, panel queries, problems)
    "dotdc-k8s-system-coredns.json": ("k8s_system_coredns", 14, 15, 0),
    "dotdc-k8s-views-global.json": ("k8s_views_global", 26, 57, 0),
    "k6-examples-k6-prometheus.json": ("demo-uid", 14, 31, 1),  # one real panel has no title
    "k6-examples-grafana_dashboard_influxdb.json": ("", 7, 0, 0),  # legacy rows layout
}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_real_grafana_dashboards(shared_fixtures: Path, name: str) -> None:
    dashboard = read_dashboard(shared_fixtures / "grafana" / "dashboards" / name)
    assert (dashboard.uid, len(dashboard.panels), len(dashboard.expressions), len(dashboard.problems)) == \
        DASHBOARDS[name]


@pytest.mark.parametrize(("name", "families"), [
    ("prometheus-promtool-metrics-test.prom", 4), ("prometheus-textparse-alltypes.237mfs.prom.txt", 236),
    ("prometheus-textparse-alltypes.5mfs.om.txt", 13)])
def test_real_expositions(shared_fixtures: Path, name: str, families: int) -> None:
    text = (shared_fixtures / "prometheus" / "exposition" / name).read_text()
    assert len(read_exposition(text, name)) == families


@pytest.mark.parametrize(("name", "alerts"), [
    ("awesome-prometheus-alerts-blackbox-blackbox-exporter.yml", 9),
    ("awesome-prometheus-alerts-host-and-hardware-node-exporter.yml", 35),
    ("awesome-prometheus-alerts-kubernetes-kubestate-exporter.yml", 37),
    ("awesome-prometheus-alerts-postgresql-postgres-exporter.yml", 20),
    ("prometheus-promtool-rules.yml", 2)])
def test_real_rule_files(shared_fixtures: Path, name: str, alerts: int) -> None:
    rules = read_rules(shared_fixtures / "prometheus" / "rules" / name)
    assert len(rules) == alerts and all(rule.expr for rule in rules)


@pytest.mark.parametrize("name", ["awesome-prometheus-alerts-blackbox-blackbox-exporter.yml",
                                  "awesome-prometheus-alerts-kubernetes-kubestate-exporter.yml",
                                  "prometheus-promtool-rules.yml"])
def test_real_promtool_and_the_gate_count_the_same_rules(shared_fixtures: Path, tmp_path: Path, name: str) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed here (apt install prometheus)")
    path = shared_fixtures / "prometheus" / "rules" / name
    verdict = promtool.check_rules(binary, path, tmp_path / "promtool.log", 60)
    assert verdict.rejected is None and verdict.rules == read_rule_file(path).total


class _GrafanaStandIn(BaseHTTPRequestHandler):
    """A STAND-IN for Grafana's HTTP API (Grafana cannot be installed here): it serves real
    dashboard JSON from ../shared/fixtures/real/grafana the way /api/dashboards/uid/<uid> does."""

    token = "glsa_right-token"
    dashboards: dict[str, Any] = {}

    def do_GET(self) -> None:
        if self.path == "/api/health":
            return self._send(200, {"database": "ok", "version": "stand-in"})
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(401, {"message": "invalid API key"})
        if self.path.startswith("/api/dashboards/uid/"):
            uid = self.path.rsplit("/", 1)[-1]
            if uid in self.dashboards:
                return self._send(200, {"dashboard": self.dashboards[uid], "meta": {"slug": uid}})
            return self._send(404, {"message": "Dashboard not found"})
        if self.path.startswith("/api/search"):
            return self._send(200, [{"uid": u, "title": d["title"]} for u, d in self.dashboards.items()])
        return self._send(404, {})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def grafana_stand_in(shared_fixtures: Path) -> Iterator[str]:
    folder = shared_fixtures / "grafana" / "dashboards"
    dashboards = {d["uid"]: d for d in (json.loads(p.read_text()) for p in folder.glob("dotdc-*.json"))}
    handler = type("Grafana", (_GrafanaStandIn,), {"dashboards": dashboards})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_real_pypa_snapshot_older_than_a_month_is_an_error_not_a_pass(shared_fixtures: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.19.0\n")
    body = {"version": 1, "checks": {"audit": {"requirements": ["requirements.txt"],
                                               "osv_dir": str(shared_fixtures.joinpath(*PYPA))}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    newest = osv.load_database(shared_fixtures.joinpath(*PYPA)).newest
    assert osv.age_days(newest) > 30, "the snapshot became fresh: this test needs an older one"
    assert result.status is Status.ERROR and newest in result.summary and "days old" in result.summary



def _grafana_check(tmp_path: Path, url: str, token: str, dashboards: list[str]) -> Any:
    body = {"version": 1, "checks": {"dashboards": {
        "dashboard_files": [str(SHARED_FIXTURES / "grafana" / "dashboards" / "dotdc-k8s-system-coredns.json")],
        "grafana": {"url": url, "token_env": "GRAFANA_TEST_TOKEN", "dashboards": dashboards}}}}
    config = config_from(tmp_path, yaml.safe_dump(body), GRAFANA_TEST_TOKEN=token)
    return run_check("dashboards", config, tmp_path / "reports", tmp_path)


def test_grafana_deployed_dashboards_pass_and_missing_one_fails(tmp_path: Path, grafana_stand_in: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TEST_TOKEN", _GrafanaStandIn.token)
    deployed = _grafana_check(tmp_path / "a", grafana_stand_in, _GrafanaStandIn.token, ["k8s_system_coredns"])
    assert deployed.status is Status.PASS, deployed.reasons
    missing = _grafana_check(tmp_path / "b", grafana_stand_in, _GrafanaStandIn.token, ["orders-service-overview"])
    assert missing.status is Status.FAIL and "not deployed in Grafana" in missing.findings[0].title


def test_grafana_wrong_token_is_an_error_and_the_token_never_shows(tmp_path: Path, grafana_stand_in: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TEST_TOKEN", "glsa_wrong-token-123")
    result = _grafana_check(tmp_path, grafana_stand_in, "glsa_wrong-token-123", ["k8s_system_coredns"])
    assert result.status is Status.ERROR and "refused the token (HTTP 401)" in result.summary
    assert "glsa_wrong-token-123" not in (tmp_path / "reports" / "results" / "dashboards.json").read_text()


def test_grafana_unreachable_is_an_error(tmp_path: Path, shared_fixtures: Path) -> None:
    result = _grafana_check(tmp_path, "http://127.0.0.1:9", "t0ken", ["k8s_system_coredns"])
    assert result.status is Status.ERROR and "cannot be asked" in result.summary


ZAP = {  # report: (alerts, plugin ids failing at fail_at medium with no rules file)
    "json/bcgov-bc-emli-vhers-scan-zap2.14.0-report_json.json": (13, {"10055", "10098"}),
    "json/bcgov-pipeline-templates-zap2.14.0-report_json.json": (12, None),
    "json/sshniro-action-zap2.8.0-report_json-double-encoded.json": (17, {"10098", "90022", "10108", "10062"}),
    "json/zap-extensions-basic-traditional-json.json": (1, None),
    "json/zap-extensions-basic-traditional-json-plus.json": (1, None),
    "xml/defectdojo-juicy2-zap2.10.0.xml": (6, {"10098", "10055"}),
    "xml/defectdojo-empty_2.9.0.xml": (0, set()),
    "xml/defectdojo-some_2.9.0.xml": (7, None),
    "xml/defectdojo-dvwa_baseline-zap-weekly-D-2021-03-29.xml": (19, None),
    "xml/defectdojo-zap2.11.1-xml-plus-localized-date.xml": (1, None),
    "xml/defectdojo-zap2.16.1_with_req_resp.xml": (4, set()),
    "xml/zap-extensions-basic-traditional-xml.xml": (1, None),
    "xml/zap-extensions-basic-traditional-xml-plus.xml": (1, None),
    "xml/zaproxy-ZAP_2.4.3_report-merged.xml": (10, None),
    "xml/zaproxy-ZAP_2.4.3_report-unmerged.xml": (295, None),
}


@pytest.mark.parametrize("name", sorted(ZAP))
def test_real_zap_reports(shared_fixtures: Path, name: str) -> None:
    path = shared_fixtures / "zap" / name
    report = read_zap_json(path) if name.endswith(".json") else read_zap_xml(path)
    count, failing = ZAP[name]
    assert len(report.alerts) == count and report.sites
    result = evaluate_zap(ZapParsed(report, Rules({}), None, None), ZapSettings.model_validate({"fail_at": "medium"}))
    failed = {f.id.removeprefix("alert:") for f in result.findings if f.failing}
    if failing is not None:
        assert failed == failing
    assert result.status is (Status.FAIL if failed else Status.PASS)
    assert all(f.severity in ("informational", "low", "medium", "high") for f in result.findings)


def test_real_high_alerts_fail_and_a_rules_file_ignoring_them_passes(shared_fixtures: Path, tmp_path: Path) -> None:
    report = shared_fixtures / "zap" / "json" / "sshniro-action-zap2.8.0-report_json-double-encoded.json"
    body: dict[str, Any] = {"version": 1, "checks": {"zap": {"report": str(report)}}}
    failing = run_check("zap", config_from(tmp_path / "a", yaml.safe_dump(body)), tmp_path / "a" / "r", tmp_path)
    assert failing.status is Status.FAIL and "alert:10062" in {f.id for f in failing.findings if f.failing}
    rules = "".join(f"{pid}\tIGNORE\t(accepted)\n" for pid in ("10098", "90022", "10108", "10062"))
    (tmp_path / "rules.tsv").write_text(rules)
    body["checks"]["zap"]["rules"] = str(tmp_path / "rules.tsv")
    passing = run_check("zap", config_from(tmp_path / "b", yaml.safe_dump(body)), tmp_path / "b" / "r", tmp_path)
    assert passing.status is Status.PASS
    assert {f.details["action"] for f in passing.findings if f.id == "alert:10062"} == {"IGNORE"}


@pytest.mark.parametrize(("name", "actions"), [
    ("zaproxy-baseline2.conf", {"10021": "FAIL", "10035": "INFO", "10049": "IGNORE"}),
    ("zaproxy-baseline3.conf", {"10021": "FAIL", "10035": "INFO", "10049": "IGNORE"}),
    ("sshniro-action-rules.tsv", None)])
def test_real_zap_rules_files(shared_fixtures: Path, name: str, actions: dict[str, str] | None) -> None:
    rules = read_zap_rules(shared_fixtures / "zap" / "baseline-rules" / name)
    if actions is not None:
        assert {k: v.action for k, v in rules.actions.items()} == actions
    else:
        assert len(rules.actions) == 14 and {r.action for r in rules.actions.values()} == {"IGNORE"}
    if name == "zaproxy-baseline3.conf":
        assert not rules.in_scope("10021", "http://x/robots.txt") and rules.in_scope("10021", "http://x/a")


def test_sarif_with_real_zap_and_audit_findings_validates(shared_fixtures: Path, tmp_path: Path,
                                                          sarif_schema: dict[str, Any]) -> None:
    report = shared_fixtures / "zap" / "xml" / "defectdojo-juicy2-zap2.10.0.xml"
    pins = tmp_path / "requirements.txt"
    pins.write_text("requests==2.19.0\n")
    body = {"version": 1, "checks": {"zap": {"xml_report": str(report)}, "audit": {
        "requirements": [str(pins)], "osv_dir": str(shared_fixtures.joinpath(*PYPA)), "max_database_age_days": None}}}
    config = config_from(tmp_path, yaml.safe_dump(body))
    for name in ("zap", "audit"):
        run_check(name, config, tmp_path / "reports", tmp_path)
    loaded, merges = load_results([tmp_path / "reports" / "results"])
    write_all(decide(loaded, merges), tmp_path / "reports")
    sarif = json.loads((tmp_path / "reports" / "readiness.sarif").read_text())
    jsonschema.Draft7Validator(sarif_schema).validate(sarif)
    rules = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
    assert "zap/alert:10098" in rules and "audit/vulnerability:CVE-2018-18074" in rules


@pytest.mark.parametrize("name", ["defectdojo-gitleaks_7.5.0.sarif", "defectdojo-dockle_0_3_15.sarif"])
def test_the_schema_accepts_real_sarif_files(shared_fixtures: Path, sarif_schema: dict[str, Any],
                                             name: str) -> None:
    jsonschema.Draft7Validator(sarif_schema).validate(json.loads((shared_fixtures / "sarif" / name).read_text()))
