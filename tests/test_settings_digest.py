"""Each result records the digest of the settings it ran under; the verdict holds every result to its own config."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline._cli import main
from pipeline.gate import load_config
from pipeline.model import Status
from pipeline.results import held_to_settings
from pipeline.runner import write_result
from pipeline.settings_digest import expected_digests, settings_digest
from tests.conftest import REPO, result, write_config
from tests.test_noxfile import nox

SPEC = REPO / "examples" / "orders-service" / "openapi.json"
GATE = f"""\
version: 1
service: {{name: orders}}
checks:
  openapi: {{spec: {SPEC}, require_sla: true}}
  explain: {{dsn: "${{READINESS_DATABASE_URL:-}}", queries: [{{name: q, sql: "SELECT 1", max_ms: 50}}]}}
waivers:
  - {{check: audit, id: PYSEC-1, reason: accepted risk, owner: Rita, expires: 2099-01-01}}
"""
DIFFERENT = "produced under different settings"


def digests(tmp_path: Path, body: str, **env: str) -> dict[str, str]:
    return expected_digests(load_config(write_config(tmp_path, body), env={**os.environ, **env}))


def test_a_threshold_changes_only_its_checks_digest(tmp_path: Path) -> None:
    before = digests(tmp_path / "a", GATE)
    after = digests(tmp_path / "b", GATE.replace("max_ms: 50", "max_ms: 500"))
    assert {name for name in before if before[name] != after[name]} == {"explain"}
    assert all(d.startswith("sha256:") and len(d) == 71 for d in before.values())


def test_a_waiver_is_part_of_its_checks_settings(tmp_path: Path) -> None:
    before = digests(tmp_path / "a", GATE)
    after = digests(tmp_path / "b", GATE.replace("PYSEC-1", "PYSEC-2"))
    assert {name for name in before if before[name] != after[name]} == {"audit"}


def test_the_environment_enters_as_its_reference_never_its_value(tmp_path: Path) -> None:
    secret = "postgresql://app:s3cr3t-pw@db:5432/orders"
    one = digests(tmp_path / "a", GATE, READINESS_DATABASE_URL=secret)
    other = digests(tmp_path / "b", GATE, READINESS_DATABASE_URL="postgresql://other@127.0.0.1:1/x")
    assert one == other  # the job that ran the check and the one that aggregates may differ in their environment


def test_the_digest_is_of_the_settings_that_were_loaded_not_of_the_file_read_again(tmp_path: Path) -> None:
    path = write_config(tmp_path, GATE)
    loaded = load_config(path)
    before = settings_digest(loaded, "explain")
    path.write_text(GATE.replace("max_ms: 50", "max_ms: 5000"))  # loosened after the check loaded its config
    assert settings_digest(loaded, "explain") == before
    assert settings_digest(load_config(path), "explain") != before


def test_a_profile_is_merged_before_the_digest(tmp_path: Path) -> None:
    body = GATE + "profiles:\n  release: {checks: {openapi: {require_sla: false}}}\n"
    path = write_config(tmp_path, body)
    local, release = load_config(path, "local"), load_config(path, "release")
    assert settings_digest(local, "openapi") != settings_digest(release, "openapi")
    assert settings_digest(local, "nothing-such") is None


@pytest.mark.parametrize(("recorded", "why"), [(None, "records no settings digest"),
                                                ("sha256:" + "0" * 64, "its settings digest sha256:000")])
def test_a_result_of_other_or_unknown_settings_is_an_error_with_what_to_do(recorded: str | None, why: str) -> None:
    (held,) = held_to_settings([replace(result("openapi", Status.PASS), settings_digest=recorded)],
                               {"openapi": "sha256:" + "1" * 64})
    assert held.status is Status.ERROR
    assert held.summary == ("Produced under different settings: re-run the check, or run verdict with the config "
                            "it ran with.")
    assert why in held.reasons[0] and "sha256:" + "1" * 64 in held.reasons[0]


def test_a_matching_result_an_error_and_a_verdict_without_config_are_left_alone() -> None:
    matching = replace(result("openapi", Status.FAIL), settings_digest="sha256:" + "1" * 64)
    crashed = replace(result("k6", Status.ERROR), settings_digest=None)
    assert held_to_settings([matching, crashed], {"openapi": "sha256:" + "1" * 64, "k6": "x"}) == (matching, crashed)
    stray = result("openapi", Status.PASS)
    assert held_to_settings([stray], None) == (stray,)


def verdict_of(reports: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((reports / "readiness.json").read_text())
    return {c["check"]: c for c in data["checks"]} | {"verdict": data["verdict"]}


def test_run_records_the_digest_and_its_verdict_accepts_it_a_looser_config_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, GATE)
    reports = tmp_path / "reports"
    assert main(["run", "--only", "openapi", "--config", str(config), "--reports-dir", str(reports)]) == 2
    written = json.loads((reports / "results" / "openapi.json").read_text())
    assert written["settings_digest"] == expected_digests(load_config(config))["openapi"]
    assert verdict_of(reports)["openapi"]["status"] == "pass"

    looser = write_config(tmp_path / "looser", GATE.replace("require_sla: true", "require_sla: false"))
    assert main(["verdict", "--reports-dir", str(tmp_path / "again"), "--results", str(reports / "results"),
                 "--config", str(looser)]) == 2
    again = verdict_of(tmp_path / "again")["openapi"]
    assert again["status"] == "error" and DIFFERENT in again["summary"].lower()


def test_a_result_without_a_digest_from_an_older_gate_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, GATE)
    reports = tmp_path / "reports"
    write_result(replace(result("openapi", Status.PASS), settings_digest=None), reports)
    assert main(["verdict", "--reports-dir", str(reports), "--config", str(config)]) == 2
    shown = verdict_of(reports)["openapi"]
    assert shown["status"] == "error" and "records no settings digest" in shown["reasons"][0]


def test_the_nox_flow_each_check_a_session_then_the_verdict_holds_them_to_the_same_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, GATE)
    out = tmp_path / "out"
    done = nox("-s", "prepare", "openapi", "verdict", "--", "--config", str(config), "--reports-dir", str(out),
               tmp_path=tmp_path)
    assert "VERDICT: INCOMPLETE" in done.stdout + done.stderr, done.stdout + done.stderr
    shown = verdict_of(out)["openapi"]
    assert shown["status"] == "pass" and shown["settings_digest"] == expected_digests(load_config(config))["openapi"]
    # The same results, aggregated with a config that no longer asks for an SLA: not accepted.
    looser = write_config(tmp_path / "looser", GATE.replace("require_sla: true", "require_sla: false"))
    assert main(["verdict", "--results", str(out / "results"), "--reports-dir", str(tmp_path / "v"),
                 "--config", str(looser)]) == 2
    assert DIFFERENT in verdict_of(tmp_path / "v")["openapi"]["summary"].lower()
