"""The audit check on small OSV databases and reports written here; the real ones are in tests/compat."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from packaging.version import Version

from pipeline.checks.audit import AuditParsed, AuditSettings, evaluate_audit, osv
from pipeline.checks.audit.reports import Dependency, Vulnerability, read_requirements, severity_from_vector
from pipeline.checks.audit.tool_reports import npm_audit_contents, pip_audit_contents, read_report
from pipeline.errors import ParseError
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import config_from, need_tool
from tests.fuzzing import alias_bomb, fuzz, mutated

HIGH_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5
MEDIUM_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N"  # 5.3


def typed(**keys: Any) -> AuditSettings:
    """Settings as the gate builds them: from the JSON form of a config section."""
    return AuditSettings.model_validate_json(json.dumps(keys))


# Records changed today: a database must be fresh to be judged (max_database_age_days).
TODAY = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(id_: str, name: str, events: list[dict[str, Any]], ecosystem: str = "PyPI", **extra: Any) -> dict[str, Any]:
    extra.setdefault("modified", TODAY)
    return {"id": id_, "summary": f"{id_} in {name}", "affected": [
        {"package": {"name": name, "ecosystem": ecosystem}, "ranges": [{"type": "ECOSYSTEM", "events": events}],
         **({"versions": extra.pop("versions")} if "versions" in extra else {})}], **extra}


def write_db(folder: Path, records: list[dict[str, Any]], as_yaml: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        path = folder / f"{r['id']}.{'yaml' if as_yaml else 'json'}"
        path.write_text(yaml.safe_dump(r) if as_yaml else json.dumps(r))
    return folder


def audit(tmp_path: Path, pins: str, records: list[dict[str, Any]], today: dt.date | None = None,
          **settings: Any) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "requirements.txt").write_text(pins)
    write_db(tmp_path / "osv", records)
    waivers = settings.pop("waivers", [])
    body = {"version": 1, "checks": {"audit": {"requirements": ["requirements.txt"], "osv_dir": "osv", **settings}},
            "waivers": waivers}
    return run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path,
                     today=today)


def test_version_at_fixed_is_clean_and_just_below_is_not(tmp_path: Path) -> None:
    records = [record("PYSEC-1", "Demo_Pkg", [{"introduced": "0"}, {"fixed": "2.0.0"}])]
    below = audit(tmp_path / "a", "demo-pkg==1.9.9\n", records)
    at = audit(tmp_path / "b", "demo.pkg==2.0.0\n", records)  # PEP 503: Demo_Pkg == demo.pkg == demo-pkg
    assert below.status is Status.FAIL and [f.id for f in below.findings] == ["vulnerability:PYSEC-1"]
    assert at.status is Status.PASS and at.findings == ()


def test_last_affected_and_explicit_versions(tmp_path: Path) -> None:
    records = [record("PYSEC-2", "pkg", [{"introduced": "1.0"}, {"last_affected": "1.4"}], versions=["0.9.1"])]
    results = {pin: audit(tmp_path / pin, f"pkg=={pin}\n", records).status for pin in ("0.9", "0.9.1", "1.0",
                                                                                        "1.4", "1.4.1")}
    assert results == {"0.9": Status.PASS, "0.9.1": Status.FAIL, "1.0": Status.FAIL, "1.4": Status.FAIL,
                       "1.4.1": Status.PASS}


def test_withdrawn_records_are_skipped(tmp_path: Path) -> None:
    records = [record("PYSEC-3", "pkg", [{"introduced": "0"}], withdrawn="2024-01-01T00:00:00Z"),
               record("PYSEC-33", "other", [{"introduced": "0"}])]
    result = audit(tmp_path, "pkg==1.0\n", records)
    assert result.status is Status.PASS and result.findings == ()
    assert "(1 withdrawn)" in result.tool.version


def test_aliases_merge_into_one_finding_with_every_id(tmp_path: Path) -> None:
    records = [record("PYSEC-4", "pkg", [{"introduced": "0"}, {"fixed": "3.0"}], aliases=["GHSA-aaaa-bbbb-cccc"]),
               record("GHSA-aaaa-bbbb-cccc", "pkg", [{"introduced": "0"}, {"fixed": "3.0.1"}],
                      aliases=["CVE-2099-0001", "PYSEC-4"], severity=[{"type": "CVSS_V3", "score": HIGH_VECTOR}])]
    result = audit(tmp_path, "pkg==2.0\n", records)
    assert [f.id for f in result.findings] == ["vulnerability:CVE-2099-0001"]
    finding = result.findings[0]
    assert finding.aliases == ("CVE-2099-0001", "GHSA-aaaa-bbbb-cccc", "PYSEC-4")
    assert finding.fixed == ("3.0", "3.0.1") and finding.details["score"] == 7.5
    assert "fixed in 3.0, 3.0.1" in finding.title


@pytest.mark.parametrize(("vector", "fail_at", "status"), [
    (HIGH_VECTOR, "high", Status.FAIL), (MEDIUM_VECTOR, "high", Status.PASS),
    (MEDIUM_VECTOR, "medium", Status.FAIL), (MEDIUM_VECTOR, "moderate", Status.FAIL),
    (HIGH_VECTOR, "critical", Status.PASS),
])
def test_fail_at_threshold_edges(tmp_path: Path, vector: str, fail_at: str, status: Status) -> None:
    records = [record("PYSEC-5", "pkg", [{"introduced": "0"}], severity=[{"type": "CVSS_V3", "score": vector}])]
    result = audit(tmp_path, "pkg==1.0\n", records, fail_at=fail_at)
    assert result.status is status
    assert len(result.findings) == 1  # shown either way


@pytest.mark.parametrize(("unknown_as", "status"), [("high", Status.FAIL), ("low", Status.PASS)])
def test_unknown_severity_counts_as_configured(tmp_path: Path, unknown_as: str, status: Status) -> None:
    records = [record("PYSEC-6", "pkg", [{"introduced": "0"}])]
    result = audit(tmp_path, "pkg==1.0\n", records, unknown_severity=unknown_as)
    assert result.status is status and "unknown, counted as" in result.findings[0].title


def test_label_is_used_when_there_is_no_vector(tmp_path: Path) -> None:
    records = [record("GHSA-x", "pkg", [{"introduced": "0"}], database_specific={"severity": "MODERATE"})]
    result = audit(tmp_path, "pkg==1.0\n", records)
    assert result.status is Status.PASS and result.findings[0].severity == "medium"


def test_waiver_by_alias_applies_and_expired_one_does_not(tmp_path: Path) -> None:
    records = [record("PYSEC-7", "pkg", [{"introduced": "0"}, {"fixed": "2.0"}], aliases=["CVE-2099-0007"])]
    today = dt.date(2026, 11, 27)

    def waiver(expires: dt.date) -> list[dict[str, Any]]:
        return [{"check": "audit", "id": "PYSEC-7", "reason": "not reachable from our code", "owner": "sec-team",
                 "expires": expires.isoformat()}]

    valid = audit(tmp_path / "v", "pkg==1.0\n", records, today=today, waivers=waiver(today))
    assert valid.status is Status.WAIVED and valid.findings[0].waived_by == "PYSEC-7"
    expired = audit(tmp_path / "e", "pkg==1.0\n", records, today=today, waivers=waiver(today - dt.timedelta(1)))
    assert expired.status is Status.FAIL
    assert any("expired on 2026-11-26" in r for r in expired.reasons)
    stale = audit(tmp_path / "s", "pkg==9.0\n", records, today=today, waivers=waiver(today))
    assert any("matches no finding any more" in r for r in stale.reasons)


def test_malformed_record_is_named_and_the_others_still_count(tmp_path: Path) -> None:
    records = [record("PYSEC-8", "pkg", [{"introduced": "0"}])]
    write_db(tmp_path / "osv", records)
    (tmp_path / "osv" / "BROKEN-1.yaml").write_text("id: BROKEN-1\naffected: [unclosed\n")
    (tmp_path / "osv" / "BROKEN-2.json").write_text('{"affected": []}')
    clean = audit(tmp_path, "other==1.0\n", records)
    assert clean.status is Status.ERROR  # the unreadable records might have named `other`
    assert any("BROKEN-1.yaml" in r for r in clean.reasons) and any("BROKEN-2.json" in r for r in clean.reasons)
    # The vulnerability found is shown and named, but the unreadable records keep the check an
    # error: a fail could be waived into a pass while those records were never read.
    hit = audit(tmp_path, "pkg==1.0\n", records)
    assert hit.status is Status.ERROR and hit.findings[0].id == "vulnerability:PYSEC-8" and hit.findings[0].failing
    assert "1 vulnerability at or above high" in hit.summary


def test_an_osv_record_holding_an_alias_bomb_is_named_and_refused_at_once(tmp_path: Path) -> None:
    """Like the spec and the rule files (found by the fault matrix): an OSV record is foreign YAML too."""
    records = [record("PYSEC-8", "pkg", [{"introduced": "0"}])]
    write_db(tmp_path / "osv", records)
    anchors, alias = alias_bomb()
    (tmp_path / "osv" / "BOMB-1.yaml").write_text(f"{anchors}\nid: BOMB-1\naffected: {alias}\n")
    started = time.monotonic()
    result = audit(tmp_path, "other==1.0\n", records)
    assert result.status is Status.ERROR and time.monotonic() - started < 5
    assert any("BOMB-1.yaml" in r and "an alias bomb" in r for r in result.reasons), result.reasons


def test_unpinned_requirement_is_not_audited_and_cannot_pass(tmp_path: Path) -> None:
    records = [record("PYSEC-9", "pkg", [{"introduced": "0"}, {"fixed": "1.0"}])]
    result = audit(tmp_path, "pkg==1.0\nflask>=2\n", records)
    assert result.status is Status.ERROR
    assert any("flask" in r and "not pinned" in r for r in result.reasons)
    allowed = audit(tmp_path / "ok", "pkg==1.0\nflask>=2\n", records, allow_unaudited=True)
    assert allowed.status is Status.PASS


def test_requirements_includes_markers_and_hashes(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("idna==3.20\n")
    (tmp_path / "r.txt").write_text("-r base.txt\n# comment\nRequests[socks]==2.19.0 ; python_version >= '3'\n"
                                    "psycopg[binary]==3.3.9 --hash=sha256:00\n")
    pins = {(d.name.lower(), d.version) for d in read_requirements(tmp_path / "r.txt")}
    assert pins == {("idna", "3.20"), ("requests", "2.19.0"), ("psycopg", "3.3.9")}


def test_npm_lock_is_matched_with_semver(tmp_path: Path) -> None:
    records = [record("GHSA-npm1", "left-pad", [{"introduced": "1.0.0"}, {"fixed": "1.3.0"}], ecosystem="npm")]
    write_db(tmp_path / "osv", records)
    lock = {"lockfileVersion": 3, "packages": {"": {"name": "app"},
                                               "node_modules/left-pad": {"version": "1.2.10"},
                                               "node_modules/other": {"version": "1.3.0-beta.1"}}}
    (tmp_path / "package-lock.json").write_text(json.dumps(lock))
    body = {"version": 1, "checks": {"audit": {"npm_lock": "package-lock.json", "osv_dir": "osv"}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.FAIL  # 1.2.10 < 1.3.0 in semver (a string compare would say otherwise)
    assert result.findings[0].location == "left-pad==1.2.10"


def test_empty_database_is_an_error(tmp_path: Path) -> None:
    assert audit(tmp_path, "pkg==1.0\n", []).status is Status.ERROR


def test_npm_error_body_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "npm.json").write_text(json.dumps({"error": {"code": "ENOTFOUND", "summary": "registry down"}}))
    body = {"version": 1, "checks": {"audit": {"report": "npm.json"}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and "npm audit did not run: ENOTFOUND registry down" in result.summary


def test_pip_audit_skip_reason_shows_and_blocks_a_pass(tmp_path: Path) -> None:
    report = {"dependencies": [{"name": "ok", "version": "1.0", "vulns": []},
                               {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}
    (tmp_path / "pa.json").write_text(json.dumps(report))
    body = {"version": 1, "checks": {"audit": {"report": "pa.json"}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert any("private-pkg" in r and "not found on PyPI" in r for r in result.reasons)


def test_unreachable_service_is_an_error_that_suggests_osv_dir(tmp_path: Path) -> None:
    pytest.importorskip("pip_audit", reason="pip-audit is not installed (nox -s tests installs it)")
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    body = {"version": 1, "checks": {"audit": {"requirements": ["requirements.txt"], "timeout_s": 120}}}
    # The PyPI vulnerability service cannot be reached from here (and must never be faked).
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body), PIP_INDEX_URL="http://127.0.0.1:9/"),
                       tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert "osv_dir" in " ".join(result.reasons)


def test_evaluation_never_passes_an_empty_audit() -> None:
    parsed = AuditParsed("ingest", (), (), ())
    assert evaluate_audit(parsed, typed()).status is Status.ERROR
    vuln = Vulnerability("p", "1", ("CVE-1",), "s", "low", 2.0, (), "r.txt")
    only_low = AuditParsed("offline", (Dependency("PyPI", "p", "1", "r.txt:1"),), (vuln,), ())
    assert evaluate_audit(only_low, typed()).status is Status.PASS


def test_cvss_vectors_of_each_version_are_scored() -> None:
    assert severity_from_vector(HIGH_VECTOR) == ("high", 7.5)
    assert severity_from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H") == ("critical", 10.0)
    assert severity_from_vector("AV:N/AC:L/Au:N/C:P/I:P/A:P") == ("high", 7.5)  # CVSS v2
    assert severity_from_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") == (
        "critical", 9.3)
    assert severity_from_vector("not a vector") is None


_versions = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)).map(lambda t: ".".join(map(str, t)))


@given(low=_versions, high=_versions, probe=_versions)
def test_range_matching_agrees_with_pep_440(low: str, high: str, probe: str) -> None:
    assume(Version(low) < Version(high))
    affected = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": low}, {"fixed": high}]}]}
    expected = Version(low) <= Version(probe) < Version(high)
    assert osv.is_affected(affected, osv.PYPI, probe) is expected


# --- Evidence is validated, not trusted -------------------------------------------------------------


def ingest_report(tmp_path: Path, report_text: str, pins: str | None = None, lock: dict[str, Any] | None = None,
                  **settings: Any) -> Any:
    """The audit check ingesting ``report_text``, with requirements and a lock when given."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "report.json").write_text(report_text)
    audit_settings: dict[str, Any] = {"report": "report.json", **settings}
    if pins is not None:
        (tmp_path / "requirements.txt").write_text(pins)
        audit_settings["requirements"] = ["requirements.txt"]
    if lock is not None:
        (tmp_path / "package-lock.json").write_text(json.dumps(lock))
        audit_settings["npm_lock"] = "package-lock.json"
    waivers = audit_settings.pop("waivers", [])
    body = {"version": 1, "checks": {"audit": audit_settings}, "waivers": waivers}
    return run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)


