"""The effective policy and how it changed: direction per setting, approvals, waivers (pure parts)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.policy import effective_policy
from pipeline.policy_diff import Approval, Change, approve, compare, diff
from tests.conftest import config_from
from tests.fuzzing import budget

BASE = """\
version: 1
checks:
  coverage: {min_line_rate: 0.90, sources: [src]}
  k6: {thresholds: {http_req_duration: ["p(95)<200"]}, endpoints: [a, b]}
  explain:
    defaults: {max_ms: 50}
    queries: [{name: q1, sql_file: q.sql}, {name: q2, sql_file: q.sql, max_ms: 20}]
  dashboards: {require_alerts: [Down, Slow]}
  zap: {fail_at: medium}
profiles:
  release:
    checks: {coverage: {min_line_rate: 0.95}}
"""


def policy(tmp_path: Path, body: str = BASE, profile_release: bool = False) -> dict[str, Any]:
    text = body if not profile_release else body + "profile: release\n"
    return effective_policy(config_from(tmp_path, text))


def changes_between(tmp_path: Path, old: str, new: str) -> dict[str, Change]:
    before = policy(tmp_path / "old", old)
    after = policy(tmp_path / "new", new)
    return {c.key: c for c in diff(before, after)}


def test_the_policy_records_every_rule_with_its_direction_and_source(tmp_path: Path) -> None:
    rules = policy(tmp_path)["rules"]
    assert rules["coverage.min_line_rate"]["value"] == 0.90
    assert rules["coverage.min_line_rate"]["stricter"] == "higher"
    assert rules["coverage.min_line_rate"]["source"].endswith("readiness.yaml: checks.coverage.min_line_rate")
    assert rules["coverage.min_branch_rate"] == {"value": None, "stricter": "higher", "source": "default"}
    assert rules["zap.fail_at"]["scale"] == ["informational", "low", "medium", "high"]
    # A query's unset rule is the defaults' rule, and says so.
    assert rules["explain.queries[q1].max_ms"]["value"] == 50
    assert rules["explain.queries[q1].max_ms"]["inherits"] == "explain.defaults.max_ms"
    assert rules["explain.queries[q2].max_ms"]["value"] == 20
    assert rules["k6.thresholds.http_req_duration"]["value"] == ["p(95)<200"]
    assert rules["audit.enabled"]["value"] is True


def test_a_profile_override_is_recorded_with_the_profile_as_its_source(tmp_path: Path) -> None:
    rules = policy(tmp_path, profile_release=True)["rules"]
    assert rules["coverage.min_line_rate"]["value"] == 0.95
    assert "profiles.release.checks.coverage.min_line_rate" in rules["coverage.min_line_rate"]["source"]


@pytest.mark.parametrize(("old", "new", "key", "kind"), [
    ("min_line_rate: 0.90", "min_line_rate: 0.50", "coverage.min_line_rate", "loosened"),
    ("min_line_rate: 0.90", "min_line_rate: 0.95", "coverage.min_line_rate", "tightened"),
    ("fail_at: medium", "fail_at: high", "zap.fail_at", "loosened"),
    ("fail_at: medium", "fail_at: low", "zap.fail_at", "tightened"),
    ("endpoints: [a, b]", "endpoints: [a]", "k6.endpoints", "loosened"),
    ("endpoints: [a, b]", "endpoints: [a, b, c]", "k6.endpoints", "tightened"),
    ('"p(95)<200"', '"p(95)<300"', "k6.thresholds.http_req_duration", "loosened"),
    ('"p(95)<200"', '"p(95)<150"', "k6.thresholds.http_req_duration", "tightened"),
    ('"p(95)<200"', '"p(99)<200"', "k6.thresholds.http_req_duration", "loosened"),
    ("require_alerts: [Down, Slow]", "require_alerts: [Down]", "dashboards.require_alerts", "loosened"),
    ("defaults: {max_ms: 50}", "defaults: {max_ms: 80}", "explain.queries[q1].max_ms", "loosened"),
    ("sources: [src]", "sources: [src], omit: [src/x.py]", "coverage.omit", "loosened"),
])
def test_each_change_is_judged_in_the_direction_its_setting_declares(
        tmp_path: Path, old: str, new: str, key: str, kind: str) -> None:
    assert old in BASE
    changes = changes_between(tmp_path, BASE, BASE.replace(old, new))
    assert changes[key].kind == kind
    assert changes[key].loosening is (kind == "loosened")


def test_a_disabled_check_and_a_removed_query_are_loosenings(tmp_path: Path) -> None:
    new = BASE.replace("zap: {fail_at: medium}", "zap: {fail_at: medium, enabled: false}")
    new = new.replace(", {name: q2, sql_file: q.sql, max_ms: 20}", "")
    changes = changes_between(tmp_path, BASE, new)
    assert changes["zap.enabled"].kind == "loosened"
    assert changes["explain.queries"].kind == "loosened"
    assert changes["explain.queries[q2].max_ms"].kind == "loosened"  # the rule is gone with its query


def test_a_new_waiver_is_listed_and_needs_no_approval(tmp_path: Path) -> None:
    waiver = "waivers: [{check: audit, id: PYSEC-1, reason: vendor fix due, owner: sec, expires: 2099-01-01}]\n"
    changes = changes_between(tmp_path, BASE, BASE + waiver)
    assert changes["waiver audit:PYSEC-1"].kind == "waiver added"
    assert not changes["waiver audit:PYSEC-1"].loosening


def test_only_an_unexpired_approval_of_the_same_setting_approves_a_loosening() -> None:
    loosened = Change("coverage.min_line_rate", "loosened", 0.9, 0.5)
    day = dt.date(2026, 6, 1)
    valid = Approval("coverage.min_line_rate", "Rita", "legacy module", dt.date(2026, 6, 1))
    expired = Approval("coverage.min_line_rate", "Rita", "legacy module", dt.date(2026, 5, 31))
    other = Approval("coverage.min_branch_rate", "Rita", "legacy module", dt.date(2099, 1, 1))
    assert approve([loosened], [valid], day)[0].approved_by == valid
    judged = approve([loosened], [expired, other], day)[0]
    assert judged.unapproved and judged.expired_approval == expired
    assert "expired on 2026-05-31" in judged.sentence()
    section = Approval("explain.queries", "Rita", "q2 is gone with its endpoint", dt.date(2099, 1, 1))
    gone = [Change("explain.queries", "loosened", ["q1", "q2"], ["q1"]),
            Change("explain.queries[q2].max_ms", "loosened", 20, None),
            Change("explain.queries_extra", "loosened", 1, None)]
    assert [c.unapproved for c in approve(gone, [section], day)] == [False, False, True]
    tightened = Change("coverage.min_line_rate", "tightened", 0.9, 0.95)
    assert not approve([tightened], [], day)[0].unapproved


@settings(max_examples=budget(60), deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_a_higher_is_stricter_number_is_loosened_exactly_when_it_drops(old: float, new: float) -> None:
    if old == new:
        return
    kind, _ = compare({"stricter": "higher"}, old, new)
    assert (kind == "loosened") is (new < old)


@settings(max_examples=budget(60), deadline=None)
@given(st.sets(st.sampled_from("abcdef")), st.sets(st.sampled_from("abcdef")))
def test_a_required_list_is_loosened_exactly_when_an_item_is_removed(old: set[str], new: set[str]) -> None:
    if old == new:
        return
    kind, _ = compare({"stricter": "more"}, sorted(old), sorted(new))
    assert (kind == "loosened") is bool(old - new)


@pytest.mark.parametrize(("rule", "old", "new"), [
    ({"stricter": "higher"}, 0.9, None),  # turned off
    ({"stricter": "lower", "scale": ["low", "high"]}, "low", "bogus"),  # cannot be ordered
    ({"stricter": "sideways"}, 1, 2),  # an unknown direction
    ({"stricter": "higher"}, 0.9, "0.95"),  # text where a number was
])
def test_what_cannot_be_ordered_or_turns_a_rule_off_counts_as_loosened(rule: dict[str, Any], old: Any,
                                                                       new: Any) -> None:
    assert compare(rule, old, new)[0] == "loosened"
