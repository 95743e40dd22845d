"""The openapi check on the example's spec and on broken variants of it."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.conftest import REPO, config_from

SPEC = json.loads((REPO / "examples" / "orders-service" / "openapi.json").read_text())


def check(tmp_path: Path, spec: Any, as_yaml: bool = False, **settings: Any) -> CheckResult:
    tmp_path.mkdir(parents=True, exist_ok=True)
    name = "spec.yaml" if as_yaml else "spec.json"
    (tmp_path / name).write_text(yaml.safe_dump(spec) if as_yaml else json.dumps(spec))
    body = {"version": 1, "checks": {"openapi": {"spec": name, **settings}}}
    return run_check("openapi", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)


def test_example_spec_passes_as_json_and_yaml(tmp_path: Path) -> None:
    assert check(tmp_path / "j", SPEC).status is Status.PASS
    result = check(tmp_path / "y", SPEC, as_yaml=True)
    assert result.status is Status.PASS and "all 6 operations" in result.summary


def test_missing_error_response_and_sla_are_findings(tmp_path: Path) -> None:
    spec = copy.deepcopy(SPEC)
    del spec["paths"]["/orders"]["get"]["responses"]["401"]
    del spec["paths"]["/orders"]["post"]["x-sla"]
    result = check(tmp_path, spec)
    assert result.status is Status.FAIL
    assert {f.id for f in result.findings} == {"GET /orders:responses", "POST /orders:sla"}
    assert "GET /orders does not document 401" in result.reasons


def test_sla_not_required_and_custom_responses(tmp_path: Path) -> None:
    spec = copy.deepcopy(SPEC)
    for item in spec["paths"].values():
        for op in item.values():
            op.pop("x-sla")
    assert check(tmp_path / "a", spec, require_sla=False).status is Status.PASS
    result = check(tmp_path / "b", spec, require_sla=False, require_responses=["400", "401", "500", "503"])
    assert result.status is Status.FAIL and len(result.findings) == 6


def test_invalid_spec_fails_with_the_path_of_the_error(tmp_path: Path) -> None:
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/orders"]["get"]["responses"]["200"] = {"content": {}}
    result = check(tmp_path, spec)
    assert result.status is Status.FAIL
    assert any("paths//orders/get/responses/200" in f.title and "description" in f.title for f in result.findings)


@pytest.mark.parametrize(("text", "words"), [
    ('{"openapi": "3.1.0", "paths": {', "is not valid JSON"),
    ("swagger: '2.0'\npaths: {}\n", "not an OpenAPI 3 document"),
])
def test_unreadable_or_wrong_documents_are_errors(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "spec.json").write_text(text)
    body = {"version": 1, "checks": {"openapi": {"spec": "spec.json"}}}
    result = run_check("openapi", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and words in result.summary


def test_spec_without_operations_is_not_a_pass(tmp_path: Path) -> None:
    empty = {"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {}}
    assert check(tmp_path, empty).status is Status.ERROR


def test_served_spec_is_fetched_and_kept_as_evidence(tmp_path: Path) -> None:
    body = json.dumps(SPEC).encode()

    class Served(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/openapi.json" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Served)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"openapi": {
            "spec": f"{url}/openapi.json"}}}))
        served = run_check("openapi", config, tmp_path / "reports", tmp_path)
        config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"openapi": {
            "spec": f"{url}/missing.json"}}}))
        missing = run_check("openapi", config, tmp_path / "reports2", tmp_path)
    finally:
        httpd.shutdown()
    assert served.status is Status.PASS
    assert (tmp_path / "reports" / "evidence" / "openapi-served.json").is_file()
    assert missing.status is Status.ERROR and "cannot be fetched" in missing.summary
