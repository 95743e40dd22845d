"""The openapi check on the example's spec and on broken variants of it."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.checks.openapi import OpenApiCheck, OpenApiSettings, SpecRaw, evaluate_openapi, served_url, sla_problems
from pipeline.checks.openapi.document import load
from pipeline.checks.openapi.spec import operations, require_openapi3
from pipeline.errors import ParseError
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.conftest import REPO, config_from
from tests.fuzzing import alias_bomb, fuzz, paths

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
    assert {f.id for f in result.findings} == {"responses:GET:/orders", "sla:POST:/orders"}
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
    (invalid,) = (f for f in result.findings if f.id.startswith("invalid-spec:"))
    assert invalid.id == "invalid-spec:#/paths/~1orders/get/responses/200"
    assert "#/paths/~1orders/get/responses/200" in invalid.title and "description" in invalid.title


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


# --- an SLA is a finite number > 0 ---------------------------------------------------------


@pytest.mark.parametrize(("p95", "problem"), [
    (True, "x-sla.p95_ms is True, not a number"),
    (False, "x-sla.p95_ms is False, not a number"),
    (0, "x-sla.p95_ms is 0, not > 0"),
    (-5, "x-sla.p95_ms is -5, not > 0"),
    ("100", "x-sla.p95_ms is '100', not a number"),
    (None, "x-sla.p95_ms is None, not a number"),
    ([100], "x-sla.p95_ms is [100], not a number"),
    (float("nan"), "x-sla.p95_ms is nan, not a finite number"),
    (float("inf"), "x-sla.p95_ms is inf, not a finite number"),
])
def test_sla_that_is_not_a_finite_positive_number_is_a_finding(tmp_path: Path, p95: Any, problem: str) -> None:
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/orders"]["get"]["x-sla"]["p95_ms"] = p95
    result = check(tmp_path, spec)  # JSON: NaN and Infinity are what Python writes and reads
    assert result.status is Status.FAIL
    sla = next(f for f in result.findings if f.id == "sla:GET:/orders")
    assert problem in sla.title


def test_yaml_nan_and_infinity_are_findings_too(tmp_path: Path) -> None:
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/orders"]["get"]["x-sla"]["p95_ms"] = float("nan")
    spec["paths"]["/orders"]["post"]["x-sla"]["p95_ms"] = float("-inf")
    result = check(tmp_path, spec, as_yaml=True)
    assert "p95_ms: .nan" in (tmp_path / "spec.yaml").read_text()
    assert {f.id for f in result.findings} == {"sla:GET:/orders", "sla:POST:/orders"}


@pytest.mark.parametrize(("error_rate", "ok"), [(0.001, True), (0, True), (1, True), (1.5, False),
                                                 (-0.1, False), (True, False), ("0.1%", False)])
def test_sla_error_rate_is_a_rate(tmp_path: Path, error_rate: Any, ok: bool) -> None:
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/orders"]["get"]["x-sla"]["error_rate"] = error_rate
    result = check(tmp_path, spec)
    assert (result.status is Status.PASS) is ok
    assert any("x-sla.error_rate" in f.title for f in result.findings) is not ok


def test_fractional_sla_is_fine() -> None:
    assert sla_problems({"p95_ms": 0.5}, "GET /x") == []
    assert sla_problems({"error_rate": 0.01}, "GET /x") == ["has no x-sla.p95_ms"]


# --- the spec file is compared with the spec the running service serves ----------------------


class _SpecServer:
    """A real HTTP server on 127.0.0.1 serving whatever body is set per path."""

    def __init__(self) -> None:
        bodies: dict[str, bytes] = {}
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = bodies.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def spec_server() -> Iterator[_SpecServer]:
    server = _SpecServer()
    server.bodies["/openapi.json"] = json.dumps(SPEC).encode()
    yield server
    server.httpd.shutdown()


def test_spec_file_cut_at_a_line_is_caught_by_the_served_spec(tmp_path: Path, spec_server: _SpecServer) -> None:
    text = yaml.safe_dump(SPEC, sort_keys=False)
    cut = "\n".join(text.splitlines()[: text.splitlines().index("  /orders:")])  # still valid YAML
    (tmp_path / "spec.yaml").write_text(cut + "\n")
    assert yaml.safe_load(cut)["paths"]
    body = {"version": 1, "checks": {"openapi": {"spec": "spec.yaml",
                                                 "served_spec": f"{spec_server.url}/openapi.json"}}}
    result = run_check("openapi", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert "lacks 3 operation(s) the running service serves" in result.summary
    assert result.details["only_served"] == ["GET /orders", "GET /orders/{order_id}", "POST /orders"]
    assert (tmp_path / "reports" / "evidence" / "openapi-served-spec.json").is_file()
    unchecked = run_check("openapi", config_from(tmp_path, yaml.safe_dump(
        {"version": 1, "checks": {"openapi": {"spec": "spec.yaml"}}})), tmp_path / "r2", tmp_path)
    assert unchecked.status is Status.PASS  # without served_spec the cut is invisible


def test_operations_only_in_the_file_are_findings(tmp_path: Path, spec_server: _SpecServer) -> None:
    served = copy.deepcopy(SPEC)
    del served["paths"]["/orders"]["post"]
    # Another parameter name is the same operation.
    served["paths"]["/orders/{id}"] = served["paths"].pop("/orders/{order_id}")
    spec_server.bodies["/v2/openapi.json"] = json.dumps(served).encode()
    result = check(tmp_path, SPEC, served_spec="/v2/openapi.json", base_url=spec_server.url)
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings] == ["drift:POST:/orders"]
    assert result.details["only_served"] == []


def test_matching_served_spec_passes_and_says_so(tmp_path: Path, spec_server: _SpecServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READINESS_BASE_URL", spec_server.url + "/")
    result = check(tmp_path, SPEC, served_spec="openapi.json")
    assert result.status is Status.PASS, result.reasons
    assert "match the 6 the service serves" in result.summary
    missing = next(m for m in result.measurements if m.name == "served operations missing from the spec")
    assert (missing.value, missing.ok) == (0, True)


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/openapi.json", b"<html>login</html>", "not an OpenAPI 3 document"),
    ("/openapi.json", b'{"openapi": "3.1.0", "paths": {', "is not valid JSON"),
    ("/openapi.json", b'{"swagger": "2.0"}', "not an OpenAPI 3 document"),
    ("/gone.json", None, "cannot be fetched"),
])
def test_served_spec_that_cannot_be_used_is_an_error(tmp_path: Path, spec_server: _SpecServer, path: str,
                                                     body: bytes | None, words: str) -> None:
    if body is not None:
        spec_server.bodies[path] = body
    result = check(tmp_path, SPEC, served_spec=f"{spec_server.url}{path}")
    assert result.status is Status.ERROR and words in result.summary


def test_served_spec_url_is_joined_to_the_base_url() -> None:
    assert served_url("http://h:1/o.json", "http://x") == "http://h:1/o.json"
    assert served_url("/openapi.json", "http://x:8/") == "http://x:8/openapi.json"
    assert served_url("openapi.json", None) == "http://127.0.0.1:8000/openapi.json"


# --- property tests: hostile documents give a result or a ParseError, nothing else -----------


@fuzz(200)
@given(st.text(max_size=200))
def test_arbitrary_text_loads_or_is_a_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        load(text, "spec")


_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.floats(),
                    st.sampled_from(["#/components/schemas/Nope", "#/x", "3.1.0", "3.0.3"]))
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["$ref", "type", "responses", "get", "x-sla", "p95_ms", "paths", "openapi"])
                    | st.text(max_size=4), inner, max_size=3)), max_leaves=6)




def _mutated(data: st.DataObject) -> Any:
    document: Any = copy.deepcopy(SPEC)
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(paths(document)))
        replacement = data.draw(_VALUES)
        if not target:
            document = replacement
            continue
        node = document
        for key in target[:-1]:
            node = node[key]
        node[target[-1]] = replacement
    return document


@fuzz(40)
@given(data=st.data())
def test_mutated_specs_give_a_result_or_a_parse_error(data: st.DataObject) -> None:
    # openapi-spec-validator raises KeyError, TypeError, PointerToNowhere... on such documents.
    document, served = _mutated(data), _mutated(data)
    try:
        parsed = OpenApiCheck().parse(SpecRaw("spec", document, "served", served))
    except ParseError:
        return
    evaluation = evaluate_openapi(parsed, OpenApiSettings.model_validate({}))
    assert evaluation.status in (Status.PASS, Status.FAIL, Status.ERROR)


@fuzz(300)
@given(data=st.data())
def test_operations_and_slas_of_mutated_specs_never_crash(data: st.DataObject) -> None:
    document = _mutated(data)
    if not isinstance(document, dict):
        return
    try:
        require_openapi3(document, "spec")
    except ParseError:
        return
    for op in operations(document):
        assert all(isinstance(problem, str) for problem in sla_problems(op.sla, op.key))


def test_a_spec_holding_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Found by the fault matrix (openapi x hostile): nine anchors of nine aliases as a schema's enum made
    openapi-spec-validator spell out 387 million values in one message; the check ran past its budget."""
    anchors, alias = alias_bomb(indent="  ")
    spec = yaml.safe_dump(SPEC).replace("components:\n", f"x-anchors:\n{anchors}\ncomponents:\n", 1)
    spec = spec.replace("paths:\n", f"x-enum: {alias}\npaths:\n", 1)
    (tmp_path / "spec.yaml").write_text(spec)
    started = time.monotonic()
    result = run_check("openapi", config_from(tmp_path, "version: 1\nchecks: {openapi: {spec: spec.yaml}}\n"),
                       tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and "an alias bomb" in result.summary
    assert "spec.yaml" in result.summary and time.monotonic() - started < 5
