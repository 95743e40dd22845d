"""Sign-off: the verdict is recomputed before signing; verification catches every kind of change."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline._cli import main
from pipeline.model import Status
from pipeline.runner import write_result
from tests.conftest import MANDATORY, REPO, result, write_config, write_results


def readiness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ready verdict signed off with a config file; returns the record's path."""
    monkeypatch.chdir(tmp_path)  # no configs/readiness.yaml here: only --config counts
    reports = tmp_path / "reports"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    assert main(["verdict", "--reports-dir", str(reports)]) == 0
    config = write_config(tmp_path, "version: 1\nchecks: {}\n")
    assert main(["signoff", "--release", "1.0", "--approver", "Rita", "--reports-dir", str(reports),
                 "--config", str(config)]) == 0
    record = reports / "signoff-1.0.json"
    assert main(["verify-signoff", str(record)]) == 0
    return record


def verify(record: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify-signoff", str(record)])
    return code, capsys.readouterr().out


def test_signoff_refuses_a_verdict_the_results_do_not_support(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    assert main(["verdict", "--reports-dir", str(reports)]) == 0
    write_result(result("k6", Status.FAIL), reports)  # the results changed after the verdict
    done = readiness("signoff", "--release", "2", "--approver", "x", cwd=tmp_path)
    assert done.returncode == 3
    assert "the verdict is ready in readiness.json but not_ready from the results" in done.stderr
    assert "k6 is pass in readiness.json but fail in the results" in done.stderr
    assert not list(reports.glob("signoff-*.json"))


def test_signoff_refuses_an_edited_verdict(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    write_results(reports, {"coverage": Status.PASS})
    assert main(["verdict", "--reports-dir", str(reports)]) == 2
    verdict = json.loads((reports / "readiness.json").read_text())
    verdict.update(verdict="ready", exit_code=0)
    (reports / "readiness.json").write_text(json.dumps(verdict))
    assert main(["signoff", "--release", "2", "--approver", "x", "--reports-dir", str(reports)]) == 3


def test_signoff_of_results_from_other_folders_needs_them_named(tmp_path: Path) -> None:
    write_results(tmp_path / "a", {n: Status.PASS for n in MANDATORY})
    reports = tmp_path / "reports"
    assert main(["verdict", "--results", str(tmp_path / "a/results"), "--reports-dir", str(reports)]) == 0
    assert main(["signoff", "--release", "3", "--approver", "x", "--reports-dir", str(reports)]) == 3
    assert main(["signoff", "--release", "3", "--approver", "x", "--reports-dir", str(reports),
                 "--results", str(tmp_path / "a/results")]) == 0


@pytest.mark.parametrize("where", ["notes.txt", "self/extra.xml", "evidence/deep/new.log", "results/k7.json"])
def test_a_new_file_anywhere_under_reports_is_detected(signed: Path, where: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    added = signed.parent / where
    added.parent.mkdir(parents=True, exist_ok=True)
    added.write_text("x")
    code, out = verify(signed, capsys)
    assert code == 7 and f"added:   {where}" in out  # issue 16: each kind of change has its own code


def test_other_signoff_records_are_not_covered(signed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signoff", "--release", "1.1", "--approver", "Rita", "--reports-dir", str(signed.parent)]) == 0
    assert verify(signed, capsys)[0] == 0


def test_a_changed_config_is_detected(signed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = json.loads(signed.read_text())
    config = Path(record["config"]["path"])
    assert record["config"]["resolved_digest"] == record["config_digest"]
    config.write_text(config.read_text() + "# loosened later\n")
    code, out = verify(signed, capsys)
    assert code == 1 and f"changed: config {config}" in out
    config.unlink()
    assert f"missing: config {config}" in verify(signed, capsys)[1]


@pytest.mark.parametrize(("field", "value"), [("approver", "Mallory"), ("verdict", "ready"),
                                              ("files", {}), ("release", "9.9")])
def test_an_edited_record_is_detected(signed: Path, field: str, value: object,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    record = json.loads(signed.read_text())
    if record[field] == value:
        value = "something else"
    record[field] = value
    signed.write_text(json.dumps(record))
    code, out = verify(signed, capsys)
    assert code == 1 and "the record's own fields" in out


def test_a_record_without_its_digest_is_not_intact(signed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = json.loads(signed.read_text())
    del record["record_sha256"]
    signed.write_text(json.dumps(record))
    code, out = verify(signed, capsys)
    assert code == 1 and "carries no digest of its own fields" in out


def test_ingested_evidence_is_copied_signed_and_its_original_checked(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # A real openapi check reads a spec that lives outside the reports folder.
    spec = tmp_path / "api" / "openapi.json"
    spec.parent.mkdir()
    shutil.copyfile(REPO / "examples" / "orders-service" / "openapi.json", spec)
    others = "".join(f"  {n}: {{enabled: false}}\n" for n in MANDATORY if n != "openapi")
    write_config(tmp_path, "version: 1\nchecks:\n  openapi: {spec: api/openapi.json}\n" + others)
    done = readiness("run", "--config", "readiness.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr  # the disabled checks are skipped
    openapi = json.loads((tmp_path / "reports/results/openapi.json").read_text())
    assert openapi["status"] == "pass"
    assert openapi["evidence"] == ["evidence/ingested/openapi/api/openapi.json"]
    assert openapi["ingested"][0]["original"] == str(spec.resolve())
    done = readiness("signoff", "--release", "4", "--approver", "x", "--config", "readiness.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    record_path = tmp_path / "reports" / "signoff-4.json"
    record = json.loads(record_path.read_text())
    assert "evidence/ingested/openapi/api/openapi.json" in record["files"]
    assert record["ingested"]["evidence/ingested/openapi/api/openapi.json"]["original"] == str(spec.resolve())
    assert verify(record_path, capsys)[0] == 0
    spec.write_text(spec.read_text().replace('"400"', '"499"'))  # edited where the sign-off cannot see
    code, out = verify(record_path, capsys)
    assert code == 6 and f"changed: {spec.resolve()} (outside the reports folder" in out  # an evidence file
    spec.unlink()  # gone (a CI workspace cleaned up): the signed copy still proves what was judged
    code, out = verify(record_path, capsys)
    assert code == 0 and "is no longer there; the copy is what was signed" in out
