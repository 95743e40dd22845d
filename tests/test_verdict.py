"""The verdict: table-driven and property-based; merging result folders; unreadable files."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.model import CheckResult, Finding, Measurement, Status, Verdict, Waiver
from pipeline.results import gather, inconsistency, load_results, read_result
from pipeline.runner import write_result
from pipeline.verdict import decide, validate_verdict
from tests.conftest import MANDATORY, result

ALL_PASS = {name: Status.PASS for name in MANDATORY}


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


@given(st.dictionaries(st.sampled_from(MANDATORY), st.sampled_from(list(Status))))
def test_verdict_properties(statuses: dict[str, Status]) -> None:
    verdict = verdict_of(statuses)
    values = set(statuses.values())
    if Status.FAIL in values:
        assert verdict is Verdict.NOT_READY
    elif len(statuses) == len(MANDATORY) and values <= {Status.PASS, Status.WAIVED}:
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


# --- The verdict trusts nothing it can recompute -------------------------------------------

FINISHED = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def waiver(id_: str, check: str = "audit", expires: dt.date = dt.date(2026, 11, 27)) -> Waiver:
    return Waiver(check, id_, "accepted", "ann", expires)


def audit_result(status: Status, findings: tuple[Finding, ...] = (),
                 measurements: tuple[Measurement, ...] = (), applied: tuple[Waiver, ...] = ()) -> CheckResult:
    return CheckResult("audit", status, "s", measurements=measurements, findings=findings,
                       started_at=FINISHED - dt.timedelta(seconds=5), finished_at=FINISHED,
                       waivers_applied=applied)


FAILING_A = Finding("A", "high", "a", aliases=("CVE-A",))
PASSING_B = Finding("B", "low", "b", failing=False)
NOT_OK = Measurement("p95", 300, "ms", "< 200", False)
OK = Measurement("p95", 100, "ms", "< 200", True)


@pytest.mark.parametrize(("status", "findings", "measurements", "applied", "broken"), [
    (Status.PASS, (), (OK,), (), None),
    (Status.PASS, (PASSING_B,), (), (), None),
    (Status.PASS, (FAILING_A,), (), (), "failing finding(s) are not waived: A"),
    (Status.PASS, (), (NOT_OK,), (), "measurement(s) p95 say ok: false"),
    (Status.PASS, (FAILING_A,), (), (waiver("A"),), None),  # waived findings under pass: not a false yes
    (Status.WAIVED, (FAILING_A,), (NOT_OK,), (waiver("A"),), None),
    (Status.WAIVED, (FAILING_A,), (), (waiver("CVE-A"),), None),  # an alias
    (Status.WAIVED, (FAILING_A,), (), (waiver("A", expires=dt.date(2026, 11, 27)),), None),  # expiry day
    (Status.WAIVED, (FAILING_A,), (), (waiver("A", expires=dt.date(2026, 11, 26)),), "not covered"),
    (Status.WAIVED, (FAILING_A,), (), (waiver("A", check="zap"),), "not covered"),
    (Status.WAIVED, (FAILING_A,), (), (waiver("X"),), "not covered"),
    (Status.WAIVED, (FAILING_A,), (), (), "not covered"),
    (Status.WAIVED, (PASSING_B,), (), (waiver("B"),), "nothing to waive"),
    (Status.WAIVED, (), (NOT_OK,), (), "nothing to waive"),
    (Status.FAIL, (), (OK,), (), "no finding fails and every measurement is ok"),
    (Status.FAIL, (PASSING_B,), (), (), "no finding fails"),
    (Status.FAIL, (), (NOT_OK,), (), None),
    (Status.FAIL, (FAILING_A,), (), (waiver("A"),), None),  # a fail never makes anything ready
    (Status.ERROR, (FAILING_A,), (NOT_OK,), (), None),
    (Status.SKIPPED, (), (), (), None),
])
def test_status_is_recomputed(status: Status, findings: tuple[Finding, ...],
                              measurements: tuple[Measurement, ...], applied: tuple[Waiver, ...],
                              broken: str | None) -> None:
    rule = inconsistency(audit_result(status, findings, measurements, applied))
    if broken is None:
        assert rule is None
    else:
        assert rule is not None and broken in rule


def test_a_waiver_narrowed_to_urls_covers_only_those() -> None:
    alert = Finding("10038", "medium", "CSP", "http://a/x", urls=("http://a/x", "http://b/y"))
    narrow = Waiver("zap", "10038", "r", "o", dt.date(2030, 1, 1), url=r"^http://a/")
    broken = CheckResult("zap", Status.WAIVED, "s", findings=(alert,), waivers_applied=(narrow,),
                         started_at=FINISHED, finished_at=FINISHED)
    uncovered = "status waived, but failing finding(s) 10038 are not covered"
    assert (inconsistency(broken) or "").startswith(uncovered)
    wide = replace(narrow, url=r"^http://(a|b)/")
    assert inconsistency(replace(broken, waivers_applied=(wide,))) is None
    garbage = replace(narrow, url="([")  # a forged file may carry a broken pattern
    assert (inconsistency(replace(broken, waivers_applied=(garbage,))) or "").startswith(uncovered)


ids = st.sampled_from(["A", "B", "C"])
findings_st = st.builds(
    Finding, id=ids, severity=st.just("high"), title=st.just("t"), failing=st.booleans(),
    waived_by=st.none() | ids, aliases=st.lists(ids, max_size=2).map(tuple))
measurements_st = st.builds(Measurement, name=st.sampled_from(["m1", "m2"]), value=st.integers(0, 9),
                            ok=st.none() | st.booleans())
waivers_st = st.builds(Waiver, check=st.sampled_from(["audit", "zap"]), id=ids, reason=st.just("r"),
                       owner=st.just("o"),
                       expires=st.dates(dt.date(2026, 11, 25), dt.date(2026, 11, 29)))


def oracle_covered(finding: Finding, applied: list[Waiver]) -> bool:
    """Written apart from the gate's code: the rule as the README states it."""
    names = {finding.id, *finding.aliases}
    return any(w.check == "audit" and w.id in names and w.expires >= FINISHED.date() for w in applied)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Status)), st.lists(findings_st, max_size=4),
       st.lists(measurements_st, max_size=3, unique_by=lambda m: m.name), st.lists(waivers_st, max_size=3))