def pip_report(*deps: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(deps), "fixes": []}


def pip_dep(name: str, version: str, *vuln_ids: str) -> dict[str, Any]:
    return {"name": name, "version": version, "vulns": [
        {"id": v, "fix_versions": ["9.9"], "aliases": [], "description": "d"} for v in vuln_ids]}


def test_pip_audit_report_with_a_nan_version_is_an_error_not_a_pass(tmp_path: Path) -> None:
    # JSON NaN parses to a float in Python: the report used to pass with one "audited" dependency.
    result = ingest_report(tmp_path, '{"dependencies": [{"name": "requests", "version": NaN, "vulns": []}]}')
    assert result.status is Status.ERROR
    assert "report.json" in result.summary and "NaN" in result.summary


@pytest.mark.parametrize(("entry", "place"), [
    ({"name": "p", "version": 1.5, "vulns": []}, "dependencies[0].version"),
    ({"name": "p", "version": "not a version", "vulns": []}, "dependencies[0].version"),
    ({"name": 3, "version": "1.0", "vulns": []}, "dependencies[0].name"),
    ({"name": "p", "version": "1.0", "vulns": {"id": "X"}}, "dependencies[0].vulns"),
    ({"name": "p", "version": "1.0", "vulns": [{"id": None}]}, "dependencies[0].vulns[0].id"),
    ({"name": "p", "version": "1.0", "vulns": [{"id": "X", "aliases": "CVE-1"}]}, "dependencies[0].vulns[0].aliases"),
    ({"name": "p", "version": "1.0", "vulns": [{"id": "X", "fix_versions": [2]}]},
     "dependencies[0].vulns[0].fix_versions[0]"),
    ({"name": "p", "skip_reason": ["no"]}, "dependencies[0].skip_reason"),
    (["p", "1.0"], "dependencies[0]"),
])
def test_malformed_pip_audit_fields_are_named(tmp_path: Path, entry: Any, place: str) -> None:
    (tmp_path / "r.json").write_text(json.dumps(pip_report(entry)))
    with pytest.raises(ParseError) as caught:
        read_report(tmp_path / "r.json")
    assert caught.value.place == place


