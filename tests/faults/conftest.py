"""The fault matrix's shared fixtures: the lab (inputs, stand-ins, real tools) and its database."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import proc
from tests.conftest import SHARED_FIXTURES
from tests.faults.api_standin import API_SPEC
from tests.faults.lab import Lab, bare_python
from tests.faults.standins import (
    ZAP_STANDIN,
    Cells,
    TargetService,
    VulnService,
    release_all,
    write_script,
    zap_output_written_here,
)
from tests.true_docs import write_true_documents

SPEC = """openapi: 3.0.3
info: {title: matrix, version: '1'}
paths:
  /items:
    get:
      responses:
        '200': {description: ok}
        '400': {description: bad request}
        '401': {description: unauthorised}
        '500': {description: server error}
      x-sla: {p95_ms: 200}
    post:
      responses:
        '201': {description: created}
        '400': {description: bad request}
        '401': {description: unauthorised}
        '500': {description: server error}
      x-sla: {p95_ms: 300}
  /items/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        '200': {description: ok}
        '400': {description: bad request}
        '401': {description: unauthorised}
        '500': {description: server error}
      x-sla: {p95_ms: 200}
components:
  schemas:
    Item:
      type: object
      properties: {id: {type: integer}}
"""

PROJECT = {
    "pkg/__init__.py": "def add(a, b):\n    return a + b\n\n\ndef unused(a):\n    return a * 2\n",
    "tests/test_pkg.py": ("import os\nimport urllib.request\n\nfrom pkg import add\n\n\ndef test_add():\n"
                          "    assert add(1, 2) == 3\n\n\ndef test_the_service_answers():\n"
                          "    with urllib.request.urlopen(os.environ['SERVICE_URL'] + '/health', timeout=5) as r:\n"
                          "        assert r.status == 200\n"),
}

LOAD_JS = """import http from 'k6/http';
import { sleep } from 'k6';
export default function () {
  http.get(`${__ENV.BASE_URL}/items`, { tags: { name: 'items' } });
  sleep(0.05);
}
"""

DASHBOARD = {"uid": "matrix", "title": "matrix", "panels": [
    {"id": 1, "title": "p95 latency", "type": "timeseries",
     "targets": [{"expr": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"}]}]}

# The slo cells read the API stand-in's spec (list_things, create_thing) beside these files.
SLO_GATE = {"version": 1, "checks": {"k6": {"endpoints": ["list_things", "create_thing"],
                                            "thresholds": {"http_req_duration": ["p(95)<200"],
                                                           "http_req_failed": ["rate<0.01"]}}}}
ROUTE_P95 = "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))"
SLO_DASHBOARD = {"uid": "slo", "title": "slo", "panels": [{"id": 1, "title": "p95 by route", "type": "timeseries",
                                                           "targets": [{"expr": ROUTE_P95}]}]}
SLO_ALERTS = f"""groups:
  - name: slo
    rules:
      - alert: RouteSlow
        expr: {ROUTE_P95} > 0.2
        for: 5m
        labels:
          severity: page
        annotations:
          summary: a route's p95 is above 200 ms
          description: The service answers slowly.
"""

ALERTS = """groups:
  - name: matrix
    rules:
      - alert: MatrixHighLatency
        expr: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.2
        for: 5m
        labels:
          severity: page
        annotations:
          summary: p95 above 200 ms
          description: The service answers slowly.
"""


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Inputs made once, the stand-in services, the addresses where nothing (useful) answers."""
    root = tmp_path_factory.mktemp("fault-matrix")
    cells = Cells()
    target = TargetService(cells, yaml.safe_load(SPEC))
    vulns = VulnService(cells, root / "tls") if shutil.which("openssl") else None
    closed, silent = socket.socket(), socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel accepts connections; nobody ever reads or answers
    closed_port = closed.getsockname()[1]
    lab = Lab(root, cells, target, vulns, bare_python(root / "bare-env"), assets(root, target),
              {"closed": f"http://127.0.0.1:{closed_port}", "silent": f"http://127.0.0.1:{silent.getsockname()[1]}",
               "closed-dsn": f"postgresql://matrix@127.0.0.1:{closed_port}/matrix"})
    try:
        yield lab
    finally:
        release_all(cells, target.close, *((vulns.close,) if vulns else ()))
        closed.close()
        silent.close()


