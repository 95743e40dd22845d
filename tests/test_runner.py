"""The runner: a crashing or hanging check becomes error and the next check still runs; waivers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import runner
from pipeline.checks import registry
from pipeline.checks.interface import Check, CheckContext, CheckSettings, Evaluation
from pipeline.config import Config
from pipeline.errors import ToolFailed
from pipeline.model import CheckResult, Finding, Status, Waiver
from tests.conftest import config_from


class FakeSettings(CheckSettings):
    """What the fake is told to do."""

    behaviour: str = ""
    findings: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


class FakeCheck(Check[FakeSettings, FakeSettings, FakeSettings]):
    """A test double that subclasses the real base class; its behaviour comes from settings."""

    name = "openapi"
    title = "fake"
    order = 20
    Settings = FakeSettings

    def collect(self, settings: FakeSettings, ctx: CheckContext) -> FakeSettings:
        if settings.behaviour == "tool-fails":
            raise ToolFailed("spec-tool exited with 2", "read evidence/spec.log")
        if settings.behaviour == "crash":
            raise ZeroDivisionError("division by zero")
        if settings.behaviour == "hang":
            time.sleep(60)
        for name in settings.evidence:
            ctx.add_evidence(ctx.resolve(name))
        return settings

    def parse(self, raw: FakeSettings) -> FakeSettings:
        return raw

    def evaluate(self, parsed: FakeSettings, settings: FakeSettings) -> Evaluation:
        findings = tuple(Finding(i, "high", f"finding {i}") for i in parsed.findings)
        status = Status.FAIL if findings else Status.PASS
        if parsed.behaviour == "lies":  # a defect: pass over a failing finding
            status = Status.PASS
        return Evaluation(status, f"{len(findings)} findings", findings=findings)


def use_check(monkeypatch: pytest.MonkeyPatch, check: Any) -> None:
    """Run ``check`` in place of the registered check of the same name."""
    monkeypatch.setattr(registry, "_active", registry.registry().replacing(check))


@pytest.fixture
def fake_check(monkeypatch: pytest.MonkeyPatch) -> None:
    use_check(monkeypatch, FakeCheck)


def run(tmp_path: Path, settings: str, waivers: str = "", today: dt.date | None = None) -> CheckResult:
    # The fake's settings are not in the config schema, so the config is built unvalidated.
    data = yaml.safe_load(f"version: 1\nchecks:\n  openapi: {settings}\n{waivers}")
    config = Config(tmp_path / "readiness.yaml", "local", data)
    return runner.run_check("openapi", config, tmp_path / "reports", tmp_path, today=today)


@pytest.mark.usefixtures("fake_check")
def test_tool_failure_becomes_error_with_reason_and_hint(tmp_path: Path) -> None:
    result = run(tmp_path, "{behaviour: tool-fails}")
    assert result.status is Status.ERROR
    assert result.reasons == ("spec-tool exited with 2", "read evidence/spec.log")


@pytest.mark.usefixtures("fake_check")
def test_crash_becomes_error_and_result_file_is_written(tmp_path: Path) -> None:
    result = run(tmp_path, "{behaviour: crash}")
    assert result.status is Status.ERROR
    assert "ZeroDivisionError" in result.summary
    written = json.loads((tmp_path / "reports/results/openapi.json").read_text())
    assert written["status"] == "error"


@pytest.mark.usefixtures("fake_check")
def test_hanging_check_is_abandoned_at_its_budget(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "WATCHDOG_GRACE_S", 0.0)
    started = time.monotonic()
    result = run(tmp_path, "{behaviour: hang, timeout_s: 0.5}")
    assert result.status is Status.ERROR
    assert "0.5 s budget" in result.summary
    assert time.monotonic() - started < 10


def test_disabled_check_is_skipped_with_the_key_to_enable_it(tmp_path: Path) -> None:
    result = run(tmp_path, "{enabled: false}")
    assert result.status is Status.SKIPPED
    assert "checks.openapi.enabled: false" in result.summary


def test_unimplemented_check_is_an_error(tmp_path: Path) -> None:
    result = runner.run_check("zap", config_from(tmp_path, "version: 1\nchecks: {}\n"),
                              tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR


WAIVER = "waivers:\n  - {check: openapi, id: A, reason: accepted, owner: ann, expires: 2026-11-27}\n"


@pytest.mark.usefixtures("fake_check")
def test_valid_waiver_turns_fail_into_waived(tmp_path: Path) -> None:
    result = run(tmp_path, "{findings: [A]}", WAIVER, today=dt.date(2026, 11, 27))
    assert result.status is Status.WAIVED
    assert result.findings[0].waived_by == "A"
    assert [w.id for w in result.waivers_applied] == ["A"]


@pytest.mark.usefixtures("fake_check")
def test_waiver_expired_yesterday_no_longer_applies(tmp_path: Path) -> None:
    result = run(tmp_path, "{findings: [A]}", WAIVER, today=dt.date(2026, 11, 28))
    assert result.status is Status.FAIL
    assert result.findings[0].waived_by is None
    assert [w.id for w in result.waivers_expired] == ["A"]
    assert any("expired on 2026-11-27" in r for r in result.reasons)


@pytest.mark.usefixtures("fake_check")
def test_partial_waiver_keeps_the_fail(tmp_path: Path) -> None:
    result = run(tmp_path, "{findings: [A, B]}", WAIVER, today=dt.date(2026, 11, 1))
    assert result.status is Status.FAIL
    assert [f.waived_by for f in result.findings] == ["A", None]


@pytest.mark.usefixtures("fake_check")
def test_stale_waiver_is_reported(tmp_path: Path) -> None:
    result = run(tmp_path, "{findings: []}", WAIVER, today=dt.date(2026, 11, 1))
    assert result.status is Status.PASS
    assert any("matches no finding" in r for r in result.reasons)


def test_waiver_matches_an_alias() -> None:
    finding = Finding("PYSEC-1", "high", "t", aliases=("CVE-1", "GHSA-x"))
    base = CheckResult("audit", Status.FAIL, "s", findings=(finding,))
    waiver = Waiver("audit", "CVE-1", "r", "o", dt.date(2030, 1, 1))
    assert runner.apply_waivers(base, [waiver], dt.date(2026, 1, 1)).status is Status.WAIVED


def test_a_check_whose_module_cannot_load_is_an_error_and_the_rest_runs(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    use_check(monkeypatch, registry.unloadable("openapi", ImportError("No module named 'openapi_spec_validator'")))
    config = Config(path=tmp_path / "c.yaml", profile="local", data={"checks": {}})
    result = runner.run_check("openapi", config, tmp_path, tmp_path)
    assert result.status is Status.ERROR
    assert "cannot load in this environment: No module named 'openapi_spec_validator'" in result.summary


@pytest.mark.usefixtures("fake_check")
def test_a_check_that_contradicts_its_own_findings_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path, "{behaviour: lies, findings: [A]}")
    assert result.status is Status.ERROR
    assert any("status pass, but 1 failing finding(s) are not waived: A" in r for r in result.reasons)


@pytest.mark.usefixtures("fake_check")
def test_evidence_outside_the_reports_folder_is_copied_in_and_digested(tmp_path: Path) -> None:
    spec = tmp_path / "api" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text("openapi: 3.1.0\n")
    inside = tmp_path / "reports" / "evidence" / "tool.log"
    inside.parent.mkdir(parents=True)
    inside.write_text("log")
    result = run(tmp_path, "{evidence: [api/spec.yaml, reports/evidence/tool.log]}")
    copy = "evidence/ingested/openapi/api/spec.yaml"
    assert result.evidence == (copy, "evidence/tool.log")
    assert (tmp_path / "reports" / copy).read_text() == "openapi: 3.1.0\n"
    [ingested] = result.ingested
    assert ingested.original == str(spec.resolve()) and ingested.copy == copy
    assert ingested.sha256 == hashlib.sha256(b"openapi: 3.1.0\n").hexdigest()
    written = json.loads((tmp_path / "reports/results/openapi.json").read_text())
    assert written["ingested"] == [ingested.to_dict()]
    # The next run of the check starts from a clean folder: no copy of this run is left over.
    assert run(tmp_path, "{}").ingested == ()
    assert not (tmp_path / "reports" / copy).exists()


@pytest.mark.usefixtures("fake_check")
def test_evidence_outside_the_project_keeps_its_whole_path(tmp_path: Path) -> None:
    outside = Path(tempfile.mkdtemp()) / "summary.json"
    outside.write_text("{}")
    result = run(tmp_path, f"{{evidence: [{outside}]}}")
    assert result.evidence == (f"evidence/ingested/openapi/_absolute{outside}",)
    shutil.rmtree(outside.parent)


@pytest.mark.usefixtures("fake_check")
def test_what_the_runner_waives_the_verdict_accepts(tmp_path: Path) -> None:
    from pipeline.results import read_result

    waiver = "waivers:\n  - {check: openapi, id: A, reason: accepted, owner: ann, expires: 2099-12-31}\n"
    result = run(tmp_path, "{findings: [A]}", waiver)
    assert result.status is Status.WAIVED
    assert read_result(tmp_path / "reports/results/openapi.json").status is Status.WAIVED
