"""k6 summaries in both shapes (polarity!), and the k6 policy at its edges."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.interface import Evaluation
from pipeline.checks.k6 import K6Parsed, K6Settings, effective_thresholds, evaluate_k6
from pipeline.checks.k6.report import latency_view
from pipeline.checks.k6.summary import EXPORT, HANDLE_SUMMARY, parse_summary, read_summary
from pipeline.checks.k6.thresholds import OPERATORS, Recomputed, parse_expression, recompute, trend_stats
from pipeline.errors import ParseError
from pipeline.model import Status
from pipeline.views import Bar
from tests.fuzzing import fuzz, paths

REQUESTS = 100_000


def failures(failed_rate: float) -> tuple[int, int, float]:
    """Passes (failed requests), fails and the rate k6 would compute from them."""
    passes = round(failed_rate * REQUESTS)
    return passes, REQUESTS - passes, passes / REQUESTS


def export_doc(p95: float, failed_rate: float, crossed: dict[str, bool]) -> dict[str, Any]:
    """A --summary-export document: flattened values, threshold true = FAILED."""
    passes, fails, rate = failures(failed_rate)
    return {"root_group": {"checks": {"ok": {"passes": 10, "fails": 0}}, "groups": {}},
            "metrics": {
                "http_req_duration": {"med": p95 / 2, "p(95)": p95, "p(99)": p95 * 1.2, "max": p95 * 2,
                                      "thresholds": {"p(95)<200": crossed.get("p95", False)}},
                "http_req_failed": {"passes": passes, "fails": fails, "value": rate,
                                    "thresholds": {"rate<0.001": crossed.get("rate", False)}},
                "http_reqs": {"count": 1000, "rate": 100.0},
            }}


def handle_doc(p95: float, failed_rate: float, ok: dict[str, bool]) -> dict[str, Any]:
    """A handleSummary data object: values under `values`, threshold ok = PASSED."""
    passes, fails, rate = failures(failed_rate)
    return {"root_group": {"checks": [{"passes": 10, "fails": 0}], "groups": []},
            "state": {"testRunDurationMs": 30000},
            "metrics": {
                "http_req_duration": {"type": "trend", "contains": "time",
                                      "values": {"med": p95 / 2, "p(95)": p95, "max": p95 * 2},
                                      "thresholds": {"p(95)<200": {"ok": ok.get("p95", True)}}},
                "http_req_failed": {"type": "rate", "contains": "default",
                                    "values": {"rate": rate, "passes": passes, "fails": fails},
                                    "thresholds": {"rate<0.001": {"ok": ok.get("rate", True)}}},
            }}


def k6_settings(**keys: Any) -> K6Settings:
    """Settings as the config gives them (JSON form: lists become tuples)."""
    return K6Settings.model_validate_json(json.dumps(keys))


def judge(document: dict[str, Any], exit_code: int | None = 0, expected: dict[str, list[str]] | None = None,
          aborted: bool = False) -> Evaluation:
    """The policy on a summary; ``expected``: the configured thresholds (default: the SLA)."""
    settings = k6_settings(thresholds=expected) if expected else k6_settings()
    return evaluate_k6(K6Parsed(parse_summary(document), exit_code, aborted), settings)


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
    assert judge(export_doc(250.0, 0.0, {"p95": True}), 99).status is Status.FAIL


@pytest.mark.parametrize(("document", "problem"), [
    ({"metrics": {"x": {"values": {"rate": 1}, "thresholds": {"rate<1": True}}}}, "mixes"),
    ({"metrics": {"x": {"thresholds": {"rate<1": "yes"}}}}, "neither"),
    ({"metrics": {"x": {"p(95)": "12"}}}, "neither"),
    ({"metrics": {"x": {"p(95)": 12, "thresholds": {"p(95)<1": "false"}}}}, r"expected true \(failed\)"),
    ({"metrics": {"x": {"type": "trend", "values": {"p(95)": 1}, "thresholds": {"p(95)<1": {"ok": "true"}}}}},
     'expected {"ok"'),
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
    result = judge(export_doc(p95, 0.0, {"p95": crossed}), 99 if crossed else 0)
    assert result.status is status


def test_error_rate_threshold_crossed_is_a_finding() -> None:
    result = judge(export_doc(10.0, 0.01, {"rate": True}), 99)
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings if f.failing] == ["threshold:http_req_failed:rate<0.001"]
    assert result.findings[0].aliases == ("http_req_failed rate<0.001",)  # the id before issue 13
    assert "1%" in result.findings[0].title


@pytest.mark.parametrize(("code", "words"), [
    (105, "aborted from outside"), (107, "threw an exception"), (108, "test.abort()"), (1, "unexpected")])
def test_other_exit_codes_are_errors_even_with_a_good_summary(code: int, words: str) -> None:
    result = judge(export_doc(10.0, 0.0, {}), code)
    assert result.status is Status.ERROR and words in result.summary


def test_exit_99_without_crossed_thresholds_is_an_error() -> None:
    assert judge(export_doc(10.0, 0.0, {}), 99).status is Status.ERROR


def test_exit_0_with_crossed_threshold_fails_on_the_summary() -> None:
    result = judge(export_doc(300.0, 0.0, {"p95": True}), 0)
    assert result.status is Status.FAIL
    assert any("the summary decides" in r for r in result.reasons)


def test_configured_threshold_missing_from_the_summary_is_an_error() -> None:
    expected = {"http_req_duration": ["p(95)<200"], "http_req_duration{name:get_order}": ["p(95)<100"]}
    result = judge(export_doc(10.0, 0.0, {}), 0, expected)
    assert result.status is Status.ERROR
    assert "http_req_duration{name:get_order} p(95)<100" in result.reasons[0]


def test_aborted_run_says_so() -> None:
    result = judge(export_doc(10.0, 0.5, {"rate": True}), 99, aborted=True)
    assert result.status is Status.FAIL and any("abortOnFail" in r for r in result.reasons)


def test_failed_checks_are_shown_but_do_not_fail() -> None:
    document = export_doc(10.0, 0.0, {})
    document["root_group"]["checks"]["ok"]["fails"] = 3
    result = judge(document)
    assert result.status is Status.PASS
    assert [(f.id, f.title) for f in result.findings] == [("checks:failed", "3 of 13 k6 check() calls failed")]


def test_endpoints_get_the_overall_thresholds_unless_they_have_their_own() -> None:
    thresholds = effective_thresholds(k6_settings(
        thresholds={"http_req_duration": ["p(95)<200"], "http_req_failed": ["rate<0.001"],
                    "http_req_duration{name:create_order}": ["p(95)<300"]},
        endpoints=["get_order", "create_order"]))
    assert thresholds["http_req_duration{name:get_order}"] == ("p(95)<200",)
    assert thresholds["http_req_failed{name:get_order}"] == ("rate<0.001",)
    assert thresholds["http_req_duration{name:create_order}"] == ("p(95)<300",)
    sla = {"http_req_duration": ("p(95)<200",), "http_req_failed": ("rate<0.001",)}
    assert effective_thresholds(k6_settings()) == effective_thresholds(k6_settings(thresholds={})) == sla


def test_latency_view_carries_limit_marks_and_outcome() -> None:
    document = export_doc(10.0, 0.0, {})
    document["metrics"]["http_req_duration{name:get_order}"] = {
        "med": 40, "p(95)": 120, "p(99)": 150, "max": 200, "thresholds": {"p(95)<100": True}}
    view = latency_view(parse_summary(document))
    assert (view.title, view.unit) == ("Latency per endpoint", "ms")
    assert view.rows == (Bar("get_order", 120.0, 100.0, False, "p50 40 / p95 120 / p99 150 ms", (40.0, 150.0)),)
    assert judge(document, 99).views[0] == view  # the load generator's facts follow


# --- thresholds are recomputed from the observed values -------------------------------------


@pytest.mark.parametrize("shape", [EXPORT, HANDLE_SUMMARY])
def test_forged_passed_verdict_with_a_p95_of_99999_ms_is_an_error(shape: str) -> None:
    # The booleans say every threshold passed; the numbers say p95 is 99,999 ms against p(95)<200.
    document = export_doc(99_999.0, 0.0, {}) if shape == EXPORT else handle_doc(99_999.0, 0.0, {})
    result = judge(document, None)
    assert result.status is Status.ERROR
    assert result.summary == "k6's verdict and the recomputed one disagree; the summary cannot be trusted."
    assert "http_req_duration p(95)<200: observed 99999.0 ms, which crosses it, but k6 says it passed." \
        in result.reasons
    assert result.findings == ()


def test_forged_failed_verdict_on_good_numbers_is_an_error_too() -> None:
    result = judge(export_doc(10.0, 0.0, {"p95": True}), 99)
    assert result.status is Status.ERROR and "disagree" in result.summary
    assert any("which meets it, but k6 says it failed" in r for r in result.reasons)


def test_threshold_whose_aggregation_is_not_in_the_summary_is_an_error() -> None:
    document = export_doc(10.0, 0.0, {})
    document["metrics"]["http_req_duration"]["thresholds"]["p(99.9)<500"] = False
    result = judge(document)
    assert result.status is Status.ERROR
    assert result.summary.startswith("1 k6 threshold(s) cannot be recomputed")
    assert any("p(99.9)<500 cannot be recomputed: the summary holds no p(99.9)" in r for r in result.reasons)
    unproven = next(m for m in result.measurements if m.name == "http_req_duration p(99.9)<500")
    assert unproven.ok is None and unproven.value is None


def test_unrecomputable_threshold_beside_a_crossed_one_fails_and_says_both() -> None:
    document = export_doc(300.0, 0.0, {"p95": True})
    document["metrics"]["http_req_duration"]["thresholds"]["p(99.9)<500"] = False
    result = judge(document, 99)
    assert result.status is Status.FAIL  # a proven crossing is a definite no
    assert any("p(99.9)<500 cannot be recomputed" in r for r in result.reasons)


def test_threshold_k6_says_failed_stays_failed_when_it_cannot_be_recomputed() -> None:
    document = export_doc(10.0, 0.0, {})
    document["metrics"]["http_req_duration"]["thresholds"]["p(99.9)<500"] = True  # k6: FAILED
    result = judge(document, 99)
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings if f.failing] == ["threshold:http_req_duration:p(99.9)<500"]


@pytest.mark.parametrize(("metric", "body"), [
    ("http_req_duration{name:get_order}", {"avg": 0, "med": 0, "p(95)": 0, "max": 0, "count": 0,
                                            "thresholds": {"p(95)<200": False}}),
    ("http_req_failed{name:get_order}", {"passes": 0, "fails": 0, "value": 0,
                                          "thresholds": {"rate<0.001": False}}),
])
def test_threshold_on_a_sub_metric_without_samples_proves_nothing(metric: str, body: dict[str, Any]) -> None:
    # Real k6 1.1: a sub-metric nothing was tagged with shows zeros and "passes".
    document = export_doc(10.0, 0.0, {})
    document["metrics"][metric] = body
    result = judge(document)
    assert result.status is Status.ERROR
    assert any("recorded no sample" in r for r in result.reasons)


@pytest.mark.parametrize(("expression", "observed", "holds"), [
    ("p(95)<200", 199.99, True), ("p(95)<200", 200.0, False), ("p(95)<=200", 200.0, True),
    ("rate<0.001", 0.001, False), ("rate < 0.001", 0.000999, True), ("count>=10", 10.0, True),
    ("count>10", 10.0, False), ("avg==5", 5.0, True), ("avg===5", 5.0, True), ("avg!=5", 5.0, False),
    ("max<1e3", 999.0, True), ("med>-1", 0.0, True), ("p(99.9)<.5", 0.4, True),
])
def test_recompute_at_the_edges(expression: str, observed: float, holds: bool) -> None:
    expr = parse_expression(expression)
    assert expr is not None
    kind = {"rate": "rate", "count": "counter"}.get(expr.aggregation, "trend")
    values = {"rate": observed} if kind == "rate" else {expr.aggregation: observed}
    assert recompute(expression, kind, values, None) == Recomputed(holds, observed)


@pytest.mark.parametrize(("expression", "kind", "values", "why"), [
    ("p(95)<", "trend", {"p(95)": 1.0}, "cannot be read"),
    ("p(95)<Inf", "trend", {"p(95)": 1.0}, "cannot be read"),
    ("p(101)<5", "trend", {"p(101)": 1.0}, "cannot be read"),
    ("max<5", "gauge", {"max": 1.0}, "a gauge metric has no max"),
    ("p(95)<5", None, {"p(95)": 1.0}, "type cannot be told"),
    ("p(99)<5", "trend", {"p(95)": 1.0}, "holds no p(99)"),
])
def test_what_cannot_be_recomputed_says_why(expression: str, kind: str | None, values: dict[str, float],
                                            why: str) -> None:
    again = recompute(expression, kind, values, None)
    assert again.holds is None and why in again.why_not


def test_percentile_keys_match_by_value() -> None:
    assert recompute("p(95.0)<10", "trend", {"p(95)": 9.0}, 3).holds is True
    assert recompute("p(95)<10", "trend", {"p(95.0)": 11.0}, 3).holds is False


_AGGREGATIONS = st.sampled_from([("trend", "avg"), ("trend", "min"), ("trend", "med"), ("trend", "max"),
                                 ("trend", "p(95)"), ("trend", "p(99.9)"), ("rate", "rate"),
                                 ("counter", "count"), ("counter", "rate"), ("gauge", "value")])
_FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@settings(max_examples=300, deadline=None)
@given(kind_agg=_AGGREGATIONS, op=st.sampled_from(sorted(OPERATORS)), limit=_FINITE, value=_FINITE,
       spaces=st.booleans())
def test_recomputed_threshold_equals_a_direct_comparison(kind_agg: tuple[str, str], op: str, limit: float,
                                                         value: float, spaces: bool) -> None:
    kind, agg = kind_agg
    gap = " " if spaces else ""
    again = recompute(f"{agg}{gap}{op}{gap}{limit!r}", kind, {agg: value}, None)
    assert again.holds == OPERATORS[op](value, limit)
    assert again.observed == value


def test_the_gate_asks_k6_for_every_trend_statistic_its_thresholds_use() -> None:
    stats = trend_stats(["p(99.9)<300", "avg<100", "rate<0.01", "count>5", "p(95)<200", "bogus"],
                        ["avg", "p(95)"])
    assert stats == ["avg", "p(95)", "p(99.9)", "count"]


# --- every number of a summary is validated -----------------------------------------------


def _with(path: str, value: Any, shape: str = EXPORT) -> dict[str, Any]:
    """export_doc (or handle_doc) with one field replaced; ``path`` is dotted."""
    document = export_doc(10.0, 0.001, {}) if shape == EXPORT else handle_doc(10.0, 0.001, {})
    *parents, last = path.split(".")
    node: Any = document
    for key in parents:
        node = node[key]
    node[last] = value
    return document


@pytest.mark.parametrize(("document", "problem"), [
    (_with("metrics.http_req_failed.value", 1.5), "above the largest possible value 1"),
    (_with("metrics.http_req_failed.value", -0.1), "below the smallest possible value 0"),
    (_with("metrics.http_req_failed.values.rate", 2, HANDLE_SUMMARY), "above the largest possible value 1"),
    (_with("metrics.http_req_failed.passes", 1.5), "not a whole number"),
    (_with("metrics.http_req_failed.passes", True), "not a number"),
    (_with("metrics.http_req_failed.value", 0.5), "the summary contradicts itself"),
    (_with("metrics.http_req_duration.p(95)", -1), "below the smallest possible value 0"),
    (_with("metrics.http_req_duration.p(95)", float("inf")), "not a finite number"),
    (_with("metrics.http_req_duration.p(95)", 10**6), "below p(95)"),
    (_with("metrics.http_req_duration.values.p(95)", True, HANDLE_SUMMARY), "not a number"),
    (_with("metrics.http_req_duration.type", "histogram", HANDLE_SUMMARY), "not one of counter"),
    (_with("metrics.http_reqs.count", -1), "below the smallest possible value 0"),
    (_with("metrics.http_reqs.rate", float("nan")), "not a finite number"),
    (_with("root_group.checks.ok.passes", "10"), "not a number"),
    (_with("root_group.checks.ok.fails", -2), "below the smallest possible value 0"),
    (_with("root_group.checks", 5), "neither an object nor a list"),
    (_with("root_group.groups", [7]), "is not an object"),
    (_with("state.testRunDurationMs", -5, HANDLE_SUMMARY), "below the smallest possible value 0"),
    (_with("metrics.http_req_duration.thresholds", ["p(95)<200"]), "is not an object"),
])
def test_hostile_numbers_are_parse_errors_naming_the_place(document: Any, problem: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_summary(document, "k6-summary.json")
    assert problem in str(err.value) and "k6-summary.json: " in str(err.value)


def test_a_custom_counter_or_trend_may_be_negative() -> None:
    # k6 1.1 accepts Counter.add(-5) and Trend.add(-2); only its own metrics are never negative.
    document = export_doc(10.0, 0.0, {})
    document["metrics"]["balance"] = {"count": -15, "rate": -3.5, "thresholds": {"count<0": False}}
    document["metrics"]["drift"] = {"avg": -2.5, "min": -4, "max": -1, "p(95)": -1.1}
    summary = parse_summary(document)
    assert next(t for t in summary.thresholds if t.metric == "balance").recomputed is True


def _mutations() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=6),
                       st.floats(allow_nan=True, allow_infinity=True))
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                        max_leaves=8)




@fuzz(300)
@given(shape=st.sampled_from([EXPORT, HANDLE_SUMMARY]), data=st.data())
def test_mutated_summaries_give_a_summary_or_a_parse_error(shape: str, data: st.DataObject) -> None:
    document = export_doc(12.5, 0.002, {"rate": True}) if shape == EXPORT else handle_doc(12.5, 0.002, {})
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(paths(document)))
        replacement = data.draw(_mutations())
        if not target:
            document = replacement
            continue
        node = document
        for key in target[:-1]:
            node = node[key]
        node[target[-1]] = replacement
    try:
        summary = parse_summary(document)
    except ParseError:
        return
    for threshold in summary.thresholds:
        assert threshold.recomputed in (None, True, False)
        if threshold.recomputed is not None:
            assert threshold.observed is not None


@fuzz(200)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_reader(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "k6-summary.json"
        path.write_text(text, encoding="utf-8")
        with contextlib.suppress(ParseError):
            read_summary(path)


def test_empty_http_sub_metric_is_seen_without_count_through_its_failed_sibling() -> None:
    # An ingested summary written with k6's default trend stats (no `count`): the endpoint's
    # http_req_failed sub-metric says no request carried the tag.
    document = export_doc(10.0, 0.0, {})
    document["metrics"]["http_req_duration{name:get_order}"] = {
        "avg": 0, "med": 0, "p(95)": 0, "max": 0, "thresholds": {"p(95)<200": False}}
    document["metrics"]["http_req_failed{name:get_order}"] = {"passes": 0, "fails": 0, "value": 0}
    duration = next(t for t in parse_summary(document).thresholds if t.metric.startswith("http_req_duration{"))
    assert duration.recomputed is None and "recorded no sample" in duration.why_not
    document["metrics"]["http_req_failed{name:get_order}"].update(fails=7)
    duration = next(t for t in parse_summary(document).thresholds if t.metric.startswith("http_req_duration{"))
    assert duration.recomputed is True
