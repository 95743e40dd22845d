"""The audit check's typed settings, finding catalogue and typed findings; readers are in test_audit.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.audit import AuditCheck, AuditParsed, evaluate_audit
from pipeline.checks.audit.reports import Dependency, Vulnerability, read_package_lock, read_requirements
from pipeline.checks.interface import CheckContext
from pipeline.checks.registry import registry
from pipeline.errors import ToolNotFound
from pipeline.model import Status
from pipeline.reporters import write_all
from pipeline.results import load_results
from pipeline.runner import run_check
from pipeline.verdict import decide
from tests.checks.test_audit import (
    HIGH_VECTOR,
    NPM_VIA,
    audit,
    ingest_report,
    npm_report,
    pip_dep,
    pip_report,
    record,
    typed,
    write_db,
)
from tests.conftest import config_from, write_config
from tests.fuzzing import budget

TODAY = dt.date(2026, 11, 27)
MERGED = [record("PYSEC-2099-1", "pkg", [{"introduced": "0"}, {"fixed": "2.0"}], aliases=["GHSA-aaaa-bbbb-cccc"],
                 references=[{"type": "WEB", "url": "https://example.org/blog"},
                             {"type": "ADVISORY", "url": "https://example.org/advisory"}]),
          record("GHSA-aaaa-bbbb-cccc", "pkg", [{"introduced": "0"}, {"fixed": "2.0"}],
                 aliases=["CVE-2099-0001", "PYSEC-2099-1"], severity=[{"type": "CVSS_V3", "score": HIGH_VECTOR}])]


def waiver(id_: str) -> dict[str, str]:
    return {"check": "audit", "id": id_, "reason": "not reachable", "owner": "sec-team", "expires": "2026-12-31"}


# --- Settings -------------------------------------------------------------------------------------


def test_defaults_live_in_the_settings_class() -> None:
    defaults = typed()
    assert (defaults.fail_at, defaults.unknown_severity, defaults.service) == ("high", "high", "pypi")
    assert defaults.requirements == () and defaults.npm_lock is None and defaults.report is None
    assert defaults.osv_dir is None and defaults.allow_unaudited is False
    assert typed(requirements=["a.txt", "b.txt"]).requirements == ("a.txt", "b.txt")


@pytest.mark.parametrize(("section", "named"), [
    ({"fail_at": "severe"}, "checks.audit.fail_at"),
    ({"unknown_severity": 7}, "checks.audit.unknown_severity"),
    ({"requirements": "requirements.txt"}, "checks.audit.requirements"),
    ({"allow_unaudited": "yes"}, "checks.audit.allow_unaudited"),
    ({"service": "nvd"}, "checks.audit.service"),
    ({"requirement": ["r.txt"]}, "unknown key 'requirement'"),
])
def test_a_wrong_key_or_type_exits_3_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               section: dict[str, Any], named: str) -> None:
    from pipeline._cli import main

    path = write_config(tmp_path, yaml.safe_dump({"version": 1, "checks": {"audit": section}}))
    assert main(["check", "audit", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err
    assert "configuration error" in err and named in err, err


def test_npm_is_looked_for_on_the_context_path(tmp_path: Path) -> None:
    (tmp_path / "package-lock.json").write_text(json.dumps({"lockfileVersion": 3, "packages": {}}))
    ctx = CheckContext(reports_dir=tmp_path / "r", project_dir=tmp_path, deadline_s=5, env={"PATH": str(tmp_path)})
    with pytest.raises(ToolNotFound, match="npm is not installed"):
        AuditCheck().collect(typed(npm_lock="package-lock.json"), ctx)


# --- Findings: catalogued ids, every advisory id an alias, typed fields -----------------------------


def test_one_finding_per_vulnerability_with_every_id_as_an_alias(tmp_path: Path) -> None:
    result = audit(tmp_path, "other==1.0\npkg==1.0\n", MERGED)
    (finding,) = result.findings
    assert finding.id == "vulnerability:CVE-2099-0001"
    assert finding.id.split(":")[0] in registry().get("audit").findings
    assert finding.aliases == ("CVE-2099-0001", "GHSA-aaaa-bbbb-cccc", "PYSEC-2099-1")
    assert (finding.file, finding.line, finding.location) == ("requirements.txt", 2, "pkg==1.0")
    assert finding.fixed == ("2.0",) and finding.message.endswith(" in pkg")
    assert finding.references == ("https://example.org/advisory", "https://example.org/blog")
    assert finding.remediation == "Upgrade to a fixed version (2.0) and update the pin at requirements.txt:2."
    assert not {"aliases", "fixed", "url", "rule_id", "artifact"} & set(finding.details)


@pytest.mark.parametrize("waived_by", ["PYSEC-2099-1", "GHSA-aaaa-bbbb-cccc", "CVE-2099-0001",
                                       "vulnerability:CVE-2099-0001"])
def test_a_waiver_by_any_id_of_the_advisory_covers_it(tmp_path: Path, waived_by: str) -> None:
    result = audit(tmp_path, "pkg==1.0\n", MERGED, today=TODAY, waivers=[waiver(waived_by)])
    assert result.status is Status.WAIVED and result.findings[0].waived_by == waived_by


def test_a_waiver_for_another_advisory_covers_nothing(tmp_path: Path) -> None:
    result = audit(tmp_path, "pkg==1.0\n", MERGED, today=TODAY, waivers=[waiver("PYSEC-2099-2")])
    assert result.status is Status.FAIL


def test_a_pin_in_an_included_file_is_named_by_its_own_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir(parents=True)
    (tmp_path / "reqs" / "base.txt").write_text("# shared pins\nother==1.0\npkg==1.5\n")
    result = audit(tmp_path, "-r reqs/base.txt\n", MERGED)
    assert [(f.file, f.line) for f in result.findings] == [("reqs/base.txt", 3)]


def test_without_a_fixed_version_the_catalogue_says_what_to_do(tmp_path: Path) -> None:
    result = audit(tmp_path, "pkg==1.0\n", [record("PYSEC-2099-3", "pkg", [{"introduced": "0"}])])
    (finding,) = result.findings
    assert finding.fixed == () and finding.remediation == AuditCheck.findings["vulnerability"].remediation
    assert finding.references == ("https://osv.dev/vulnerability/PYSEC-2099-3",)  # the record has none


def test_a_reported_vulnerability_points_at_the_pin_else_at_the_report(tmp_path: Path) -> None:
    report = json.dumps(pip_report(pip_dep("requests", "2.19.0", "PYSEC-2018-28"), pip_dep("idna", "3.7")))
    pinned = ingest_report(tmp_path / "a", report, pins="idna==3.7\nRequests==2.19\n")
    (finding,) = pinned.findings
    assert (finding.file, finding.line) == ("requirements.txt", 2)
    assert finding.references == ("https://osv.dev/vulnerability/PYSEC-2018-28",)
    unpinned = ingest_report(tmp_path / "b", report)
    assert (unpinned.findings[0].file, unpinned.findings[0].line) == ("report.json", None)


def test_an_npm_finding_points_at_the_lock_entry_with_its_link_and_cwe(tmp_path: Path) -> None:
    lock = {"lockfileVersion": 3, "packages": {"": {"name": "app"}, "node_modules/ms": {"version": "2.0.0"},
                                               "node_modules/debug": {"version": "2.6.8"}}}
    result = ingest_report(tmp_path, json.dumps(npm_report()), lock=lock, fail_at="medium")
    assert result.status is Status.FAIL, result.reasons
    (finding,) = result.findings
    assert finding.id == "vulnerability:GHSA-gxpj-cx7g-858c" and finding.aliases == ("GHSA-gxpj-cx7g-858c",)
    assert (finding.file, finding.line) == ("package-lock.json", 1)  # a lock written on one line
    assert finding.references == (NPM_VIA["url"],) and finding.tags == ("CWE-400",)


def test_lock_entries_know_their_line_and_keep_their_key_in_the_reasons(tmp_path: Path) -> None:
    path = tmp_path / "package-lock.json"
    path.write_text(json.dumps({"lockfileVersion": 3, "packages": {
        "": {"name": "app"}, "node_modules/a": {"version": "1.0.0"},
        "node_modules/a/node_modules/b": {"version": "latest"}}}, indent=2))
    entries = {d.entry: d for d in read_package_lock(path)}
    assert entries["node_modules/a"].line == 7 and entries["node_modules/a/node_modules/b"].line == 10
    assert entries["node_modules/a/node_modules/b"].source == "package-lock.json:node_modules/a/node_modules/b"
    assert read_requirements(_written(tmp_path / "r.txt", "a==1\n\nb==2\n"))[1].source == "r.txt:3"


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_malformed_osv_references_are_problems_naming_the_place(tmp_path: Path) -> None:
    broken = record("PYSEC-2099-4", "pkg", [{"introduced": "0"}], references=[{"type": "WEB", "url": 5}])
    result = audit(tmp_path, "other==1.0\n", [record("PYSEC-2099-5", "x", [{"introduced": "0"}]), broken])
    assert result.status is Status.ERROR
    assert any("PYSEC-2099-4.json: references[0].url" in r for r in result.reasons), result.reasons


def test_sarif_points_at_the_pin_and_the_advisory(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pkg==1.0\n")
    write_db(tmp_path / "osv", MERGED)
    body = {"version": 1, "checks": {"audit": {"requirements": ["requirements.txt"], "osv_dir": "osv"}}}
    run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    loaded, merges = load_results([tmp_path / "reports" / "results"])
    write_all(decide(loaded, merges), tmp_path / "reports")
    run = json.loads((tmp_path / "reports" / "readiness.sarif").read_text())["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["audit/vulnerability:CVE-2099-0001"]
    assert run["tool"]["driver"]["rules"][0]["helpUri"] == "https://example.org/advisory"
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "requirements.txt"


# --- Policy: pure, thresholds at their edge ---------------------------------------------------------

SEVERITIES = ("low", "medium", "high", "critical")


@settings(max_examples=budget(200), deadline=None)
@given(st.sampled_from((*SEVERITIES, "unknown")), st.sampled_from(SEVERITIES), st.sampled_from(SEVERITIES))
def test_a_vulnerability_fails_exactly_at_or_above_fail_at(severity: str, fail_at: str, unknown_as: str) -> None:
    vuln = Vulnerability("p", "1.0", ("CVE-1", "PYSEC-1"), "s", severity, None, ())
    parsed = AuditParsed("offline", (Dependency("PyPI", "p", "1.0", "r.txt", 1),), (vuln,), ())
    result = evaluate_audit(parsed, typed(fail_at=fail_at, unknown_severity=unknown_as))
    effective = unknown_as if severity == "unknown" else severity
    expected = SEVERITIES.index(effective) >= SEVERITIES.index(fail_at)
    assert result.findings[0].failing is expected and result.findings[0].severity == effective
    assert result.status is (Status.FAIL if expected else Status.PASS)
    assert result.findings[0].aliases == ("CVE-1", "PYSEC-1") and result.findings[0].id == "vulnerability:CVE-1"


def _clean_offline(age_days: float | None) -> AuditParsed:
    """One audited, clean pin, from an offline database of the given age."""
    return AuditParsed("offline", (Dependency("PyPI", "demo", "1.0", "requirements.txt", 1),), (), (),
                       database_age_days=age_days,
                       database_newest="2026-10-31T00:00:00Z")


@pytest.mark.parametrize(("age", "limit", "status"), [
    (30.0, 30, Status.PASS), (30.01, 30, Status.ERROR), (float("inf"), 30, Status.ERROR),
    (700.0, None, Status.PASS), (None, 30, Status.PASS)])
def test_offline_database_older_than_the_limit_is_an_error(age: float | None, limit: int | None,
                                                           status: Status) -> None:
    result = evaluate_audit(_clean_offline(age), typed(max_database_age_days=limit))
    assert result.status is status
    if status is Status.ERROR:
        assert ("cannot be dated" if age == float("inf") else "2026-10-31T00:00:00Z") in result.summary


def test_database_age_counts_from_the_newest_record() -> None:
    from pipeline.checks.audit import osv
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC).timestamp()
    assert osv.age_days("2026-11-20T00:00:00Z", now) == 10.0
    assert osv.age_days("", now) == float("inf") and osv.age_days("not a date", now) == float("inf")
    # One stamp far ahead must not make a stale clone look fresh; a few hours of clock skew is tolerated.
    assert osv.age_days("2099-01-01T00:00:00Z", now) == float("inf")
    assert osv.age_days("2026-11-30T12:00:00Z", now) == 0.0
