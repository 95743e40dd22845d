"""The audit check on small OSV databases and reports written here; the real ones are in tests/compat."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from packaging.version import Version

from pipeline.checks import osv
from pipeline.checks.audit import AuditParsed, evaluate_audit
from pipeline.checks.audit_reports import Dependency, Vulnerability, read_requirements, severity_from_vector
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import config_from

HIGH_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5
MEDIUM_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N"  # 5.3


def record(id_: str, name: str, events: list[dict[str, str]], ecosystem: str = "PyPI", **extra: Any) -> dict[str, Any]:
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
    assert below.status is Status.FAIL and [f.id for f in below.findings] == ["PYSEC-1"]
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
    assert [f.id for f in result.findings] == ["CVE-2099-0001"]
    finding = result.findings[0]
    assert finding.details["aliases"] == ["GHSA-aaaa-bbbb-cccc", "PYSEC-4"]
    assert finding.details["fixed"] == ["3.0", "3.0.1"] and finding.details["score"] == 7.5
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
    hit = audit(tmp_path, "pkg==1.0\n", records)
    assert hit.status is Status.FAIL and hit.findings[0].id == "PYSEC-8"


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
    assert evaluate_audit(parsed, {}).status is Status.ERROR
    vuln = Vulnerability("p", "1", ("CVE-1",), "s", "low", 2.0, (), "r.txt")
    only_low = AuditParsed("offline", (Dependency("PyPI", "p", "1", "r.txt:1"),), (vuln,), ())
    assert evaluate_audit(only_low, {}).status is Status.PASS


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
