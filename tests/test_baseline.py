"""``readiness verdict --baseline``: the policy recorded, loosenings need approval, unreadable baselines never pass."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline._cli import main
from pipeline.deltas import P95_VIEW, broken_rules, compare
from pipeline.model import CheckResult, Finding, Measurement, Status
from pipeline.runner import write_result
from pipeline.views import Bar, Bars
from tests.conftest import MANDATORY, result, stamp_results, write_config, write_results

CONFIG = """\
version: 1
service: {name: orders}
checks:
  coverage: {min_line_rate: 0.90}
"""
APPROVAL = """\
approvals:
  - {setting: coverage.min_line_rate, approver: Rita, reason: legacy module moves out next sprint, expires: 2099-01-01}
"""


def verdict(reports: Path, config: Path, *extra: str) -> int:
    stamp_results(reports, config)
    return main(["verdict", "--reports-dir", str(reports), "--config", str(config), *extra])


def document(reports: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((reports / "readiness.json").read_text())
    return data


@pytest.fixture
def released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ready release with its policy: the baseline's reports folder."""
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "v1"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    assert verdict(reports, write_config(tmp_path / "c1", CONFIG)) == 0
    return reports


def next_release(tmp_path: Path, config_text: str, *extra: str) -> tuple[int, dict[str, Any]]:
    reports = tmp_path / "v2"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    code = verdict(reports, write_config(tmp_path / "c2", config_text), *extra)
    return code, document(reports)


def test_the_verdict_records_the_effective_policy(released: Path) -> None:
    rules = document(released)["policy"]["rules"]
    assert rules["coverage.min_line_rate"]["value"] == 0.90
    assert "checks.coverage.min_line_rate" in rules["coverage.min_line_rate"]["source"]


def test_a_loosened_threshold_without_approval_is_not_ready(tmp_path: Path, released: Path) -> None:
    code, data = next_release(tmp_path, CONFIG.replace("0.90", "0.50"), "--baseline", str(released))
    assert code == 1 and data["verdict"] == "not_ready"
    change = next(c for c in data["comparison"]["policy_changes"] if c["key"] == "coverage.min_line_rate")
    assert change["kind"] == "loosened" and change["needs_approval"] and change["approved_by"] is None
    assert any("coverage.min_line_rate was loosened: 0.9 -> 0.5" in r for r in data["reasons"])


def test_an_approval_record_makes_it_ready_again(tmp_path: Path, released: Path) -> None:
    code, data = next_release(tmp_path, CONFIG.replace("0.90", "0.50") + APPROVAL, "--baseline", str(released))
    assert code == 0, data["reasons"]
    change = next(c for c in data["comparison"]["policy_changes"] if c["key"] == "coverage.min_line_rate")
    assert change["approved_by"]["approver"] == "Rita"


def test_an_expired_approval_does_not_count(tmp_path: Path, released: Path) -> None:
    expired = APPROVAL.replace("2099-01-01", "2020-01-01")
    code, data = next_release(tmp_path, CONFIG.replace("0.90", "0.50") + expired, "--baseline", str(released))
    assert code == 1
    assert any("expired on 2020-01-01" in r for r in data["reasons"])


def test_tightening_needs_nothing(tmp_path: Path, released: Path) -> None:
    code, data = next_release(tmp_path, CONFIG.replace("0.90", "0.95"), "--baseline", str(released))
    assert code == 0
    assert [c["kind"] for c in data["comparison"]["policy_changes"]] == ["tightened"]


def test_a_baseline_given_as_its_readiness_json_works_the_same(tmp_path: Path, released: Path) -> None:
    code, _ = next_release(tmp_path, CONFIG.replace("0.90", "0.50"), "--baseline",
                           str(released / "readiness.json"))
    assert code == 1


def _corrupt(path: Path) -> None:
    path.write_text("{not json", encoding="utf-8")


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _other_service(path: Path) -> None:
    data = json.loads(path.read_text())
    data["environment"]["service"] = "payments"
    path.write_text(json.dumps(data))


