"""Plan changes judged against a baseline: regressions (and only they) fail, at the tolerance's edge too."""

from __future__ import annotations

import pytest

from pipeline.checks.explain.change import judge_change

INDEXED = ["Index Scan using items_category_idx on items"]
SCAN = ["Seq Scan on items"]


@pytest.mark.parametrize(("after_cost", "regressed"), [(125.0, False), (125.5, True), (80.0, False)])
def test_a_cost_beyond_the_tolerance_is_a_regression(after_cost: float, regressed: bool) -> None:
    regressions, _ = judge_change(INDEXED, {"cost": 100.0}, INDEXED, {"cost": after_cost}, set(), 0.25)
    assert bool(regressions) is regressed


def test_buffers_and_a_new_spill_are_regressions_an_unknown_number_is_not_compared() -> None:
    regressions, _ = judge_change(INDEXED, {"buffers": 10, "spills": 0}, INDEXED, {"buffers": 30, "spills": 1},
                                  set(), 0.25)
    assert regressions == ["buffers 30 is over the baseline's 10 by more than 25%", "a new spill to disk"]
    assert judge_change(INDEXED, {}, INDEXED, {"cost": 1e9, "buffers": 1e9, "spills": 3}, set(), 0.25)[0] == []


def test_a_new_big_seq_scan_and_a_lost_index_fail_the_reverse_is_an_improvement() -> None:
    regressions, _ = judge_change(INDEXED, {}, SCAN, {}, {"items"}, 0.25)
    assert regressions == ["a new sequential scan of items over the row limit",
                           "index items_category_idx is no longer used"]
    regressions, changes = judge_change(SCAN, {}, INDEXED, {}, set(), 0.25)
    assert regressions == [] and changes == ["index items_category_idx is now used",
                                             "the sequential scan of items is gone"]


def test_a_small_seq_scan_that_replaces_nothing_is_a_neutral_change() -> None:
    regressions, changes = judge_change(["Result"], {}, SCAN, {}, set(), 0.25)
    assert regressions == [] and changes == ["the plan's shape changed"]
    assert judge_change(SCAN, {"cost": 5}, SCAN, {"cost": 5}, set(), 0.25) == ([], [])