NPM_VIA = {"source": 1094222, "name": "debug", "dependency": "debug", "title": "ReDoS in debug",
           "url": "https://github.com/advisories/GHSA-gxpj-cx7g-858c", "severity": "moderate", "cwe": ["CWE-400"],
           "cvss": {"score": 5.3, "vectorString": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}, "range": "<2.6.9"}


NPM_V1 = {"advisories": {"146": {
    "findings": [{"version": "1.9.2", "paths": ["mocha>growl"], "dev": True}], "id": 146, "title": "Command Injection",
    "module_name": "growl", "cves": ["CVE-2017-16042"], "vulnerable_versions": "<1.10.2",
    "patched_versions": ">=1.10.2", "severity": "critical", "cwe": "CWE-94", "url": "https://www.npmjs.com/advisories/146"}},
    "metadata": {"vulnerabilities": {"critical": 1}, "totalDependencies": 43}}


def npm_report(via: Any = None, total: int = 2, **entry: Any) -> dict[str, Any]:
    body = {"name": "debug", "severity": "moderate", "isDirect": True, "via": [NPM_VIA if via is None else via, "ms"],
            "effects": [], "range": "<=2.6.8", "nodes": ["node_modules/debug"], "fixAvailable": True, **entry}
    return {"auditReportVersion": 2, "vulnerabilities": {"debug": body}, "metadata": {
        "vulnerabilities": {"info": 0, "low": 0, "moderate": 1, "high": 0, "critical": 0, "total": 1},
        "dependencies": {"prod": total, "dev": 0, "optional": 0, "peer": 0, "peerOptional": 0, "total": total}}}


