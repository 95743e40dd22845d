"""Records round-trip through JSON and match the shipped schemas; writes are atomic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.model import (
    CheckResult,
    Finding,
    Measurement,
    Status,
    ToolInfo,
    Waiver,
    write_json_atomic,
)
from pipeline.results import shipped_schema

STAMP = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


def full_result() -> CheckResult:
    waiver = Waiver("coverage", "test:x", "flaky upstream", "bob", dt.date(2026, 12, 1))
    return CheckResult(
        check="coverage", status=Status.WAIVED, summary="s", reasons=("r",),
        measurements=(Measurement("line_rate", 0.93, "ratio", ">= 0.9", True),),
        findings=(Finding("test:x", "high", "t", "loc", True, "test:x", {"message": "m"}),),
        evidence=("evidence/a.log",), tool=ToolInfo("pytest", "8", "run", ("pytest",), 1),
        started_at=STAMP, finished_at=STAMP + dt.timedelta(seconds=2.5),
        waivers_applied=(waiver,), details={"groups": []},
    )


def test_result_round_trips_and_validates() -> None:
    original = full_result()
    data = json.loads(json.dumps(original.to_dict()))
    jsonschema.validate(data, shipped_schema("result.schema.json"))
    assert CheckResult.from_dict(data) == original
    assert data["duration_s"] == 2.5


@pytest.mark.parametrize(("status", "code"), [
    (Status.PASS, 0), (Status.WAIVED, 0), (Status.FAIL, 1), (Status.ERROR, 2), (Status.SKIPPED, 2)])
def test_check_exit_codes(status: Status, code: int) -> None:
    assert status.exit_code == code


def test_waiver_is_valid_through_its_expiry_day() -> None:
    waiver = Waiver("audit", "X", "r", "o", dt.date(2026, 11, 27))
    assert not waiver.is_expired(dt.date(2026, 11, 27))
    assert waiver.is_expired(dt.date(2026, 11, 28))


def test_atomic_write_leaves_no_temp_file_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "results" / "coverage.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["coverage.json"]


def test_atomic_write_keeps_old_file_when_serialising_fails(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_json_atomic(target, {"a": 1})

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        write_json_atomic(target, {"a": Boom()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@given(st.text(max_size=40), st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_measurement_round_trip(name: str, value: float) -> None:
    m = Measurement(name, value, "ms", "< 200", False)
    assert Measurement.from_dict(name, json.loads(json.dumps(m.to_dict()))) == m
