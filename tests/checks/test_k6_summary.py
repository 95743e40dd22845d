"""k6 summaries in both shapes (polarity!), and the k6 policy at its edges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.checks.k6 import K6Parsed, effective_thresholds, endpoint_rows, evaluate_k6
from pipeline.checks.k6_summary import EXPORT, HANDLE_SUMMARY, parse_summary, read_summary
from pipeline.errors import ParseError
from pipeline.model import Status


def export_doc(p95: float, failed_rate: float, crossed: dict[str, bool]) -> dict[str, Any]:
    """A --summary-export document: flattened values, threshold true = FAILED."""
    return {"root_group": {"checks": {"ok": {"passes": 10, "fails": 0}}, "groups": {}},
            "metrics": {
                "http_req_duration": {"med": p95 / 2, "p(95)": p95, "p(99)": p95 * 1.2, "max": p95 * 2,
                                      "thresholds": {"p(95)<200": crossed.get("p95", False)}},
                "http_req_failed": {"passes": 1, "fails": 999, "value": failed_rate,
                                    "thresholds": {"rate<0.001": crossed.get("rate", False)}},
                "http_reqs": {"count": 1000, "rate": 100.0},
            }}


def handle_doc(p95: float, failed_rate: float, ok: dict[str, bool]) -> dict[str, Any]:
    """A handleSummary data object: values under `values`, threshold ok = PASSED."""
    return {"root_group": {"checks": [{"passes": 10, "fails": 0}], "groups": []},
            "state": {"testRunDurationMs": 30000},
            "metrics": {
                "http_req_duration": {"type": "trend", "contains": "time",
                                      "values": {"med": p95 / 2, "p(95)": p95, "max": p95 * 2},
                                      "thresholds": {"p(95)<200": {"ok": ok.get("p95", True)}}},
                "http_req_failed": {"type": "rate", "contains": "default",
                                    "values": {"rate": failed_rate, "passes": 1, "fails": 999},
                                    "thresholds": {"rate<0.001": {"ok": ok.get("rate", True)}}},
            }}


def parsed(document: dict[str, Any], exit_code: int | None = 0, expected: dict[str, list[str]] | None = None,
           aborted: bool = False) -> K6Parsed:
    return K6Parsed(parse_summary(document), exit_code, aborted, expected or {})


@given(p95_crossed=st.booleans(), rate_crossed=st.booleans(),
       p95=st.floats(min_value=0, max_value=10_000), rate=st.floats(min_value=0, max_value=1))
def test_both_shapes_mean_the_same_thing(p95_crossed: bool, rate_crossed: bool, p95: float, rate: float) -> None:
    exported = parse_summary(export_doc(p95, rate, {"p95": p95_crossed, "rate": rate_crossed}))
    handled = parse_summary(handle_doc(p95, rate, {"p95": not p95_crossed, "rate": not rate_crossed}))
    assert exported.shape == EXPORT and handled.shape == HANDLE_SUMMARY
    as_set = {(t.metric, t.expression, t.ok, t.observed) for t in exported.thresholds}
    assert as_set == {(t.metric, t.expression, t.ok, t.observed) for t in handled.thresholds}
    assert {t.metric: t.ok for t in exported.thresholds} == {
        "http_req_duration": not p95_crossed, "http_req_failed": not rate_crossed}


def test_export_true_means_failed() -> None:
    summary = parse_summary(export_doc(250.0, 0.0, {"p95": True}))
    duration = next(t for t in summary.thresholds if t.metric == "http_req_duration")
    assert duration.ok is False and duration.observed == 250.0
    assert evaluate_k6(parsed(export_doc(250.0, 0.0, {"p95": True}), 99)).status is Status.FAIL


@pytest.mark.parametrize(("document", "problem"), [
    ({"metrics": {"x": {"values": {"rate": 1}, "thresholds": {"rate<1": True}}}}, "mixes"),
    ({"metrics": {"x": {"thresholds": {"rate<1": "yes"}}}}, "neither"),
    ({"metrics": {"x": {"p(95)": "12"}}}, "neither"),
    ({"metrics": {"x": {"p(95)": 12, "thresholds": {"p(95)<1": "false"}}}}, r"expected true \(failed\)"),
    ({"metrics": {"x": {"values": {"p(95)": 1}, "thresholds": {"p(95)<1": {"ok": "true"}}}}}, 'expected {"ok"'),
    ({"metrics": []}, "not a k6 summary"),
    ([], "not a k6 summary"),
    ({"version": "1", "results": {}}, "new machine-readable summary"),
    ({"metrics": {"x": {"p(95)": float("nan")}}}, "not a finite number"),
])
def test_unknown_or_broken_shapes_are_parse_errors(document: Any, problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        parse_summary(document)


def test_truncated_summary_names_file_and_place(tmp_path: Path) -> None:
    path = tmp_path / "k6-summary.json"
    path.write_text(json.dumps(export_doc(10, 0, {}))[:150])
    with pytest.raises(ParseError, match=r"k6-summary.json: line 1 column \d+: is not valid JSON"):
        read_summary(path)


@pytest.mark.parametrize(("p95", "crossed", "status"), [
    (199.99, False, Status.PASS),
    (200.0, True, Status.FAIL),  # p(95)<200 is strict: exactly 200 is crossed (k6 decides; we follow it)
])
def test_p95_edge_follows_k6(p95: float, crossed: bool, status: Status) -> None:
    result = evaluate_k6(parsed(export_doc(p95, 0.0, {"p95": crossed}), 99 if crossed else 0))
    assert result.status is status


def test_error_rate_threshold_crossed_is_a_finding() -> None:
    result = evaluate_k6(parsed(export_doc(10.0, 0.01, {"rate": True}), 99))
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings if f.failing] == ["http_req_failed rate<0.001"]
    assert "1%" in result.findings[0].title


@pytest.mark.parametrize(("code", "words"), [
    (105, "aborted from outside"), (107, "threw an exception"), (108, "test.abort()"), (1, "unexpected")])
def test_other_exit_codes_are_errors_even_with_a_good_summary(code: int, words: str) -> None:
    result = evaluate_k6(parsed(export_doc(10.0, 0.0, {}), code))
    assert result.status is Status.ERROR and words in result.summary


def test_exit_99_without_crossed_thresholds_is_an_error() -> None:
    assert evaluate_k6(parsed(export_doc(10.0, 0.0, {}), 99)).status is Status.ERROR


def test_exit_0_with_crossed_threshold_fails_on_the_summary() -> None:
    result = evaluate_k6(parsed(export_doc(300.0, 0.0, {"p95": True}), 0))
    assert result.status is Status.FAIL
    assert any("the summary decides" in r for r in result.reasons)


def test_configured_threshold_missing_from_the_summary_is_an_error() -> None:
    expected = {"http_req_duration": ["p(95)<200"], "http_req_duration{name:get_order}": ["p(95)<100"]}
    result = evaluate_k6(parsed(export_doc(10.0, 0.0, {}), 0, expected))
    assert result.status is Status.ERROR
    assert "http_req_duration{name:get_order} p(95)<100" in result.reasons[0]


def test_aborted_run_says_so() -> None:
    result = evaluate_k6(parsed(export_doc(10.0, 0.5, {"rate": True}), 99, aborted=True))
    assert result.status is Status.FAIL and any("abortOnFail" in r for r in result.reasons)


def test_failed_checks_are_shown_but_do_not_fail() -> None:
    document = export_doc(10.0, 0.0, {})
    document["root_group"]["checks"]["ok"]["fails"] = 3
    result = evaluate_k6(parsed(document))
    assert result.status is Status.PASS
    assert [f.title for f in result.findings] == ["3 of 13 k6 check() calls failed"]


def test_endpoints_get_the_overall_thresholds_unless_they_have_their_own() -> None:
    thresholds = effective_thresholds({
        "thresholds": {"http_req_duration": ["p(95)<200"], "http_req_failed": ["rate<0.001"],
                       "http_req_duration{name:create_order}": ["p(95)<300"]},
        "endpoints": ["get_order", "create_order"]})
    assert thresholds["http_req_duration{name:get_order}"] == ["p(95)<200"]
    assert thresholds["http_req_failed{name:get_order}"] == ["rate<0.001"]
    assert thresholds["http_req_duration{name:create_order}"] == ["p(95)<300"]
    assert effective_thresholds({}) == {"http_req_duration": ["p(95)<200"], "http_req_failed": ["rate<0.001"]}


def test_endpoint_rows_carry_limit_and_outcome() -> None:
    document = export_doc(10.0, 0.0, {})
    document["metrics"]["http_req_duration{name:get_order}"] = {
        "med": 40, "p(95)": 120, "p(99)": 150, "max": 200, "thresholds": {"p(95)<100": True}}
    rows = endpoint_rows(parse_summary(document))
    assert rows == [{"name": "get_order", "p50": 40.0, "p95": 120.0, "p99": 150.0, "max": 200.0,
                     "p95_limit": 100.0, "error_rate": None, "ok": False}]