def _newer_schema(path: Path) -> None:
    data = json.loads(path.read_text())
    data["schema"] = "readiness.verdict/2"
    path.write_text(json.dumps(data))


def _missing(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(("damage", "message"), [
    (_missing, "the folder holds no readiness.json"),
    (_corrupt, "not readable JSON, corrupt or truncated"),
    (_truncated, "not readable JSON, corrupt or truncated"),
    (_other_service, "the baseline is for service 'payments', this run is for 'orders'"),
    (_newer_schema, "written by a newer gate (readiness.verdict/2)"),
])
def test_a_baseline_that_cannot_be_used_makes_the_verdict_incomplete_and_names_the_file(
        tmp_path: Path, released: Path, damage: Any, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    damage(released / "readiness.json")
    code, data = next_release(tmp_path, CONFIG, "--baseline", str(released))
    assert code == 2 and data["verdict"] == "incomplete"
    assert message in data["reasons"][0] and str(released) in data["reasons"][0]
    assert message in data["comparison"]["baseline"]["error"]


def test_a_baseline_without_a_recorded_policy_cannot_rule_out_a_loosening(tmp_path: Path, released: Path) -> None:
    data = document(released)
    data["policy"] = None  # as an older gate wrote it
    (released / "readiness.json").write_text(json.dumps(data))
    code, now = next_release(tmp_path, CONFIG, "--baseline", str(released))
    assert code == 2
    assert any("records no policy" in r for r in now["reasons"])


# Deltas: findings by stable id, the results' own numbers, and the rules that gate on them.

def k6_result(p95: dict[str, float], findings: tuple[Finding, ...] = ()) -> CheckResult:
    bars = Bars(P95_VIEW, "ms", tuple(Bar(name, value, 200.0, True) for name, value in p95.items()))
    return replace(result("k6", Status.PASS), views=(bars,), findings=findings)


def coverage_result(rate: float) -> CheckResult:
    return replace(result("coverage", Status.PASS), measurements=(Measurement("line_rate", rate, "ratio"),))


def finding(fid: str, severity: str = "high", waived_by: str | None = None) -> Finding:
    return Finding(fid, severity, f"title of {fid}", failing=False, waived_by=waived_by)


def test_findings_are_new_fixed_or_persisting_by_their_stable_id() -> None:
    before = k6_result({"get_order": 100}, (finding("a"), finding("b")))
    after = k6_result({"get_order": 100}, (finding("b"), finding("c")))
    (delta,) = compare([before], [after])
    assert [f.id for f in delta.new] == ["c"] and [f.id for f in delta.fixed] == ["a"] and delta.persisting == 1


@pytest.mark.parametrize(("now", "broken"), [(120.0, False), (120.1, True), (80.0, False)])
def test_p95_growth_is_gated_per_endpoint_at_the_configured_fraction(now: float, broken: bool) -> None:
    deltas = compare([k6_result({"get_order": 100.0, "list": 50.0})], [k6_result({"get_order": now, "list": 50.0})])
    found = broken_rules(deltas, {"max_p95_growth": 0.20})
    assert bool(found) is broken
    if broken:
        assert "p95 of get_order grew 20%" in found[0]


@pytest.mark.parametrize(("now", "broken"), [(0.905, False), (0.9049, True)])
def test_a_coverage_drop_is_gated_in_points(now: float, broken: bool) -> None:
    deltas = compare([coverage_result(0.91)], [coverage_result(now)])
    assert bool(broken_rules(deltas, {"max_coverage_drop": 0.005})) is broken


def test_no_new_high_counts_a_new_high_finding_even_when_it_is_waived() -> None:
    deltas = compare([k6_result({})], [k6_result({}, (finding("x", "critical", waived_by="k6:x"),
                                                       finding("y", "medium")))])
    found = broken_rules(deltas, {"no_new_high": True})
    assert len(found) == 1 and "new critical finding x" in found[0] and "waived by k6:x" in found[0]
    assert broken_rules(deltas, {}) == []


def test_a_broken_delta_rule_makes_the_verdict_not_ready_and_the_reports_show_the_deltas(
        tmp_path: Path, released: Path) -> None:
    write_result(replace(coverage_result(0.95), finished_at=result("coverage", Status.PASS).finished_at), released)
    assert verdict(released, write_config(tmp_path / "c1", CONFIG)) == 0
    reports = tmp_path / "v2"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    write_result(coverage_result(0.91), reports)
    config = write_config(tmp_path / "c2", CONFIG + "deltas: {max_coverage_drop: 0.005}\n")
    assert verdict(reports, config, "--baseline", str(released)) == 1
    data = document(reports)
    assert any("line rate dropped 4.00%" in r for r in data["reasons"])
    markdown = (reports / "readiness.md").read_text()
    assert "| coverage | line\\_rate | 0\\.95 | 0\\.91 |" in markdown
    page = (reports / "readiness.html").read_text()
    assert "Since the baseline" in page and "deltas.max_coverage_drop" in page
    # Loosening a delta rule is itself a policy change that needs an approval.
    looser = write_config(tmp_path / "c3", CONFIG + "deltas: {max_coverage_drop: 0.5}\n")
    assert verdict(tmp_path / "v3", looser, "--baseline", str(reports), "--results", str(reports / "results")) == 1
    assert any(c["key"] == "deltas.max_coverage_drop" and c["kind"] == "loosened"
               for c in document(tmp_path / "v3")["comparison"]["policy_changes"])


def test_a_signoff_record_is_a_baseline_only_while_it_and_its_verdict_are_unchanged(
        tmp_path: Path, released: Path) -> None:
    assert main(["signoff", "--release", "1", "--approver", "Rita", "--reports-dir", str(released),
                 "--config", str(tmp_path / "c1" / "readiness.yaml")]) == 0
    record = released / "signoff-1.json"
    code, data = next_release(tmp_path, CONFIG.replace("0.90", "0.50"), "--baseline", str(record))
    assert code == 1 and data["comparison"]["baseline"]["signoff"] == str(record)
    text = (released / "readiness.json").read_text()
    (released / "readiness.json").write_text(text.replace('"value": 0.9', '"value": 0.5'))
    code, data = next_release(tmp_path, CONFIG.replace("0.90", "0.50"), "--baseline", str(record))
    assert code == 2 and "changed after its sign-off" in data["reasons"][0]
    (released / "readiness.json").write_text(text)
    edited = json.loads(record.read_text())
    edited["files"]["readiness.json"] = "0" * 64
    record.write_text(json.dumps(edited))
    code, data = next_release(tmp_path, CONFIG, "--baseline", str(record))
    assert code == 2 and "the sign-off record was edited" in data["reasons"][0]


def test_run_takes_the_baseline_and_the_history_too(tmp_path: Path, released: Path) -> None:
    off = "".join(f"  {name}: {{enabled: false}}\n" for name in MANDATORY if name != "coverage")
    config = write_config(tmp_path / "c4", CONFIG + off)
    reports = tmp_path / "v4"
    code = main(["run", "--config", str(config), "--reports-dir", str(reports), "--only", "openapi",
                 "--baseline", str(tmp_path / "nowhere"), "--history", str(tmp_path / "h")])
    assert code == 2
    data = document(reports)
    assert "the baseline does not exist" in data["comparison"]["baseline"]["error"]
    assert any(c == "openapi.enabled" and r["value"] is False for c, r in data["policy"]["rules"].items())
    assert (tmp_path / "h" / "history.jsonl").read_text().count("\n") == 1


def test_hostile_text_in_deltas_is_escaped_in_every_report(tmp_path: Path, released: Path) -> None:
    hostile = '<img src=x onerror=alert(1)>|@all'
    reports = tmp_path / "v5"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    write_result(replace(k6_result({}), findings=(finding(hostile, "low"),)), reports)
    assert verdict(reports, write_config(tmp_path / "c5", CONFIG), "--baseline", str(released)) == 0
    page = (reports / "readiness.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    markdown = (reports / "readiness.md").read_text()
    assert re.search(r"(?<!\\)<img", markdown) is None
    assert "\\<img src\\=x onerror\\=alert\\(1\\)\\>\\|\\@\u200dall" in markdown
