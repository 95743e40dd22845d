"""Not applicable, on the record: counts toward ready until its review date, shown in every report."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest

from pipeline import gate
from pipeline._cli import main
from pipeline.config import ConfigError
from pipeline.model import CheckResult, NotApplicable, Status, ToolInfo, Verdict
from pipeline.reporters import console
from pipeline.results import load_results
from pipeline.runner import run_check, write_result
from pipeline.verdict import decide
from tests.conftest import MANDATORY, config_from, result, write_config, write_results

RECORD = "{reason: no database, owner: Rita, review_by: '%s'}"
REVIEW_BY = dt.date(2027, 6, 30)


def _declared(review_by: dt.date = REVIEW_BY) -> str:
    return f"version: 1\nchecks:\n  explain:\n    not_applicable: {RECORD % review_by.isoformat()}\n"


def test_a_declared_check_does_not_run_needs_no_target_and_passes_for_readiness_check(tmp_path: Path) -> None:
    config = config_from(tmp_path, _declared())
    assert gate.target_checks(config, ["explain"]) == []
    done = run_check("explain", config, tmp_path / "reports", tmp_path, today=REVIEW_BY)
    assert done.status is Status.NOT_APPLICABLE and done.status.exit_code == 0
    assert done.not_applicable == NotApplicable("no database", "Rita", REVIEW_BY)
    assert done.summary == "not applicable: no database, Rita (review by 2027-06-30)."
    (loaded,), _ = load_results([tmp_path / "reports" / "results"])
    assert loaded.status is Status.NOT_APPLICABLE and loaded.not_applicable == done.not_applicable


def test_past_its_review_date_the_runner_writes_skipped(tmp_path: Path) -> None:
    config = config_from(tmp_path, _declared())
    done = run_check("explain", config, tmp_path / "reports", tmp_path, today=REVIEW_BY + dt.timedelta(days=1))
    assert done.status is Status.SKIPPED and "2027-06-30, which has passed" in done.summary


def _na(review_by: dt.date = REVIEW_BY) -> CheckResult:
    at = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    return CheckResult("explain", Status.NOT_APPLICABLE, "n/a", tool=ToolInfo("none"), started_at=at, finished_at=at,
                       not_applicable=NotApplicable("no database", "Rita", review_by))


@pytest.mark.parametrize(("day", "verdict"), [(REVIEW_BY, Verdict.READY),
                                              (REVIEW_BY + dt.timedelta(days=1), Verdict.INCOMPLETE)])
def test_the_verdict_counts_it_until_the_review_date_given_by_its_caller(day: dt.date, verdict: Verdict) -> None:
    others = [result(n, Status.PASS) for n in MANDATORY if n != "explain"]
    clock = dt.datetime.combine(day, dt.time(23, 59), dt.UTC)
    report = decide([*others, _na()], generated_at=clock)
    assert report.verdict is verdict
    (explain,) = [c for c in report.checks if c.check == "explain"]
    if verdict is Verdict.READY:
        assert explain.status is Status.NOT_APPLICABLE
        assert "explain is not applicable: no database, Rita (review by 2027-06-30)." in report.reasons
    else:
        assert explain.status is Status.SKIPPED and "the review date 2027-06-30 has passed" in explain.reasons[0]


def test_disabled_without_the_record_stays_skipped_and_incomplete(tmp_path: Path) -> None:
    config = config_from(tmp_path, "version: 1\nchecks:\n  explain: {enabled: false}\n")
    done = run_check("explain", config, tmp_path / "reports", tmp_path)
    others = [result(n, Status.PASS) for n in MANDATORY if n != "explain"]
    assert done.status is Status.SKIPPED and decide([*others, done]).verdict is Verdict.INCOMPLETE


def test_a_not_applicable_result_without_its_record_is_not_trusted(tmp_path: Path) -> None:
    at = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    write_result(CheckResult("explain", Status.NOT_APPLICABLE, "n/a", started_at=at, finished_at=at), tmp_path)
    (loaded,), _ = load_results([tmp_path / "results"])
    assert loaded.status is Status.ERROR and "no not_applicable record" in loaded.reasons[0]


@pytest.mark.parametrize("record", ["{reason: x, owner: Rita}", "{reason: '', owner: Rita, review_by: '2027-01-01'}",
                                    "{reason: x, owner: Rita, review_by: '2027-02-30'}"])
def test_an_incomplete_record_is_a_config_error(tmp_path: Path, record: str) -> None:
    with pytest.raises(ConfigError, match=r"checks\.explain\.not_applicable"):
        config_from(tmp_path, f"version: 1\nchecks:\n  explain:\n    not_applicable: {record}\n")


def test_every_report_and_the_signoff_show_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "reports"
    write_results(reports, {n: Status.PASS for n in MANDATORY if n != "explain"})
    config = write_config(tmp_path, _declared())
    assert main(["check", "explain", "--config", str(config), "--reports-dir", str(reports)]) == 0
    assert main(["verdict", "--reports-dir", str(reports)]) == 0
    shown = "not applicable: no database, Rita"
    assert shown in (reports / "readiness.html").read_text()
    assert r"| explain | ➖ not_applicable | not applicable\: no database\, Rita \(review by 2027\-06\-30\)\. |" \
        in (reports / "readiness.md").read_text()  # Markdown-escaped, as every summary is
    suite = next(s for s in SafeET.parse(reports / "readiness.junit.xml").getroot() if s.get("name") == "explain")
    (case,) = suite.findall("testcase")
    assert case.get("name") == "not applicable: no database" and len(case) == 1  # no failure, error or skipped
    assert case.findtext("system-out") == f"{shown} (review by 2027-06-30)"
    assert suite.find("properties/property").get("value") == f"{shown} (review by 2027-06-30)"
    sarif = json.loads((reports / "readiness.sarif").read_text())
    assert "explain" not in json.dumps(sarif["runs"][0]["results"])
    na = next(r for r in load_results([reports / "results"])[0] if r.check == "explain")
    assert shown in console.check_line(na, io.StringIO())
    assert main(["signoff", "--release", "1.0", "--approver", "Ann", "--reports-dir", str(reports),
                 "--config", str(config)]) == 0
    record = json.loads((reports / "signoff-1.0.json").read_text())
    assert record["not_applicable"] == {"explain": {"reason": "no database", "owner": "Rita",
                                                    "review_by": "2027-06-30"}}
    assert main(["verify-signoff", str(reports / "signoff-1.0.json")]) == 0