@pytest.mark.parametrize(("document", "place"), [
    (npm_report(via={**NPM_VIA, "cvss": {"score": 11, "vectorString": None}}), "cvss.score"),
    (npm_report(via={**NPM_VIA, "cvss": {"score": -0.1, "vectorString": None}}), "cvss.score"),
    (npm_report(via={**NPM_VIA, "cvss": {"score": True, "vectorString": None}}), "cvss.score"),
    (npm_report(via={**NPM_VIA, "severity": "urgent"}), ".severity"),
    (npm_report(via={**NPM_VIA, "source": True}), ".source"),
    (npm_report(via={**NPM_VIA, "cwe": "CWE-400"}), ".cwe"),
    (npm_report(severity=7), "vulnerabilities['debug'].severity"),
    (npm_report(fixAvailable="yes"), "fixAvailable"),
    (npm_report(via="debug"), ""),  # a via that only names a package is valid
    ({**npm_report(), "vulnerabilities": [1]}, "vulnerabilities"),
    ({**npm_report(), "metadata": {"vulnerabilities": {"total": 5}}}, "metadata.vulnerabilities.total"),
    ({**npm_report(), "metadata": {"dependencies": {"total": 2.5}}}, "metadata.dependencies.total"),
])
def test_malformed_npm_audit_fields_are_named(tmp_path: Path, document: dict[str, Any], place: str) -> None:
    (tmp_path / "n.json").write_text(json.dumps(document))
    if not place:
        assert read_report(tmp_path / "n.json").kind == "npm"
        return
    with pytest.raises(ParseError) as caught:
        read_report(tmp_path / "n.json")
    assert place in caught.value.place


