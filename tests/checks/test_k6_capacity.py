"""The capacity search: the curve per window from raw samples, the knee, and how the result carries them."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.checks.interface import Evaluation
from pipeline.checks.k6.capacity import scenario, seconds, sla, with_capacity
from pipeline.checks.k6.curve import Curve, Window, curve, knee
from pipeline.checks.k6.samples import Sample, Samples
from pipeline.checks.k6.settings import K6Settings
from pipeline.model import Status
from pipeline.views import Bars, Facts


def _samples(per_second: list[tuple[int, float, int]]) -> Samples:
    """Second s: ``n`` requests taking ``ms`` each, ``errors`` of them failed."""
    found = Samples({"http_req_duration": "trend", "http_req_failed": "rate"})
    for second, (n, ms, errors) in enumerate(per_second):
        for i in range(n):
            moment = second + i / n
            found.add("http_req_duration", Sample(moment, ms, ()))
            found.add("http_req_failed", Sample(moment, 1.0 if i < errors else 0.0, ()))
    return found


def test_the_curve_has_one_point_per_full_window_with_the_achieved_rate() -> None:
    found = curve(_samples([(10, 20.0, 0), (20, 30.0, 0), (40, 250.0, 4), (5, 10.0, 0)]), 1.0)
    assert [w.requests for w in found.windows] == [10, 20, 40]  # the last, partial window is left out
    assert [w.rate for w in found.windows] == [10.0, 20.0, 40.0]
    assert found.windows[2].p95_ms == 250.0 and found.windows[2].error_rate == 0.1
    assert curve(Samples(), 1.0).windows == ()


def _curve(*points: tuple[float, float, float]) -> Curve:
    return Curve(tuple(Window(float(i), rate, p95, errors, int(rate)) for i, (rate, p95, errors) in enumerate(points)),
                 1.0)


@pytest.mark.parametrize(("points", "rate", "reached", "words"), [
    ([(10, 50, 0), (20, 80, 0), (30, 200, 0), (40, 90, 0)], 20.0, True, "20.0 req/s"),  # 200 is not < 200
    ([(10, 50, 0), (20, 80, 0.002), (30, 90, 0)], 10.0, True, "10.0 req/s"),  # errors over the 0.1% budget
    ([(10, 50, 0), (25, 199.9, 0.0009), (30, 90, 0)], 30.0, False, "at least 30.0 req/s"),  # every window held
    ([(10, 300, 0), (20, 80, 0)], None, True, "the SLA held at no rate tried (up to 20.0 req/s)"),
    ([(10, 50, 0), (0, 0, 0), (30, 50, 0)], 10.0, True, "10.0 req/s"),  # a window without a request: stalled
])
def test_the_knee_is_the_highest_rate_before_the_sla_first_broke(points: list[tuple[float, float, float]],
                                                                  rate: float | None, reached: bool,
                                                                  words: str) -> None:
    found = knee(_curve(*points), 200, 0.001)
    assert (found.rate, found.reached) == (rate, reached)
    assert found.words().startswith(words)


def _settings(**capacity: Any) -> K6Settings:
    return K6Settings.model_validate({"capacity": {"max_rate": 50, **capacity}})


def test_the_sla_comes_from_the_thresholds_unless_the_capacity_settings_say() -> None:
    assert sla(_settings()) == (200.0, 0.001)
    assert sla(_settings(p95_ms=150, error_budget=0.01)) == (150, 0.01)
    no_sla = K6Settings.model_validate({"capacity": {"max_rate": 5}, "thresholds": {"http_reqs": ("count>1",)}})
    assert sla(no_sla) == (None, None)
    result = with_capacity(Evaluation(Status.PASS, "ok"), _curve((10, 50, 0)), no_sla)
    assert result.status is Status.ERROR and "no SLA" in result.reasons[-1]


def test_a_knee_below_min_rate_fails_and_the_result_carries_the_curve() -> None:
    found = _curve((10, 50, 0), (20, 80, 0), (30, 400, 0.5))
    passed = with_capacity(Evaluation(Status.PASS, "ok"), found, _settings())
    assert passed.status is Status.PASS and "20.0 req/s" in passed.reasons[-1]
    assert next(m for m in passed.measurements if m.name == "capacity knee").value == 20.0
    bars = next(v for v in passed.views if isinstance(v, Bars))
    assert [b.ok for b in bars.rows] == [True, True, False] and bars.rows[2].limit == 200
    assert any(isinstance(v, Facts) and ("knee", "20.0 req/s") in v.items for v in passed.views)
    failed = with_capacity(Evaluation(Status.PASS, "ok"), found, _settings(min_rate=25))
    assert failed.status is Status.FAIL and failed.findings[0].id == "capacity:knee"
    assert "below 25 req/s" in failed.summary
    held = with_capacity(Evaluation(Status.PASS, "ok"), found, _settings(min_rate=20))
    assert held.status is Status.PASS  # at the floor exactly: met
    empty = with_capacity(Evaluation(Status.PASS, "ok"), Curve((), 1.0), _settings())
    assert empty.status is Status.ERROR


def test_the_scenario_is_a_ramping_arrival_rate_without_thresholds() -> None:
    plan = _settings(start_rate=5, duration="15s").capacity
    assert plan is not None
    options = scenario(plan)
    assert options["thresholds"] == {}
    assert options["scenarios"] == {"capacity": {
        "executor": "ramping-arrival-rate", "startRate": 5, "timeUnit": "1s", "preAllocatedVUs": 20, "maxVUs": 100,
        "stages": [{"target": 50, "duration": "15s"}]}}
    assert (seconds("1500ms"), seconds("2m")) == (1.5, 120.0)
