"""The verdict: table-driven and property-based; merging result folders; unreadable files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.model import MANDATORY_CHECKS, Status, Verdict
from pipeline.runner import write_result
from pipeline.verdict import decide, load_results, validate_verdict
from tests.conftest import result

ALL_PASS = {name: Status.PASS for name in MANDATORY_CHECKS}


def verdict_of(statuses: dict[str, Status]) -> Verdict:
    return decide([result(n, s) for n, s in statuses.items()]).verdict


@pytest.mark.parametrize(("change", "expected"), [
    ({}, Verdict.READY),
    ({"zap": Status.WAIVED}, Verdict.READY),
    ({"k6": Status.FAIL}, Verdict.NOT_READY),
    ({"k6": Status.FAIL, "zap": Status.ERROR}, Verdict.NOT_READY),
    ({"explain": Status.ERROR}, Verdict.INCOMPLETE),
    ({"audit": Status.SKIPPED}, Verdict.INCOMPLETE),
])
def test_verdict_table(change: dict[str, Status], expected: Verdict) -> None:
    assert verdict_of({**ALL_PASS, **change}) is expected


def test_missing_check_makes_it_incomplete() -> None:
    statuses = dict(ALL_PASS)
    del statuses["dashboards"]
    report = decide([result(n, s) for n, s in statuses.items()])
    assert report.verdict is Verdict.INCOMPLETE
    assert report.missing == ("dashboards",)
    assert "dashboards has no result: the check did not run." in report.reasons


def test_no_results_at_all_is_incomplete() -> None:
    assert decide([]).verdict is Verdict.INCOMPLETE


@given(st.dictionaries(st.sampled_from(MANDATORY_CHECKS), st.sampled_from(list(Status))))
def test_verdict_properties(statuses: dict[str, Status]) -> None:
    verdict = verdict_of(statuses)
    values = set(statuses.values())
    if Status.FAIL in values:
        assert verdict is Verdict.NOT_READY
    elif len(statuses) == len(MANDATORY_CHECKS) and values <= {Status.PASS, Status.WAIVED}:
        assert verdict is Verdict.READY
    else:
        assert verdict is Verdict.INCOMPLETE
    # The one promise: nothing that did not really run can ever be ready.
    if verdict is Verdict.READY:
        assert values <= {Status.PASS, Status.WAIVED}


def test_merge_keeps_the_later_result_and_says_so(tmp_path: Path) -> None:
    early = dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC)
    late = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    write_result(result("k6", Status.FAIL, finished=late), tmp_path / "a")
    write_result(result("k6", Status.PASS, finished=early), tmp_path / "b")
    write_result(result("zap", Status.PASS), tmp_path / "b")
    results, merges = load_results([tmp_path / "a/results", tmp_path / "b/results"])
    assert {r.check: r.status for r in results} == {"k6": Status.FAIL, "zap": Status.PASS}
    assert len(merges) == 1 and merges[0].kept.startswith(str(tmp_path / "a"))
    report = decide(results, merges)
    assert any("found in 2 result folders" in r for r in report.reasons)


@pytest.mark.parametrize("content", [
    "", "{not json", '{"schema": "other/1"}', '{"schema": "readiness.result/1", "check": "k6"}',
    json.dumps({"schema": "readiness.result/1", "check": "k6", "status": "great"}),
])
def test_unreadable_result_file_counts_as_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "k6.json").write_text(content)
    results, _ = load_results([tmp_path])
    assert [(r.check, r.status) for r in results] == [("k6", Status.ERROR)]
    assert "cannot be read" in results[0].summary


def test_verdict_document_matches_its_schema() -> None:
    report = decide([result(n, s) for n, s in ALL_PASS.items()])
    data = json.loads(json.dumps(report.to_dict(), default=str))
    validate_verdict(data)
    assert data["verdict"] == "ready" and data["exit_code"] == 0
