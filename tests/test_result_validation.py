"""Result validation: the fast first opinion (jsonschema-rs) never accepts what jsonschema refuses.

``validate_result`` asks jsonschema-rs first and jsonschema only when it says no, so a file is
refused exactly when jsonschema refuses it as long as jsonschema-rs never accepts a document
jsonschema refuses. Hypothesis mutates complete, valid results (every view kind, waivers,
ingested copies, a not-applicable record) and compares the two on each mutant.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.model import (
    CheckResult,
    Finding,
    Ingested,
    Instance,
    Measurement,
    NotApplicable,
    Status,
    ToolInfo,
    Waiver,
)
from pipeline.results import _fast_validator, _validator, validate_result
from pipeline.views import Bar, Bars, Facts, Figure, Plan, PlanNode, Table

FINISHED = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
WAIVER = Waiver("zap", "10038", "accepted", "ops", dt.date(2026, 12, 31), "https://x/.*")


def _full() -> dict[str, Any]:
    finding = Finding("10038", "medium", "CSP header not set", "https://x/", failing=True, waived_by="10038",
                      details={"rule_id": "10038", "nested": {"a": [1, 2.5, None]}}, aliases=("CWE-693",),
                      urls=("https://x/",), message="m", remediation="r", references=("https://ref",),
                      fixed=("1.2",), tags=("CWE-693",), instances=(Instance("https://x/", "GET", "p", "e"),),
                      file="requirements.txt", line=3, measurement="p95")
    plan = Plan("q", (("id", "1"),), "", 3.0, 5.0, ("seq scan",),
                (PlanNode(0, "Seq Scan", 1.0, 1.0, 2.0, 0.5, True),), ("Seq Scan",), None)
    views = (Bars("coverage", "%", (Bar("pkg", 81.5, 80.0, True, "81.5%", (70.0, 90.0)),), "minimum"), plan,
             Facts("facts", (("role", "app"),)), Table("matrix", ("op", "ok"), (("GET /", "yes"),), (True,)),
             Figure("erd", "evidence/erd.svg", "the tables"))
    result = CheckResult(
        "zap", Status.WAIVED, "1 alert waived", ("why",), (Measurement("p95", 120.5, "ms", "<= 200", True),),
        (finding,), ("evidence/zap.log",), ToolInfo("zap", "2.16", "ingest", ("zap.sh", "-x"), 0),
        FINISHED - dt.timedelta(seconds=3), FINISHED, (WAIVER,), (WAIVER,), {"free": {"form": True}},
        (Ingested("/abs/zap.json", "evidence/ingested/zap.json", "0" * 64),), views)
    return result.to_dict()


def _not_applicable() -> dict[str, Any]:
    record = NotApplicable("no database", "ops", dt.date(2027, 1, 31))
    return CheckResult("explain", Status.NOT_APPLICABLE, "not applicable", started_at=FINISHED,
                       finished_at=FINISHED, not_applicable=record).to_dict()


BASES = (_full(), _not_applicable())
# Strings near what the schema's patterns and formats decide: dates, timestamps, hex digests, names.
EDGES = (
    "", " ", "zap", "ZAP", "k6\n", "a-b", "\ud800", "\x00", "é", "evidence/erd.svg", "evidence/../x.svg",
    "evidence/erd.svg\n", "0" * 64, "0" * 63, "A" * 64, "readiness.result/1", "readiness.result/2", "pass", "fail",
    "bars", "plan", "facts", "table", "figure", "2026-11-30", "2026-02-29", "2024-02-29", "2026-13-01",
    "2026-11-31", "20261130", "2026-11-30\n", "２０２６-11-30", "2026-11-30T12:00:00Z", "2026-11-30T12:00:00+00:00",
    "2026-11-30T12:00:00.123456-05:30", "2026-11-30T12:00:00.1234567Z", "2026-11-30T24:00:00Z",
    "2026-11-30T23:59:60Z", "2026-12-31T23:59:60Z", "2026-11-30T12:60:00Z", "2026-11-30T12:00:00+24:00",
    "2026-11-30T12:00:00+23:60", "2026-11-30T12:00:00", "2026-11-30 12:00:00Z", "2026-11-30t12:00:00z",
    "2026-02-30T12:00:00Z", "2026-11-30T12:00:00Z\n", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0, 1, -1, 0.0, 1.0, 0.5, -0.5]),
    st.sampled_from(EDGES), st.text(max_size=12),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(("kind", "title", "id", "x", "")), inner, max_size=3),
                      max_leaves=6)
KEYS = st.sampled_from(("kind", "title", "id", "value", "ok", "url", "line", "trusted", "rows", "details", "x"))


def _like(value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, str):
        return st.sampled_from(EDGES) | st.text(max_size=12)
    if isinstance(value, bool) or value is None:
        return st.sampled_from((None, True, False))
    if isinstance(value, int | float):
        return st.sampled_from((0, 1, -1, 0.0, 1.0, -0.5, 10**30, -(10**30))) | st.floats(-10, 10)
    return VALUES


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``node`` (dict keys and list indices), the root included."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*path, index))
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


@st.composite
def mutants(draw: st.DrawFn) -> dict[str, Any]:
    """A valid base result with one to three changes: a value replaced, a key dropped or added, an item more."""
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_places(doc)))
        if not path:
            continue
        parent, last = _at(doc, path[:-1]), path[-1]
        action = draw(st.sampled_from(("nudge", "nudge", "replace", "drop", "add", "grow")))
        if action == "nudge":  # the same type, a value near what a pattern, a format or a bound decides
            parent[last] = draw(_like(parent[last]))
        elif action == "replace":
            parent[last] = draw(VALUES)
        elif action == "drop":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(VALUES)
        elif action == "grow" and isinstance(parent[last], list):
            parent[last].append(draw(VALUES) if draw(st.booleans()) else copy.deepcopy(parent[last][0])
                                if parent[last] else draw(VALUES))
    return doc


def _fast_says(doc: Any) -> bool:
    try:
        return bool(_fast_validator().is_valid(doc))
    except Exception:  # what validate_result does with an exception: jsonschema decides
        return False


def _error(doc: Any) -> tuple[str, list[Any]] | None:
    try:
        validate_result(doc)
    except jsonschema.ValidationError as exc:
        return exc.message, list(exc.absolute_path)
    return None


def _jsonschema_error(doc: Any) -> tuple[str, list[Any]] | None:
    try:
        _validator().validate(doc)
    except jsonschema.ValidationError as exc:
        return exc.message, list(exc.absolute_path)
    return None


def test_the_bases_are_valid_for_both() -> None:
    for base in BASES:
        assert _fast_says(base) and _validator().is_valid(base)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_the_fast_path_refuses_whatever_jsonschema_refuses(doc: dict[str, Any]) -> None:
    fast, slow = _fast_says(doc), _validator().is_valid(doc)
    event(f"jsonschema {'accepts' if slow else 'refuses'}, jsonschema-rs {'accepts' if fast else 'refuses'}")
    assert slow or not fast, "jsonschema-rs accepted a result jsonschema refuses"
    assert _error(doc) == _jsonschema_error(doc)  # the same refusals, with the same words


@pytest.mark.parametrize(("change", "jsonschema_accepts"), [
    # Python's re lets "$" match before a final newline; jsonschema-rs's regex does not: jsonschema decides.
    (lambda d: d.update(check="zap\n"), True),
    # A lone surrogate cannot reach jsonschema-rs (it encodes UTF-8): jsonschema decides.
    (lambda d: d.update(summary="\ud800"), True),
    (lambda d: d["tool"].update(exit_code=10**40), True),
    (lambda d: d.update(duration_s=-(10**40)), False),
    (lambda d: d.update(finished_at="2026-02-30T12:00:00Z"), False),
    (lambda d: d.update(finished_at="2026-11-30T23:59:60Z"), False),
    (lambda d: d["findings"][0].update(line=True), False),
    (lambda d: d["findings"][0].update(line=1.0), True),
    (lambda d: d["details"].update(deep=_nested(900)), True),
])
def test_where_the_two_differ_jsonschema_decides(change: Any, jsonschema_accepts: bool) -> None:
    doc = copy.deepcopy(BASES[0])
    change(doc)
    assert _validator().is_valid(doc) is jsonschema_accepts
    assert _error(doc) == _jsonschema_error(doc)
    assert (_error(doc) is None) is jsonschema_accepts


def _nested(depth: int) -> Any:
    node: Any = {}
    for _ in range(depth):
        node = {"x": node}
    return node