def test_npm_cvss_score_is_used_without_a_vector_and_its_edges_are_kept(tmp_path: Path) -> None:
    for score, label in ((10, "critical"), (0, "medium")):  # 0: npm's "no CVSS"; the label decides
        (tmp_path / "n.json").write_text(json.dumps(npm_report(via={**NPM_VIA, "cvss": {"score": score,
                                                                                          "vectorString": None}})))
        vuln = read_report(tmp_path / "n.json").vulnerabilities[0]
        assert vuln.severity == label


@pytest.mark.parametrize(("change", "place"), [
    ({"aliases": "CVE-1"}, "aliases"),
    ({"affected": {"package": {}}}, "affected"),
    ({"id": 12}, "id"),
    ({"summary": ["x"]}, "summary"),
    ({"severity": [{"type": "CVSS_V3", "score": 7.5}]}, "severity[0].score"),
])
def test_malformed_osv_records_are_problems_naming_the_place(tmp_path: Path, change: dict[str, Any],
                                                              place: str) -> None:
    broken = {**record("PYSEC-20", "pkg", [{"introduced": "0"}]), **change}
    result = audit(tmp_path, "other==1.0\n", [record("PYSEC-21", "x", [{"introduced": "0"}]), broken])
    assert result.status is Status.ERROR
    assert any(f"{broken['id']}.json: {place}" in r for r in result.reasons), result.reasons


