"""The api check against the real example service, started once per variant (TEST_FAULT switches)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.model import CheckResult, Status, Verdict
from pipeline.reporters import html, markdown
from pipeline.runner import run_check
from pipeline.target import Target
from pipeline.target.owned import free_port
from pipeline.target.service import expand, start_service
from pipeline.verdict import decide
from pipeline.views import Table
from tests.conftest import REPO, config_from, example_start_settings, need_example_service

pytest.importorskip("schemathesis", reason="pip install 'readiness-gate[api]'")
SPEC = REPO / "examples" / "orders-service" / "openapi.json"
# The service runs with a small write quota (30 a minute) so that a burst stays short; the config
# table says so (what the spec declares, 600, is probed the same way in the shipped config).
CONFIG = ("version: 1\nchecks:\n  api:\n    spec: " + str(SPEC) + "\n"
          "    max_examples: 3\n    max_time_s: 120\n"
          "    rate_limits: {'POST /orders': {limit: 30, window_s: 60},\n"
          "                  'POST /customers': {limit: 30, window_s: 60}}\n")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, dict[str, Any]]]:
    """The example and its database, started once; the fault variants start beside it on the same database."""
    need_example_service()
    from pipeline.target import running_target

    start = example_start_settings(orders=50, customers=5)
    start["env"] = {**start.get("env", {}), "WRITES_PER_MINUTE": "30"}
    with running_target(start, REPO, tmp_path_factory.mktemp("api-target")) as target:
        yield target, start


@pytest.fixture(scope="module", params=["none", "leak-500", "open-write", "no-rate-limit"])
def variant(request: pytest.FixtureRequest, example: tuple[Target, dict[str, Any]],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CheckResult]]:
    """One started service per variant (TEST_FAULT), and the api check's result on it."""
    target, start = example
    fault: str = request.param
    folder = tmp_path_factory.mktemp(f"api-{fault}")
    env = dict(target.env)
    if fault != "none":  # another instance of the service, with the fault switched on
        port = free_port()
        service_env = {**os.environ, **start["env"], "DATABASE_URL": env["READINESS_DATABASE_URL"],
                       "JWT_SECRET": env["JWT_SECRET"], "PORT": str(port), "TEST_FAULT": fault}
        env["READINESS_BASE_URL"] = f"http://127.0.0.1:{port}"
        start_service(target, expand(start["command"], port), Path(start["workdir"]), service_env,
                      env["READINESS_BASE_URL"] + "/ready", 60, folder / "service.log")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield fault, run_check("api", config_from(folder, CONFIG), folder / "reports", folder)


def _ids(result: CheckResult) -> set[str]:
    return {f.id for f in result.findings if f.failing}


def test_each_variant_gets_the_verdict_it_deserves(variant: tuple[str, CheckResult]) -> None:
    fault, result = variant
    expected = {
        "none": set(),
        "leak-500": {"stack-trace:GET /orders", "server-error:GET /orders:ST101"},
        "open-write": {"auth:POST /customers:no-token", "auth:POST /customers:expired-token",
                       "auth:POST /customers:foreign-key-token", "auth:POST /customers:no-scope"},
        "no-rate-limit": {"rate-limit:POST /customers", "rate-limit:POST /orders"},
    }[fault]
    if fault == "none":
        assert result.status is Status.PASS, result.reasons
        return
    assert result.status is Status.FAIL, result.reasons
    assert expected <= _ids(result), _ids(result)
    assert decide([result], mandatory=("api",)).verdict is Verdict.NOT_READY
    finding = next(f for f in result.findings if f.id in expected)
    assert finding.location in finding.id and "curl -X" in finding.message
    assert "Bearer ey" not in finding.message  # the token is masked


def test_the_role_matrix_is_drawn_in_html_and_markdown(variant: tuple[str, CheckResult]) -> None:
    fault, result = variant
    matrix = next(v for v in result.views if isinstance(v, Table))
    rows = {row[0]: row for row in matrix.rows}
    ok = dict(zip((r[0] for r in matrix.rows), matrix.ok, strict=True))
    assert rows["POST /orders"][1:6] == ("orders:write", "401", "401", "401", "403")
    assert rows["GET /orders"][1] == "anonymous" and ok["GET /orders"] is None
    assert ok["POST /customers"] is (fault != "open-write")
    limited = rows["POST /orders"][-1]
    assert limited.startswith("30/60s: 429 at ") and (limited.endswith("never") == (fault == "no-rate-limit"))
    report = decide([result], mandatory=("api",))
    page, summary = html.render(report), markdown.render(report)
    assert '<table class="matrix">' in page and "POST /orders" in page
    assert "| operation | needs | no\\-token |" in summary


def test_a_budget_spent_before_the_run_ends_is_an_error_naming_the_operations(
        example: tuple[Target, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target, _ = example
    for key, value in target.env.items():
        monkeypatch.setenv(key, value)
    config = config_from(tmp_path, CONFIG.replace("max_time_s: 120", "max_time_s: 0.5"))
    result = run_check("api", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert "not reached" in result.summary + " ".join(result.reasons) and "POST /orders" in " ".join(result.reasons)
