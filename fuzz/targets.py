"""Every parser of foreign input as a fuzz target: bytes in, the gate's own typed error or a result out.

One table (``TARGETS``) serves both fuzzers: the hypothesis tests (tests/test_fuzz_targets.py,
in every test run) and the atheris harness (fuzz/run.py, for long coverage-guided runs).
A target reads its input the way the check reads a tool's output (a file for the readers
that take a path) and goes on through what the check does next with it (walking a plan,
matching an OSV record, listing a spec's operations), so the whole path is fuzzed.

The seeds (fuzz/seeds.py) are small documents in each tool's real shape.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.seeds import (
    COBERTURA,
    DASHBOARD,
    EXPOSITION,
    GRAFANA,
    JUNIT,
    K6_EXPORT,
    K6_HANDLE_SUMMARY,
    LCOV,
    NPM_AUDIT,
    OPENAPI,
    OSV_RECORD,
    PIP_AUDIT,
    PLAN,
    PROMETHEUS,
    PSQL_PLAN,
    RULES,
    ZAP_JSON,
    ZAP_RULES,
    ZAP_XML,
)
from pipeline.checks.audit import osv
from pipeline.checks.audit import tool_reports as audit_json
from pipeline.checks.audit.offline import match_offline
from pipeline.checks.audit.reports import Dependency
from pipeline.checks.coverage import reports as coverage_reports
from pipeline.checks.dashboards import live as monitoring_live
from pipeline.checks.dashboards import monitoring
from pipeline.checks.explain import plan as explain_plan
from pipeline.checks.k6 import summary as k6_summary
from pipeline.checks.openapi import policy as openapi_policy
from pipeline.checks.openapi import spec as openapi_spec
from pipeline.checks.openapi.document import load as load_openapi
from pipeline.checks.zap import report as zap_report
from pipeline.errors import CheckError
from pipeline.evidence import load_json_text


@dataclass(frozen=True)
class Target:
    """A parser of foreign input: its name, real-shaped seeds, and how the gate reads bytes with it."""

    name: str
    seeds: tuple[bytes, ...]
    read: Callable[[bytes], object]


def only_typed_errors(target: Target, data: bytes) -> None:
    """Read ``data`` with ``target``; the gate's typed errors are answers, anything else escapes (a bug)."""
    with contextlib.suppress(CheckError):
        target.read(data)


_SCRATCH = Path(tempfile.gettempdir()) / f"readiness-fuzz-{os.getpid()}"


def _file(data: bytes, name: str) -> Path:
    """``data`` as a file named ``name`` (readers that take a path get one; one folder per process)."""
    _SCRATCH.mkdir(exist_ok=True)
    path = _SCRATCH / name
    path.write_bytes(data)
    return path


def _text(data: bytes) -> str:
    # What a reader of an HTTP body or a decoded file gets: undecodable bytes replaced.
    return data.decode("utf-8", errors="replace")


def _cobertura(data: bytes) -> object:
    path = _file(data, "coverage.xml")
    coverage_reports.report_tool(path, "cobertura")
    return coverage_reports.read_cobertura(path)


def _osv(data: bytes) -> object:
    folder = _SCRATCH / "osv"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "PYSEC-0000-0.yaml").write_bytes(data)
    database = osv.load_database(folder)
    if database.problems:  # what the audit check does with an unreadable record: an error, named
        raise CheckError(database.problems[0])
    pins = (Dependency("PyPI", "requests", "2.19.0", "requirements.txt:1"),
            Dependency("PyPI", "requests", "2.20.0", "requirements.txt:2"))
    return match_offline(pins, database)


def _plan(data: bytes) -> object:
    plan = explain_plan.read_plan(_text(data), "plan.json")
    return list(explain_plan.walk(plan.root)), explain_plan.plan_shape(plan.root)


def _openapi(data: bytes) -> object:
    document = load_openapi(_text(data), "openapi.yaml")
    version = openapi_spec.require_openapi3(document, "openapi.yaml")
    errors = openapi_spec.validate(document, version, "openapi.yaml")
    found = openapi_spec.operations(document)
    for op in found:
        openapi_policy.sla_problems(op.sla, f"{op.method} {op.path}")
    return errors, openapi_spec.compare(found, found)


def _prometheus(data: bytes) -> object:
    answer = load_json_text(data, "http://prometheus/api/v1/targets")
    if not isinstance(answer, dict):
        raise CheckError("not an object")
    url = "http://prometheus/api/v1"
    return (monitoring_live.prometheus_targets(answer.get("targets"), f"{url}/targets"),
            monitoring_live.prometheus_alerts(answer.get("rules"), f"{url}/rules"))


def _grafana(data: bytes) -> object:
    answer = load_json_text(data, "http://grafana/api")
    if not isinstance(answer, dict):
        raise CheckError("not an object")
    url = "http://grafana/api"
    return (monitoring_live.grafana_dashboard(answer.get("dashboard"), f"{url}/dashboards/uid/matrix", "matrix"),
            monitoring_live.grafana_search(answer.get("search"), f"{url}/search", "matrix"),
            monitoring_live.grafana_health(answer.get("health"), 200, f"{url}/health"))


def _seed(document: Any) -> bytes:
    return json.dumps(document, indent=1).encode()


def _targets() -> tuple[Target, ...]:
    path = _file
    return (
        Target("cobertura", (COBERTURA,), _cobertura),
        Target("junit", (JUNIT,), lambda d: coverage_reports.read_junit(path(d, "junit.xml"))),
        Target("lcov", (LCOV,), lambda d: coverage_reports.read_lcov(path(d, "lcov.info"))),
        Target("zap-json", (_seed(ZAP_JSON), _seed(json.dumps(ZAP_JSON))),
               lambda d: zap_report.read_json_report(path(d, "report.json"))),
        Target("zap-xml", (ZAP_XML,), lambda d: zap_report.read_xml_report(path(d, "report.xml"))),
        Target("zap-rules", (ZAP_RULES,), lambda d: zap_report.read_rules(path(d, "rules.tsv"))),
        Target("k6-summary", (_seed(K6_EXPORT), _seed(K6_HANDLE_SUMMARY)),
               lambda d: k6_summary.read_summary(path(d, "k6-summary.json"))),
        Target("osv-record", (OSV_RECORD,), _osv),
        Target("pip-audit", (_seed(PIP_AUDIT),), lambda d: audit_json.read_report(path(d, "pip-audit.json"))),
        Target("npm-audit", (_seed(NPM_AUDIT),), lambda d: audit_json.read_report(path(d, "npm-audit.json"))),
        Target("explain-plan", (_seed(PLAN), PSQL_PLAN), _plan),
        Target("exposition", (EXPOSITION,), lambda d: monitoring.read_exposition(_text(d), "http://svc/metrics")),
        Target("rules", (RULES,), lambda d: monitoring.read_rule_file(path(d, "alerts.yml"))),
        Target("grafana-dashboard", (_seed(DASHBOARD),), lambda d: monitoring.read_dashboard(path(d, "dash.json"))),
        Target("prometheus-api", (_seed(PROMETHEUS),), _prometheus),
        Target("grafana-api", (_seed(GRAFANA),), _grafana),
        Target("openapi", (OPENAPI,), _openapi),
    )


TARGETS = _targets()
BY_NAME = {target.name: target for target in TARGETS}