def test_osv_event_values_must_be_text_and_one_kind(tmp_path: Path) -> None:
    db = write_db(tmp_path / "osv", [record("PYSEC-22", "pkg", [{"introduced": "0"}, {"fixed": 1.2}]),
                                     record("PYSEC-23", "pkg", [{"introduced": "0", "fixed": "2"}]),
                                     record("PYSEC-24", "pkg", [{"introduced": "0"}])])
    problems = osv.load_database(db).problems
    assert problems == ["PYSEC-22.json: affected[0].ranges[0].events[1].fixed: is 1.2, not text",
                        "PYSEC-23.json: affected[0].ranges[0].events[0]: must hold exactly one of introduced, "
                        "fixed, last_affected, limit"]


def test_a_range_bound_that_is_not_a_version_leaves_the_pin_undecided(tmp_path: Path) -> None:
    # As in the real PyPA record of binderhub (fixed: 0.2.0-n653): "not affected" would be a guess.
    records = [record("PYSEC-25", "pkg", [{"introduced": "0"}, {"fixed": "0.2.0-n653"}])]
    result = audit(tmp_path, "pkg==0.1\n", records)
    assert result.status is Status.ERROR
    assert any("PYSEC-25" in r and "'0.2.0-n653' is not a PEP 440 version" in r for r in result.reasons)
    accepted = audit(tmp_path / "accepted", "pkg==0.1\nother==1.0\n", records, allow_unaudited=True)
    assert accepted.status is Status.PASS and accepted.findings == ()


def test_a_pin_that_is_not_a_pep_440_version_is_not_audited(tmp_path: Path) -> None:
    result = audit(tmp_path, "pkg===foo\n", [record("PYSEC-26", "pkg", [{"introduced": "0"}])])
    assert result.status is Status.ERROR
    assert any("'foo' is not a PEP 440 version" in r for r in result.reasons)


# --- Incomplete evidence is not a pass: every pin accounted for ---------------------------------------


def test_report_that_omits_a_pin_is_an_error_naming_it(tmp_path: Path) -> None:
    report = json.dumps(pip_report(pip_dep("requests", "2.32.4")))
    result = ingest_report(tmp_path, report, pins="requests==2.32.4\nurllib3==2.2.2\n")
    assert result.status is Status.ERROR
    assert any(r.startswith("urllib3==2.2.2 (requirements.txt:2) is pinned, but report.json does not mention it")
               for r in result.reasons)
    measured = {m.name: m for m in result.measurements}
    assert measured["dependencies unaccounted for"].value == 1 and measured["dependencies unaccounted for"].ok is False


