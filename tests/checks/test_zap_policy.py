"""The zap check's typed settings, finding catalogue and typed findings; the readers are in test_zap.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.interface import CheckContext
from pipeline.checks.registry import registry
from pipeline.checks.zap import ZapCheck, ZapParsed, evaluate_zap
from pipeline.checks.zap.report import CONFIDENCES, RISKS, Alert, Rules, ZapReport
from pipeline.errors import ArtifactMissing
from pipeline.model import Instance, Status
from pipeline.reporters import write_all
from pipeline.results import load_results
from pipeline.verdict import decide
from tests.checks.test_zap import alert, ingest, report, typed
from tests.conftest import write_config
from tests.fuzzing import budget

TODAY = dt.date(2026, 11, 27)


def waiver(id_: str, **extra: str) -> dict[str, str]:
    return {"check": "zap", "id": id_, "reason": "accepted", "owner": "web-team", "expires": "2026-12-31", **extra}


# --- Settings -------------------------------------------------------------------------------------


def test_defaults_live_in_the_settings_class() -> None:
    defaults = typed()
    assert (defaults.fail_at, defaults.min_confidence, defaults.minutes, defaults.mode) == ("medium", "low", 1, "auto")
    assert defaults.image == "ghcr.io/zaproxy/zaproxy:stable" and defaults.target == ""
    assert defaults.report is None and defaults.xml_report is None and defaults.rules is None
    assert not defaults.ajax_spider and not defaults.alpha_rules and defaults.extra_options == ""


@pytest.mark.parametrize(("section", "named"), [
    ({"fail_at": "severe"}, "checks.zap.fail_at"),
    ({"min_confidence": "false positive"}, "checks.zap.min_confidence"),
    ({"minutes": 0}, "checks.zap.minutes"),
    ({"minutes": "1"}, "checks.zap.minutes"),
    ({"ajax_spider": "yes"}, "checks.zap.ajax_spider"),
    ({"mode": "cloud"}, "checks.zap.mode"),
    ({"rule": "rules.tsv"}, "unknown key 'rule'"),
])
def test_a_wrong_key_or_type_exits_3_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               section: dict[str, Any], named: str) -> None:
    from pipeline._cli import main

    path = write_config(tmp_path, yaml.safe_dump({"version": 1, "checks": {"zap": section}}))
    assert main(["check", "zap", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err
    assert "configuration error" in err and named in err, err


def test_an_ingested_report_needs_no_running_service() -> None:
    assert ZapCheck.wants_target(typed()) is True
    assert ZapCheck.wants_target(typed(report="zap.json")) is False
    assert ZapCheck.wants_target(typed(xml_report="zap.xml")) is False


def test_the_target_comes_from_the_context_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("READINESS_BASE_URL", raising=False)
    ctx = CheckContext(reports_dir=tmp_path, project_dir=tmp_path, deadline_s=5,
                       env={"READINESS_BASE_URL": "ftp://only-in-the-context"})
    with pytest.raises(ArtifactMissing, match="ftp://only-in-the-context"):
        ZapCheck().collect(typed(), ctx)


def test_ingest_mode_without_a_report_is_an_error_not_a_scan(tmp_path: Path) -> None:
    ctx = CheckContext(reports_dir=tmp_path, project_dir=tmp_path, deadline_s=5, env={})
    with pytest.raises(ArtifactMissing, match="neither report nor xml_report"):
        ZapCheck().collect(typed(mode="ingest", target="http://127.0.0.1:9"), ctx)


# --- Findings: catalogued ids, the plugin id an alias, typed fields ---------------------------------


def test_every_finding_id_is_a_catalogued_kind_and_the_plugin_id_an_alias(tmp_path: Path) -> None:
    uris = tuple(f"http://127.0.0.1/page/{n}" for n in range(25))
    result = ingest(tmp_path, report(alert("10038", 2, name="CSP Header Not Set", uris=uris)),
                    "10038\tFAIL\t(CSP)\n")
    (finding,) = result.findings
    assert finding.id == "alert:10038" and finding.aliases == ("10038",)
    assert finding.id.split(":")[0] in registry().get("zap").findings
    assert "[FAIL]" in finding.title  # the rules file's action stays visible
    assert finding.urls == uris  # every instance's URL, not only the detailed ones
    assert len(finding.instances) == 20 and finding.instances[0] == Instance(uris[0], "GET", "", "")
    assert finding.message == "desc" and finding.remediation == "fix it"
    assert finding.references == ("https://owasp.org",) and finding.tags == ("CWE-693", "WASC-15")
    assert finding.file == "" and finding.location == uris[0]
    assert set(finding.details) == {"action", "confidence"}  # nothing a report reads lives in details


def test_without_a_zap_solution_the_catalogue_says_what_to_do(tmp_path: Path) -> None:
    result = ingest(tmp_path, report(alert("10020", 3, solution="", cweid="-1", wascid="0")))
    (finding,) = result.findings
    assert finding.remediation == ZapCheck.findings["alert"].remediation
    assert finding.tags == ()  # ZAP's -1 and 0 mean "no CWE / WASC"


def test_a_waiver_by_the_bare_plugin_id_still_covers_the_alert(tmp_path: Path) -> None:
    result = ingest(tmp_path, report(alert("10038", 3)), today=TODAY, waivers=[waiver("10038")])
    assert result.status is Status.WAIVED and result.findings[0].waived_by == "10038"
    by_new_id = ingest(tmp_path / "new", report(alert("10038", 3)), today=TODAY, waivers=[waiver("alert:10038")])
    assert by_new_id.status is Status.WAIVED


def test_a_url_narrowed_waiver_sees_every_instance_url(tmp_path: Path) -> None:
    inside = tuple(f"http://127.0.0.1/docs/{n}" for n in range(21))
    narrowed = waiver("10038", url=r"^http://127\.0\.0\.1/docs/")
    covered = ingest(tmp_path / "a", report(alert("10038", 2, uris=inside)), today=TODAY, waivers=[narrowed])
    assert covered.status is Status.WAIVED
    # The 22nd instance lies outside the pattern: beyond the 20 detailed instances, but still seen.
    leaked = ingest(tmp_path / "b", report(alert("10038", 2, uris=(*inside, "http://127.0.0.1/api/orders"))),
                    today=TODAY, waivers=[narrowed])
    assert leaked.status is Status.FAIL


def test_sarif_points_at_the_alert_url_and_zap_s_reference(tmp_path: Path) -> None:
    ingest(tmp_path, report(alert("10038", 3, uris=("http://127.0.0.1/orders",))))
    loaded, merges = load_results([tmp_path / "reports" / "results"])
    write_all(decide(loaded, merges), tmp_path / "reports")
    run = json.loads((tmp_path / "reports" / "readiness.sarif").read_text())["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["zap/alert:10038"]
    assert run["tool"]["driver"]["rules"][0]["helpUri"] == "https://owasp.org"
    location = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert location == "http://127.0.0.1/orders"


# --- Policy: pure, thresholds at their edge ---------------------------------------------------------


def synthetic(risk: int, confidence: int, plugin: str = "10020") -> Alert:
    return Alert(plugin, "An alert", risk, confidence, "http://127.0.0.1", (), ("http://127.0.0.1/a",), 1, "", "",
                 (), "", "")


def parsed(*alerts: Alert, rules: Rules | None = None) -> ZapParsed:
    return ZapParsed(ZapReport("2.16.1", ("http://127.0.0.1",), alerts), rules or Rules({}), None, None)


@settings(max_examples=budget(200), deadline=None)
@given(st.integers(0, 3), st.integers(0, 4), st.sampled_from(RISKS), st.sampled_from(CONFIDENCES[1:]))
def test_an_alert_fails_exactly_at_or_above_fail_at_with_enough_confidence(
        risk: int, confidence: int, fail_at: str, min_confidence: str) -> None:
    result = evaluate_zap(parsed(synthetic(risk, confidence)), typed(fail_at=fail_at, min_confidence=min_confidence))
    counted = confidence >= max(1, CONFIDENCES.index(min_confidence))
    expected = counted and risk >= RISKS.index(fail_at)
    assert result.findings[0].failing is expected
    assert result.status is (Status.FAIL if expected else Status.PASS)
    assert {m.name: m.value for m in result.measurements}["alerts fail"] == int(expected)