def assets(root: Path, target: TargetService) -> dict[str, Path]:
    """The lab's shared inputs; a real tool missing here is simply absent (its cells skip)."""
    found: dict[str, Path] = {}
    project = root / "project"
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    found["project"] = project
    for name, text in (("spec.yaml", SPEC), ("requirements.txt", "idna==3.7\n"), ("load.js", LOAD_JS),
                       ("item.sql", "SELECT name FROM fault_items WHERE id = :id\n"),
                       ("dashboard.json", json.dumps(DASHBOARD)), ("alerts.yml", ALERTS),
                       ("api-spec.json", json.dumps(API_SPEC)), ("slo-gate.yaml", yaml.safe_dump(SLO_GATE)),
                       ("slo-dashboard.json", json.dumps(SLO_DASHBOARD)), ("slo-alerts.yml", SLO_ALERTS)):
        (root / name).write_text(text)
        found[name.removesuffix(".yaml") if name == "spec.yaml" else name] = root / name
    migrations = root / "migrations"
    migrations.mkdir()
    # integer, not bigint: squawk reports it (a finding that does not fail), so its report is never empty.
    (migrations / "0001_matrix.up.sql").write_text("CREATE TABLE matrix_items (id integer PRIMARY KEY);\n")
    (migrations / "0001_matrix.down.sql").write_text("DROP TABLE matrix_items;\n")
    found["migrations"] = migrations
    (root / "mermaid.min.js").write_text("/* not Mermaid: the docs cells only need a bundle to exist */\n")
    found["mermaid.min.js"] = root / "mermaid.min.js"
    tools = {"k6": proc.find_tool("k6", [Path(sys.executable).parent]), "promtool": shutil.which("promtool"),
             "squawk": proc.find_tool("squawk", [Path(sys.executable).parent]), "chromium": shutil.which("chromium"),
             "pip-audit": proc.find_tool("pip-audit", [Path(sys.executable).parent])}
    found.update({name: Path(path) for name, path in tools.items() if path})
    libraries = {name: importlib.util.find_spec(name) for name in ("schemathesis", "jwt")}
    found.update({name: Path(spec.origin) for name, spec in libraries.items() if spec and spec.origin})
    found["zap-fixtures"] = SHARED_FIXTURES / "zap" if SHARED_FIXTURES.is_dir() else zap_output_written_here(root)
    found["zap-baseline.py"] = write_script(root / "zap-baseline.py", ZAP_STANDIN.format(
        python=sys.executable, fixtures=str(found["zap-fixtures"])))
    found.update(companion_reports(root, project, target.url("lab")))
    return found


def companion_reports(root: Path, project: Path, url: str) -> dict[str, Path]:
    """Real coverage.py and JUnit reports of the lab's project, for the companion check to ingest."""
    out = root / "companion"
    out.mkdir()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=pkg",
                    f"--cov-report=xml:{out / 'coverage.xml'}", f"--junitxml={out / 'junit.xml'}", "tests"],
                   cwd=project, env={**_env_without_readiness(), "SERVICE_URL": url,
                                     "COVERAGE_FILE": str(out / ".coverage")},
                   check=True, capture_output=True, timeout=120)
    return {"coverage.xml": out / "coverage.xml", "junit.xml": out / "junit.xml"}


def _env_without_readiness() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("READINESS_")}


@pytest.fixture(scope="session")
def matrix_database(lab: Lab, postgres_dsn: str) -> str:
    """The real PostgreSQL with the table the explain cells query, and a real plan of that query."""
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS fault_items")
        conn.execute("CREATE TABLE fault_items (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO fault_items SELECT g, 'item ' || g FROM generate_series(1, 200) g")
        conn.execute("ANALYZE fault_items")
        row: Any = conn.execute("EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) "
                                "SELECT name FROM fault_items WHERE id = 1").fetchone()
    (lab.root / "plan.json").write_text(json.dumps(row[0], indent=2))
    lab.assets["plan.json"] = lab.root / "plan.json"
    write_true_documents(lab.root / "docs", lab.assets["spec"], postgres_dsn, ("anonymous",))
    lab.assets["docs"] = lab.root / "docs"
    lab.dsn = postgres_dsn
    return postgres_dsn