def test_a_forged_pass_or_waived_is_never_accepted(tmp_path_factory: pytest.TempPathFactory, status: Status,
                                                   findings: list[Finding], measurements: list[Measurement],
                                                   applied: list[Waiver]) -> None:
    folder = tmp_path_factory.mktemp("forged")
    forged = audit_result(status, tuple(findings), tuple(measurements), tuple(applied))
    write_result(forged, folder)
    read = read_result(folder / "results" / "audit.json", now=FINISHED)
    failing = [f for f in findings if f.failing]
    uncovered = [f for f in failing if not oracle_covered(f, applied)]
    if read.status is Status.PASS:
        assert not uncovered and all(m.ok is not False for m in measurements)
    if read.status is Status.WAIVED:
        assert failing and not uncovered
    if read.status is Status.FAIL:
        assert failing or any(m.ok is False for m in measurements)
    # Whatever the file says, a verdict over it is ready only if the rule allows it.
    others = [result(n, Status.PASS) for n in MANDATORY if n != "audit"]
    if decide([*others, read]).verdict is Verdict.READY:
        assert not uncovered and (status is Status.WAIVED or all(m.ok is not False for m in measurements))


# --- One result per check: file names, several folders, the clock ----------------------------

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def put(folder: Path, check: str, status: Status, finished: dt.datetime) -> str:
    write_result(result(check, status, finished=finished), folder)
    return str(folder / "results" / f"{check}.json")


def test_a_result_is_accepted_only_from_the_file_named_after_its_check(tmp_path: Path) -> None:
    write_result(result("zap", Status.PASS), tmp_path)
    (tmp_path / "results" / "zap.json").rename(tmp_path / "results" / "k6.json")
    loaded = gather([tmp_path / "results"], NOW)
    assert [(r.check, r.status) for r in loaded.results] == [("k6", Status.ERROR)]
    assert "holds a result for 'zap'" in loaded.results[0].reasons[0]
    assert loaded.results[0].measurements == ()  # nothing of zap's file is shown as k6's


def test_a_file_named_after_no_check_is_ignored_with_a_warning(tmp_path: Path) -> None:
    write_result(result("zap", Status.PASS), tmp_path)
    (tmp_path / "results" / "zap.json").rename(tmp_path / "results" / "notes.json")
    loaded = gather([tmp_path / "results"], NOW)
    assert loaded.results == ()
    assert "'notes' is not a check of this gate" in loaded.warnings[0]
    report = decide(loaded.results, warnings=loaded.warnings)
    assert any(r.startswith("Warning:") and "notes.json" in r for r in report.reasons)


def test_the_latest_plausible_result_wins(tmp_path: Path) -> None:
    old = put(tmp_path / "a", "k6", Status.FAIL, NOW - dt.timedelta(hours=2))
    new = put(tmp_path / "b", "k6", Status.PASS, NOW - dt.timedelta(hours=1))
    loaded = gather([tmp_path / "a/results", tmp_path / "b/results"], NOW)
    assert loaded.results[0].status is Status.PASS
    assert loaded.merges[0].kept == new and loaded.merges[0].dropped == (old,)
    assert "before" in loaded.merges[0].why[0] and loaded.warnings == ()


@pytest.mark.parametrize(("ahead", "future"), [(dt.timedelta(minutes=5), False),
                                               (dt.timedelta(minutes=5, seconds=1), True)])
