"""The validators every parser runs tool numbers through before a rule sees them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import evidence
from pipeline.errors import ParseError


@pytest.mark.parametrize("bad", [True, False, None, "1", [1], {"v": 1}, math.nan, math.inf, -math.inf,
                                 10**400, pytest.param(10**5000, id="5001-digit-int")])
def test_number_refuses_what_is_not_a_finite_number(bad: object) -> None:
    with pytest.raises(ParseError) as caught:
        evidence.number(bad, "report.json", "metrics.p95")
    assert "report.json: metrics.p95" in caught.value.reason


def test_number_accepts_text_only_when_asked() -> None:
    assert evidence.number(" 3 ", "r.xml", "riskcode", text_ok=True) == 3.0
    with pytest.raises(ParseError):
        evidence.number("nan", "r.xml", "riskcode", text_ok=True)
    with pytest.raises(ParseError):
        evidence.number("three", "r.xml", "riskcode", text_ok=True)


def test_ranges_at_their_edges() -> None:
    assert evidence.rate(0, "f", "p") == 0.0 and evidence.rate(1, "f", "p") == 1.0
    with pytest.raises(ParseError, match="above"):
        evidence.rate(1.0000001, "f", "p")
    with pytest.raises(ParseError, match="below"):
        evidence.non_negative(-0.001, "f", "p")
    assert evidence.count(3.0, "f", "p") == 3
    with pytest.raises(ParseError, match="whole"):
        evidence.count(3.5, "f", "p")


def test_text_refuses_numbers_and_empty_names() -> None:
    assert evidence.text("pkg", "f", "name") == "pkg"
    with pytest.raises(ParseError):
        evidence.text(3, "f", "name")
    with pytest.raises(ParseError):
        evidence.text("  ", "f", "name")
    assert evidence.text("", "f", "name", required=False) == ""


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.booleans(), st.none(),
                 st.text(max_size=8)))
def test_rate_returns_a_value_in_range_or_raises_parse_error(value: object) -> None:
    try:
        checked = evidence.rate(value, "f", "p", text_ok=True)
    except ParseError:
        return
    assert 0.0 <= checked <= 1.0 and math.isfinite(checked)