def test_report_of_another_version_does_not_account_for_the_pin(tmp_path: Path) -> None:
    result = ingest_report(tmp_path, json.dumps(pip_report(pip_dep("requests", "2.32.4"))), pins="requests==2.19.0\n")
    assert result.status is Status.ERROR
    assert any("audited requests 2.32.4, another version" in r for r in result.reasons)


def test_names_compare_per_pep_503_and_versions_as_versions(tmp_path: Path) -> None:
    report = json.dumps(pip_report(pip_dep("zope-interface", "6.0.0"), pip_dep("ruamel.yaml", "0.18")))
    result = ingest_report(tmp_path, report, pins="Zope.Interface==6.0\nruamel_yaml==0.18.0\n")
    assert result.status is Status.PASS, result.reasons


def test_a_pin_skipped_with_a_reason_is_accounted_for_but_not_audited(tmp_path: Path) -> None:
    report = json.dumps(pip_report(pip_dep("requests", "2.32.4"),
                                   {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI"}))
    result = ingest_report(tmp_path, report, pins="requests==2.32.4\nprivate-pkg==1.0\n")
    assert result.status is Status.ERROR and result.summary == "1 dependencies were not audited."
    accepted = ingest_report(tmp_path / "ok", report, pins="requests==2.32.4\nprivate-pkg==1.0\n",
                             allow_unaudited=True)
    assert accepted.status is Status.PASS
    assert {m.name: m.ok for m in accepted.measurements}["dependencies not audited"] is None


def test_an_unaccounted_pin_is_not_excused_by_allow_unaudited(tmp_path: Path) -> None:
    result = ingest_report(tmp_path, json.dumps(pip_report(pip_dep("a", "1.0"))), pins="a==1.0\nb==1.0\n",
                           allow_unaudited=True)
    assert result.status is Status.ERROR


def test_a_waived_vulnerability_cannot_hide_a_dependency_nobody_audited(tmp_path: Path) -> None:
    report = json.dumps(pip_report(pip_dep("a", "1.0", "PYSEC-30"), {"name": "b", "skip_reason": "not found"}))
    waiver = {"check": "audit", "id": "PYSEC-30", "reason": "not reachable", "owner": "sec",
              "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat()}
    result = ingest_report(tmp_path, report, waivers=[waiver])
    assert result.status is Status.ERROR  # was `waived`, a pass, with b never audited
    assert any("b (report.json) was not audited" in r for r in result.reasons)


def test_an_npm_report_must_count_every_locked_package(tmp_path: Path) -> None:
    lock = {"lockfileVersion": 3, "packages": {"": {"name": "app"}, "node_modules/debug": {"version": "2.6.8"},
                                               "node_modules/ms": {"version": "2.0.0"},
                                               "node_modules/left-pad": {"version": "1.3.0"}}}
    short = ingest_report(tmp_path / "short", json.dumps(npm_report(total=2)), lock=lock)
    assert short.status is Status.ERROR
    assert any("package-lock.json holds 3 packages, but report.json audited only 2" in r for r in short.reasons)
    full = ingest_report(tmp_path / "full", json.dumps(npm_report(total=3)), lock=lock, fail_at="critical")
    assert full.status is Status.PASS, full.reasons
    wrong_kind = ingest_report(tmp_path / "pip", json.dumps(pip_report(pip_dep("a", "1.0"))), lock=lock)
    assert wrong_kind.status is Status.ERROR
    assert any("is not an npm audit report" in r for r in wrong_kind.reasons)


def test_online_pip_audit_dropping_a_pin_is_an_error(tmp_path: Path) -> None:
    """The real pip-audit leaves out a pin whose environment marker does not match this interpreter."""
    pytest.importorskip("pip_audit", reason="pip-audit is not installed (nox -s tests installs it)")
    (tmp_path / "requirements.txt").write_text('requests==2.32.4\nidna==3.7 ; python_version < "3"\n')
    body = {"version": 1, "checks": {"audit": {"requirements": ["requirements.txt"], "timeout_s": 120}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    report = json.loads((tmp_path / "reports" / "evidence" / "pip-audit-1.json").read_text())
    assert [d["name"] for d in report["dependencies"]] == ["requests"]  # what pip-audit itself wrote
    assert result.status is Status.ERROR
    assert any(r.startswith("idna==3.7 (requirements.txt:2) is pinned, but pip-audit-1.json does not mention it")
               for r in result.reasons), result.reasons


def _npm_project(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0",
                                                     "dependencies": {"left-pad": "1.3.0"}}))
    (folder / "package-lock.json").write_text(json.dumps({
        "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": True, "packages": {
            "": {"name": "app", "version": "1.0.0", "dependencies": {"left-pad": "1.3.0"}},
            "node_modules/left-pad": {"version": "1.3.0", "resolved":
                                      "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"}}}))


def test_online_npm_audit_runs_through_the_tool_helper_and_never_passes_unaccounted(tmp_path: Path) -> None:
    need_tool("npm")
    _npm_project(tmp_path)
    body = {"version": 1, "checks": {"audit": {"npm_lock": "package-lock.json", "timeout_s": 120}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    evidence = tmp_path / "reports" / "evidence"
    assert {"npm-audit.json", "npm-audit.log"} <= {Path(e).name for e in result.evidence}
    assert result.tool.command[1:] == ("audit", "--json", "--package-lock-only") and result.tool.exit_code is not None
    report = json.loads((evidence / "npm-audit.json").read_text())  # stdout only: warnings went to the log
    if "error" in report:  # the registry's audit endpoint refused (as it does from this sandbox)
        assert result.status is Status.ERROR and "npm-audit.json: error: npm audit did not run: " in result.summary
    else:
        assert result.status is not Status.PASS or report["metadata"]["dependencies"]["total"] >= 1


def test_online_npm_audit_past_its_budget_is_an_error(tmp_path: Path) -> None:
    need_tool("npm")
    _npm_project(tmp_path)
    body = {"version": 1, "checks": {"audit": {"npm_lock": "package-lock.json", "timeout_s": 0.2}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and "npm did not finish within 0.2 s" in result.summary


# --- Hypothesis: hostile reports raise only ParseError ------------------------------------------------


@fuzz(200)
@given(mutated(pip_report(pip_dep("requests", "2.19.0", "PYSEC-2018-28"),
                          {"name": "x", "skip_reason": "not found"})))
def test_mutated_pip_audit_reports_raise_only_parse_errors(document: Any) -> None:
    with contextlib.suppress(ParseError):
        pip_audit_contents(document, Path("pip-audit.json"))


@fuzz(200)
@given(st.one_of(mutated(npm_report()), mutated(NPM_V1)))
def test_mutated_npm_audit_reports_raise_only_parse_errors(document: Any) -> None:
    with contextlib.suppress(ParseError):
        npm_audit_contents(document, Path("npm-audit.json"))


@fuzz(200)
@given(mutated(record("GHSA-x", "pkg", [{"introduced": "1.0"}, {"fixed": "2.0"}], aliases=["CVE-1"],
                      severity=[{"type": "CVSS_V3", "score": HIGH_VECTOR}], versions=["1.0"],
                      database_specific={"severity": "HIGH"})), st.sampled_from(["1.5", "0.1", "2.0", "1.0"]))
def test_mutated_osv_records_raise_only_parse_errors_and_match_cleanly(document: Any, version: str) -> None:
    try:
        parsed = osv.read_record(document, "GHSA-x.json")
    except ParseError:
        return
    for affected in parsed.affected if parsed else ():
        try:
            osv.is_affected(affected, osv.PYPI, version)
        except ValueError as exc:  # documented: a bound that is not a version
            assert "version" in str(exc)


@fuzz(150)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 st.sampled_from([b"NaN", b"[" * 5000, b'{"dependencies": 1e999}', b"\xff\xfe{", b""])))
def test_any_bytes_as_a_report_raise_only_parse_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.json"
        path.write_bytes(data)
        try:
            read_report(path)
        except ParseError as exc:
            assert exc.path == str(path)
