"""The api check's rules and readers on hand-made evidence, and its errors on bad input (no service needed)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.api.generated import GeneratedRun, read
from pipeline.checks.api.policy import Observed, burst_findings, evaluate_api, exchange_findings
from pipeline.checks.api.probes import Burst, Exchange
from pipeline.checks.api.settings import ApiSettings
from pipeline.checks.api.spec import Operation
from pipeline.errors import ParseError, ToolFailed
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import REPO, config_from

GOOD_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "x-request-id": "abc"}
ERROR_BODY = {"code": "x", "message": "m", "details": None, "timestamp": "t", "request_id": "abc"}


def _burst(first: int | None, retry: str | None = "5", elapsed: float = 1.0) -> Burst:
    return Burst("POST /orders", 60, 60, first or 70, first, retry, elapsed, {}, "curl x")


@given(first=st.integers(min_value=1, max_value=200), elapsed=st.floats(min_value=0, max_value=30))
@settings(max_examples=200, deadline=None)
def test_a_quota_passes_only_with_a_429_after_the_limit_and_within_the_refill(first: int, elapsed: float) -> None:
    allowed = 60 + int(elapsed * 60 / 60) + 1
    assert (not burst_findings([_burst(first, elapsed=elapsed)])) == (60 < first <= allowed)


def test_a_quota_fails_never_before_and_without_retry_after() -> None:
    assert "no 429" in burst_findings([_burst(None)])[0].title
    assert "before the quota" in burst_findings([_burst(60)])[0].title
    assert not burst_findings([_burst(61)])
    assert "Retry-After" in burst_findings([_burst(61, retry=None)])[0].title
    assert burst_findings([_burst(61, elapsed=0)]) == []
    assert burst_findings([_burst(62, elapsed=0)])[0].id == "rate-limit:POST /orders"


def _x(status: int, body: object = None, headers: dict[str, str] | None = None, probe: str = "valid",
       excerpt: str = "") -> Exchange:
    return Exchange("GET /orders", probe, "curl", status, GOOD_HEADERS if headers is None else headers, excerpt, body)


@pytest.mark.parametrize(("exchange", "kind"), [
    (_x(422, {"code": "x"}), "error-shape:GET /orders"),
    (_x(500, None, excerpt="plain"), "error-shape:GET /orders"),
    (_x(404, {**ERROR_BODY, "request_id": "other"}), "request-id:GET /orders"),
    (_x(500, ERROR_BODY, excerpt='Traceback (most recent call last):\n  File "a.py", line 1'),
     "stack-trace:GET /orders"),
    (_x(200, {}, {"x-frame-options": "DENY"}), "headers:GET /orders:x-content-type-options"),
    (_x(200, {}, {**GOOD_HEADERS, "server": "nginx/1.25.3"}), "banner:GET /orders"),
    (_x(200, {}, probe="no-token"), "auth:GET /orders:no-token"),
    (_x(401, ERROR_BODY, probe="no-scope"), "auth:GET /orders:no-scope"),
    (_x(403, ERROR_BODY, probe="with-scope"), "role:GET /orders"),
])
def test_each_rule_names_the_operation(exchange: Exchange, kind: str) -> None:
    assert kind in {f.id for f in exchange_findings([exchange], ApiSettings(), https=False)}


def test_a_good_answer_and_a_proper_error_raise_nothing() -> None:
    good = [_x(200, {}), _x(404, ERROR_BODY), _x(401, ERROR_BODY, probe="expired-token"),
            _x(403, ERROR_BODY, probe="no-scope")]
    assert exchange_findings(good, ApiSettings(), https=False) == []
    assert {f.id for f in exchange_findings(good[:1], ApiSettings(), https=True)} == {
        "headers:GET /orders:strict-transport-security"}


def test_operations_not_reached_or_silent_are_an_error_never_a_pass() -> None:
    ops = (Operation("get", "/orders", False), Operation("post", "/orders", True))
    seen = Observed(ops, GeneratedRun(("GET /orders",), (), "max_time", 5), (_x(200, {}),), (), False)
    result = evaluate_api(seen, ApiSettings())
    assert result.status is Status.ERROR and "POST /orders" in result.reasons[0]
    silent = Observed(ops[:1], GeneratedRun(("GET /orders",), (), "completed", 5),
                      (Exchange("GET /orders", "valid", "curl", None, error="no answer within 5 s"),), (), False)
    assert evaluate_api(silent, ApiSettings()).status is Status.ERROR


def _reports(folder: Path, report: object, junit: str) -> tuple[Path, Path]:
    folder.mkdir(exist_ok=True)
    (folder / "r.json").write_text(json.dumps(report))
    (folder / "j.xml").write_text(junit)
    return folder / "r.json", folder / "j.xml"


JUNIT = ('<testsuites><testsuite name="schemathesis"><testcase name="GET /orders"><failure message="ST101, ST105">'
         "- ST101 Server error\n\n[500] Internal Server Error:\n\n    `boom`\n\nReproduce with:\n\n    curl -X GET "
         "http://127.0.0.1:1/orders</failure></testcase></testsuite></testsuites>")
REPORT = {"operations": {"tested": 1, "errored": 0}, "test_cases": {"generated": 4}, "stop_reason": "completed"}


def test_the_reports_are_read_and_validated(tmp_path: Path) -> None:
    run = read(*_reports(tmp_path / "ok", REPORT, JUNIT))
    assert run.tested == ("GET /orders",) and {f.code for f in run.failures} == {"ST101", "ST105"}
    assert run.failures[0].curl == "curl -X GET http://127.0.0.1:1/orders" and run.failures[0].status == 500
    with pytest.raises(ToolFailed, match="could not test"):
        read(*_reports(tmp_path / "errored", {**REPORT, "operations": {"tested": 1, "errored": 2}}, JUNIT))
    with pytest.raises(ParseError, match="generated"):
        read(*_reports(tmp_path / "forged", {**REPORT, "test_cases": {"generated": -1}}, JUNIT))
    with pytest.raises(ParseError, match="more than"):
        read(*_reports(tmp_path / "liar", {**REPORT, "operations": {"tested": 9, "errored": 0}}, JUNIT))
    with pytest.raises(ParseError, match="no test case"):
        read(*_reports(tmp_path / "empty", REPORT, "<testsuites><testsuite/></testsuites>"))
    with pytest.raises(ToolFailed, match="wrote no"):
        read(tmp_path / "absent.json", tmp_path / "absent.xml")
    (tmp_path / "zero.json").write_text("")
    with pytest.raises(ToolFailed, match=r"wrote an empty zero\.json"):
        read(tmp_path / "zero.json", tmp_path / "absent.xml")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("spec", "env", "reason"), [
    ("missing.json", {}, "cannot be read"),
    ("bad.json", {}, "not valid JSON"),
    (str(REPO / "examples" / "orders-service" / "openapi.json"), {}, "no service to drive"),
    (str(REPO / "examples" / "orders-service" / "openapi.json"), {"READINESS_BASE_URL": "http://127.0.0.1:9"},
     "no API token"),
])
def test_bad_input_is_an_error_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str,
                                               env: dict[str, str], reason: str) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    monkeypatch.delenv("READINESS_BASE_URL", raising=False)
    monkeypatch.delenv("READINESS_API_TOKEN", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run_check("api", config_from(tmp_path, f"version: 1\nchecks:\n  api: {{spec: '{spec}'}}\n"),
                       tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and reason in " ".join(result.reasons), result.reasons


def test_a_service_that_does_not_answer_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("schemathesis")
    token = jwt.encode({"sub": "t", "exp": 2_000_000_000, "scope": "orders:write"}, "s" * 32, algorithm="HS256")
    monkeypatch.setenv("READINESS_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("READINESS_API_TOKEN", token)
    monkeypatch.setenv("JWT_SECRET", "s" * 32)
    spec = REPO / "examples" / "orders-service" / "openapi.json"
    config = config_from(tmp_path, f"version: 1\nchecks:\n  api: {{spec: '{spec}', max_examples: 1}}\n")
    result = run_check("api", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR, result.reasons
    assert token not in json.dumps(result.to_dict())


def test_schemathesis_not_installed_is_an_error_saying_how_to_install(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the fault matrix (api x tool missing): this was "The check crashed: ModuleNotFoundError"."""
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
                                "paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}}))
    monkeypatch.setitem(sys.modules, "schemathesis", None)  # as if not installed
    config = config_from(tmp_path, f"version: 1\nchecks:\n  api:\n    spec: {spec}\n    base_url: http://127.0.0.1:9\n")
    result = run_check("api", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert "schemathesis is not installed" in result.summary and "crashed" not in result.summary
    assert "readiness-gate[api]" in " ".join(result.reasons)


def test_a_missing_signing_secret_is_told_whole_through_the_masker() -> None:
    """The reason once read "$JWT_SECRET: expired ...": the masker took "expired" for the secret's value."""
    from pipeline.checks.api.tokens import minter
    from pipeline.errors import ArtifactMissing
    from pipeline.redact import redact
    with pytest.raises(ArtifactMissing) as raised:
        minter({"READINESS_API_TOKEN": "t" * 40}, "READINESS_API_TOKEN", "JWT_SECRET", "scope")
    assert "expired and scope-less tokens cannot be made" in redact(str(raised.value))