def test_a_result_from_the_future_is_a_warning_not_a_trump(tmp_path: Path, ahead: dt.timedelta,
                                                           future: bool) -> None:
    plausible = put(tmp_path / "a", "k6", Status.FAIL, NOW - dt.timedelta(days=1))
    ahead_path = put(tmp_path / "b", "k6", Status.PASS, NOW + ahead)
    loaded = gather([tmp_path / "a/results", tmp_path / "b/results"], NOW)
    assert loaded.merges[0].kept == (plausible if future else ahead_path)
    assert bool(loaded.warnings) is future
    if future:
        assert "after this verdict's clock" in loaded.warnings[0]
        assert "in the future" in loaded.merges[0].why[0]


def test_a_lone_result_from_the_future_counts_but_is_reported(tmp_path: Path) -> None:
    put(tmp_path, "k6", Status.PASS, NOW + dt.timedelta(days=3))
    loaded = gather([tmp_path / "results"], NOW)
    assert loaded.results[0].status is Status.PASS and len(loaded.warnings) == 1


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_equal_times_the_worse_status_wins(tmp_path: Path, order: str) -> None:
    statuses = {"a": Status.PASS, "b": Status.FAIL}
    for name in order:
        put(tmp_path / name, "k6", statuses[name], NOW)
    loaded = gather([tmp_path / f"{n}/results" for n in order], NOW)
    assert loaded.results[0].status is Status.FAIL
    assert "whose status (fail) is worse" in loaded.merges[0].why[0]


def test_an_unreadable_duplicate_wins_because_nothing_proves_it_older(tmp_path: Path) -> None:
    put(tmp_path / "a", "k6", Status.PASS, NOW)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "k6.json").write_text("{truncated")
    loaded = gather([tmp_path / "a/results", tmp_path / "b"], NOW)
    assert loaded.results[0].status is Status.ERROR
    assert "cannot be read" in loaded.merges[0].why[0]


def test_decide_is_pure(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import subprocess

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("decide() must not look at the host")

    monkeypatch.setattr(socket, "gethostname", forbidden)
    monkeypatch.setattr(subprocess, "run", forbidden)
    results = [result(n, Status.PASS) for n in MANDATORY]
    first = decide(results, generated_at=NOW, environment={"host": "ci-7"})
    assert first == decide(results, generated_at=NOW, environment={"host": "ci-7"})
    assert first.environment["host"] == "ci-7" and first.generated_at == NOW.isoformat()


def test_an_interrupted_run_is_never_ready() -> None:
    report = decide([result(n, Status.PASS) for n in MANDATORY], interrupted="stopped by SIGTERM")
    assert report.verdict is Verdict.INCOMPLETE and report.reasons[0] == "stopped by SIGTERM"
    assert decide([result("k6", Status.FAIL)], interrupted="x").verdict is Verdict.NOT_READY


FINDING = {"id": "A", "severity": "high", "title": "t", "location": "", "failing": False, "waived_by": None}
WAIVER = {"check": "k6", "id": "A", "reason": "r", "owner": "o", "expires": "2026-12-01"}
FORGERIES: dict[str, Any] = {
    "unknown top-level field": lambda d: d.update(approved_by="me"),
    "unknown finding field": lambda d: d["findings"].append({**FINDING, "trusted": True}),
    "details of the wrong type": lambda d: d.update(details=["x"]),
    "a view of an unknown kind": lambda d: d.update(views=[{"kind": "pie", "title": "x"}]),
    "bars of the wrong type": lambda d: d.update(views=[{"kind": "bars", "title": "t", "unit": "ms",
                                                          "limit_label": "", "rows": "all of them"}]),
    "aliases of the wrong type": lambda d: d["findings"].append({**FINDING, "aliases": "CVE-1"}),
    "a boolean measurement value": lambda d: d["measurements"]["x"].update(value=True),
    "a timestamp that is no date": lambda d: d.update(finished_at="yesterday"),
    "a timestamp without zone": lambda d: d.update(finished_at="2026-11-27T12:00:00"),
    "an impossible date": lambda d: d.update(finished_at="2026-02-30T12:00:00+00:00"),
    "finished before it started": lambda d: d.update(started_at="2026-11-28T12:00:00+00:00"),
    "an expiry that is no date": lambda d: d.update(waivers={"applied": [{**WAIVER, "expires": "2026-13-01"}]}),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_malformed_result_fails_cleanly_for_that_check(tmp_path: Path, forgery: str) -> None:
    write_result(result("k6", Status.PASS), tmp_path)
    path = tmp_path / "results" / "k6.json"
    data = json.loads(path.read_text())
    FORGERIES[forgery](data)
    path.write_text(json.dumps(data))
    read = read_result(path, NOW)
    assert (read.check, read.status) == ("k6", Status.ERROR)
    assert "cannot be read" in read.summary


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_refused(tmp_path: Path, constant: str) -> None:
    write_result(result("k6", Status.PASS), tmp_path)
    path = tmp_path / "results" / "k6.json"
    path.write_text(path.read_text().replace('"value": 1,', f'"value": {constant},'))
    assert constant in path.read_text()
    assert read_result(path, NOW).status is Status.ERROR
