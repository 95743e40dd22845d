"""The command line through its real entry point: commands, exit codes, files written."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import __version__
from pipeline._cli import build_parser, main
from pipeline.model import Status
from tests.conftest import MANDATORY, stamp_results, write_config, write_results


def readiness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_usage_error_exits_3(tmp_path: Path) -> None:
    done = readiness("check", "nonsense", cwd=tmp_path)
    assert done.returncode == 3
    assert "invalid choice" in done.stderr


def test_missing_config_exits_3_before_anything_runs(tmp_path: Path) -> None:
    done = readiness("run", cwd=tmp_path)
    assert done.returncode == 3
    assert "configs/readiness.yaml: the config file does not exist" in done.stderr
    assert not (tmp_path / "reports").exists()


def test_unknown_only_check_exits_3(tmp_path: Path) -> None:
    write_config(tmp_path, "version: 1\nchecks: {}\n")
    assert main(["run", "--config", str(tmp_path / "readiness.yaml"), "--only", "nope"]) == 3


def test_verdict_ready_when_every_check_passed(tmp_path: Path) -> None:
    write_results(tmp_path / "a", {n: Status.PASS for n in MANDATORY[:4]})
    write_results(tmp_path / "b", {n: Status.PASS for n in MANDATORY[4:]})
    done = readiness("verdict", "--results", "a/results", "--results", "b/results",
                     "--reports-dir", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERDICT: READY" in done.stdout
    for name in ("readiness.json", "readiness.html", "readiness.junit.xml", "readiness.md",
                 "readiness.sarif"):
        assert (tmp_path / "out" / name).is_file()


def test_verdict_exit_codes(tmp_path: Path) -> None:
    write_results(tmp_path, {"coverage": Status.FAIL})
    assert main(["verdict", "--reports-dir", str(tmp_path)]) == 1
    write_results(tmp_path, {"coverage": Status.PASS})
    assert main(["verdict", "--reports-dir", str(tmp_path)]) == 2


def test_run_clears_results_of_an_earlier_run(tmp_path: Path) -> None:
    write_results(tmp_path / "reports", {n: Status.PASS for n in MANDATORY})
    write_config(tmp_path, "version: 1\nchecks:\n  coverage: {enabled: false}\n")
    done = readiness("run", "--config", "readiness.yaml", "--only", "coverage", cwd=tmp_path)
    assert done.returncode == 2
    verdict = json.loads((tmp_path / "reports/readiness.json").read_text())
    assert [c["check"] for c in verdict["checks"]] == ["coverage"]
    assert verdict["missing"] == list(MANDATORY[1:])


def test_check_command_exit_codes(tmp_path: Path) -> None:
    write_config(tmp_path, "version: 1\nchecks:\n  coverage: {enabled: false}\n")
    done = readiness("check", "coverage", "--config", "readiness.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "[SKIPPED] coverage" in done.stdout
    assert (tmp_path / "reports/results/coverage.json").is_file()


def test_signoff_and_verify_detect_tampering(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    (reports / "evidence").mkdir()
    (reports / "evidence" / "k6-summary.json").write_text("{}")
    assert main(["verdict", "--reports-dir", str(reports)]) == 0
    done = readiness("signoff", "--release", "1.4.0", "--approver", "Rita", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record_path = reports / "signoff-1.4.0.json"
    record = json.loads(record_path.read_text())
    assert record["verdict"] == "ready" and record["approver"] == "Rita"
    assert "evidence/k6-summary.json" in record["files"]
    assert readiness("verify-signoff", str(record_path), cwd=tmp_path).returncode == 0
    (reports / "evidence" / "k6-summary.json").write_text('{"tampered": true}')
    done = readiness("verify-signoff", str(record_path), cwd=tmp_path)
    assert done.returncode == 6  # issue 16: a changed evidence file has its own code (any change: not 0)
    assert "changed: evidence/k6-summary.json" in done.stdout


def test_signoff_of_a_not_ready_verdict_returns_its_code(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    write_results(reports, {"coverage": Status.FAIL})
    main(["verdict", "--reports-dir", str(reports)])
    assert main(["signoff", "--release", "2", "--approver", "x",
                 "--reports-dir", str(reports)]) == 1


def test_signoff_without_verdict_exits_3(tmp_path: Path) -> None:
    assert main(["signoff", "--release", "2", "--approver", "x",
                 "--reports-dir", str(tmp_path)]) == 3


def test_console_output_has_no_colour_when_piped(tmp_path: Path) -> None:
    write_results(tmp_path, {"coverage": Status.PASS})
    done = readiness("verdict", "--reports-dir", ".", cwd=tmp_path)
    assert "\033[" not in done.stdout


def test_run_in_process_writes_every_report(tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import python_test_command

    monkeypatch.chdir(tiny_project)
    others = "".join(f"  {n}: {{enabled: false}}\n" for n in MANDATORY[1:])
    write_config(tiny_project, (
        "version: 1\nservice: {name: tiny}\nchecks:\n  coverage:\n"
        f"    command: {json.dumps(python_test_command())}\n"
        "    cobertura: reports/evidence/coverage.xml\n    junit: [reports/evidence/junit.xml]\n"
        + others))
    assert main(["run", "--config", "readiness.yaml"]) == 2
    verdict = json.loads((tiny_project / "reports/readiness.json").read_text())
    assert verdict["environment"]["service"] == "tiny"
    assert main(["check", "coverage", "--config", "readiness.yaml"]) == 0


def test_verify_signoff_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    config = write_config(tmp_path, "version: 1\nchecks: {}\n")
    stamp_results(reports, config)  # a sign-off holds the results to its config, as the verdict did
    assert main(["verdict", "--reports-dir", str(reports), "--config", str(config)]) == 0
    assert main(["signoff", "--release", "v1/x", "--approver", "R", "--reports-dir", str(reports),
                 "--config", str(config)]) == 0
    record = reports / "signoff-v1_x.json"
    assert json.loads(record.read_text())["config_digest"]
    (reports / "results" / "k6.json").unlink()
    (reports / "evidence").mkdir()
    (reports / "evidence" / "new.log").write_text("x")
    assert main(["verify-signoff", str(record)]) == 1
    out = capsys.readouterr().out
    assert "missing: results/k6.json" in out and "added:   evidence/new.log" in out
    (tmp_path / "junk.json").write_text("[]")
    assert main(["verify-signoff", str(tmp_path / "junk.json")]) == 3


def test_secrets_never_reach_the_console_or_the_result(tmp_path: Path) -> None:
    # The test command fails with the database URL (password included) in its output.
    url = "postgresql://app:pw-Xy93kQ@127.0.0.1:1/orders"
    write_config(tmp_path, (
        "version: 1\nchecks:\n  coverage:\n    command: [\"no-such-runner-${READINESS_DATABASE_URL}\"]\n"
        "    cobertura: c.xml\n"))
    done = subprocess.run([sys.executable, "-m", "pipeline", "check", "coverage", "--config",
                           "readiness.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**__import__("os").environ, "READINESS_DATABASE_URL": url})
    assert done.returncode == 2
    assert "no-such-runner-postgresql://app:***@" in done.stdout
    written = (tmp_path / "reports/results/coverage.json").read_text()
    assert "pw-Xy93kQ" not in done.stdout + done.stderr + written


REPORT_FILES = ("readiness.json", "readiness.html", "readiness.junit.xml", "readiness.md", "readiness.sarif")
FAILING = {"id": "GHSA-x", "severity": "high", "title": "t", "location": "", "failing": True, "waived_by": "GHSA-x",
           "details": {}}
STALE = {"check": "k6", "id": "GHSA-x", "reason": "r", "owner": "o", "expires": "2020-01-01"}
FORGED: dict[str, dict[str, object]] = {
    "pass over a failing finding": {"findings": [FAILING]},
    "pass over a failed threshold": {"measurements": {"p95": {"value": 9e4, "unit": "ms", "threshold": "< 200",
                                                              "ok": False}}},
    "waived with no waiver": {"status": "waived", "findings": [FAILING]},
    "waived with an expired waiver": {"status": "waived", "findings": [FAILING],
                                      "waivers": {"applied": [STALE], "expired": []}},
    "waived by another check's waiver": {"status": "waived", "findings": [FAILING],
                                         "waivers": {"applied": [{**STALE, "check": "zap", "expires": "2099-01-01"}],
                                                     "expired": []}},
    "another check's result": {"check": "zap"},
    "an unknown field": {"signed": True},
    "a malformed timestamp": {"finished_at": "27/11/2026"},
}


@pytest.mark.parametrize("forgery", sorted(FORGED))
def test_a_forged_result_never_makes_the_verdict_ready(tmp_path: Path, forgery: str) -> None:
    write_results(tmp_path, {n: Status.PASS for n in MANDATORY})
    path = tmp_path / "results" / "k6.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **FORGED[forgery]}))
    done = readiness("verdict", "--reports-dir", ".", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    verdict = json.loads((tmp_path / "readiness.json").read_text())
    assert verdict["verdict"] == "incomplete"
    assert {c["check"]: c["status"] for c in verdict["checks"]} == {
        **{n: "pass" for n in MANDATORY}, "k6": "error"}
    for name in REPORT_FILES:
        assert (tmp_path / name).is_file(), name


def test_a_report_that_cannot_be_rendered_costs_readiness_not_the_other_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline import reporters

    def broken(report: object) -> str:
        raise RuntimeError("template exploded")

    write_results(tmp_path, {n: Status.PASS for n in MANDATORY})
    (tmp_path / "readiness.html").write_text("an old READY page")
    monkeypatch.setitem(reporters.REPORTS, "readiness.html", broken)
    assert main(["verdict", "--reports-dir", str(tmp_path)]) == 2
    assert not (tmp_path / "readiness.html").exists()  # the old page cannot pass for this verdict
    verdict = json.loads((tmp_path / "readiness.json").read_text())
    assert verdict["verdict"] == "incomplete"
    assert "readiness.html could not be written (RuntimeError: template exploded)" in verdict["reasons"][0]
    assert "INCOMPLETE" in (tmp_path / "readiness.md").read_text().upper()
    assert "readiness.html could not be written" in capsys.readouterr().err


def test_the_environment_is_gathered_by_the_command_not_the_verdict(tmp_path: Path) -> None:
    write_results(tmp_path, {"coverage": Status.PASS})
    assert main(["verdict", "--reports-dir", str(tmp_path), "--service", "orders"]) == 2
    env = json.loads((tmp_path / "readiness.json").read_text())["environment"]
    assert env["host"] == socket.gethostname() and env["service"] == "orders"
    assert set(env) >= {"gate_version", "python", "platform", "git_commit"}


def test_a_crash_of_the_gate_still_writes_a_verdict_that_is_not_ready(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline import _cli
    from pipeline.runner import write_result
    from tests.conftest import result

    def crash_after_coverage(name: str, config: object, reports_dir: Path, *args: object, **kwargs: object) -> object:
        if name != "coverage":
            raise RuntimeError("a defect in the gate")
        done = result("coverage", Status.PASS)
        write_result(done, reports_dir)
        return done

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_cli, "run_check", crash_after_coverage)
    write_config(tmp_path, "version: 1\nchecks: {}\n")
    assert main(["run", "--config", "readiness.yaml"]) == 2
    verdict = json.loads((tmp_path / "reports/readiness.json").read_text())
    assert verdict["verdict"] == "incomplete" and "crashed" in verdict["interrupted"]
    assert [c["check"] for c in verdict["checks"]] == ["coverage"]
    assert "RuntimeError: a defect in the gate" in capsys.readouterr().err


def test_clean_removes_an_earlier_runs_verdict_reports_and_results(tmp_path: Path) -> None:
    # `nox` runs `readiness clean` first (its prepare session), as `readiness run` clears at its start.
    from pipeline import reporters

    earlier = [tmp_path / name for name in reporters.REPORTS]
    earlier += [tmp_path / "results" / "k6.json", tmp_path / "evidence" / "ingested" / "k6" / "s.json"]
    for old in earlier:
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_text("old")
    (tmp_path / "evidence" / "k6.log").write_text("kept")
    assert main(["clean", "--reports-dir", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["k6.log"]


# Conventions of a command-line tool: version, help on every option, colours, pipes, crashes.
HEAVY = ("psycopg", "requests", "openapi_spec_validator", "pydantic", "jsonschema", "jinja2", "pglast",
         "pipeline.checks", "pipeline.gate", "pipeline.runner", "pipeline.reporters", "pipeline.target")


def _walk(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{name} {opt}", a) for opt, a in _walk(sub)]
        else:
            found.append(("/".join(action.option_strings) or action.dest, action))
    return found


def test_every_option_of_every_command_has_help() -> None:
    actions = _walk(build_parser())
    assert len(actions) > 40  # the walk reached the subcommands
    missing = [name for name, action in actions if not action.help or action.help == argparse.SUPPRESS]
    assert missing == []


def test_help_lists_exit_codes_and_examples_without_loading_the_checks(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "exit codes:" in done.stdout and "70 " in done.stdout and "examples:" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pipeline._cli" in imported  # the measurement saw our imports
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY or m.startswith(HEAVY)) == []


def test_version(tmp_path: Path) -> None:
    done = readiness("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"readiness {__version__}"


def test_colours_follow_no_color_and_force_color(tmp_path: Path) -> None:
    from pipeline.reporters.console import colour_on

    write_results(tmp_path, {"coverage": Status.PASS})
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    done = subprocess.run([sys.executable, "-m", "pipeline", "verdict", "--reports-dir", "."], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**clean, "FORCE_COLOR": "1"})
    assert done.returncode == 2 and "\033[33mVERDICT: INCOMPLETE" in done.stdout
    with open(os.devnull, "w") as piped:
        assert not colour_on(piped, {}) and colour_on(piped, {"FORCE_COLOR": "1"})
        assert not colour_on(piped, {"FORCE_COLOR": "1", "NO_COLOR": "1"})
        assert not colour_on(piped, {"FORCE_COLOR": "", "NO_COLOR": ""})  # empty values count as unset
    terminal, other_end = os.openpty()
    with os.fdopen(terminal, "w") as tty:
        assert colour_on(tty, {}) and not colour_on(tty, {"NO_COLOR": "1"})
    os.close(other_end)


def _closed_pipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line, as `| head -0` would leave it
    try:
        return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, stdout=writer,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(writer)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    done = _closed_pipe("checks", cwd=tmp_path)
    assert done.stderr == "" and done.returncode == 141
    # A run whose reader left still writes the verdict of what ran, which cannot be ready.
    write_config(tmp_path, "version: 1\nchecks:\n  coverage: {enabled: false}\n")
    done = _closed_pipe("run", "-q", "--config", "readiness.yaml", "--only", "coverage", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    verdict = json.loads((tmp_path / "reports/readiness.json").read_text())
    assert verdict["verdict"] == "incomplete" and "reader of the pipe went away" in verdict["interrupted"]
    assert not list((tmp_path / "reports").glob("crash-*.log"))


def test_a_crash_exits_70_with_one_line_and_the_traceback_in_a_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline import _cli

    def crash(reports_dir: Path) -> None:
        raise RuntimeError("forced crash token=s3cr3t-Value\nsecond line")

    monkeypatch.setenv("API_TOKEN", "s3cr3t-Value")
    monkeypatch.setattr(_cli, "clear_previous_run", crash)
    assert main(["clean", "--reports-dir", str(tmp_path / "out")]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: forced crash" in err and "s3cr3t" not in err
    logs = list((tmp_path / "out").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    text = logs[0].read_text()
    assert "Traceback" in text and "in crash" in text and "s3cr3t" not in text


def test_progress_lines_and_github_groups(tmp_path: Path) -> None:
    write_config(tmp_path, "version: 1\nchecks:\n  coverage: {enabled: false}\n  openapi: {enabled: false}\n")
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", "readiness.yaml", "--only",
                           "coverage,openapi"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GITHUB_ACTIONS": "true"})
    assert done.returncode == 2
    assert "[1/2] coverage ...\n[2/2] openapi ...\n" in done.stderr
    out = done.stdout.splitlines()
    assert out[:3] == ["::group::coverage", "::endgroup::", out[2]] and out[2].startswith("[1/2] [SKIPPED] coverage")
    assert out[3:5] == ["::group::openapi", "::endgroup::"] and out[5].startswith("[2/2] [SKIPPED] openapi")
    quiet = readiness("run", "-q", "--config", "readiness.yaml", "--only", "coverage", cwd=tmp_path)
    assert quiet.stderr == "" and "Reports:" not in quiet.stdout and "VERDICT: INCOMPLETE" in quiet.stdout


def test_on_a_terminal_tool_output_is_kept_short_and_whole_in_the_evidence(tmp_path: Path) -> None:
    import pty

    script = "import sys\nfor i in range(40): print(f'tool line {i:02d}')\nsys.exit(1)\n"
    (tmp_path / "tool.py").write_text(script)
    write_config(tmp_path, "version: 1\nchecks:\n  coverage:\n"
                 f"    command: [{json.dumps(sys.executable)}, tool.py]\n    cobertura: c.xml\n")
    controller, terminal = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "pipeline", "check", "coverage", "--config", "readiness.yaml"],
                          cwd=tmp_path, stdout=terminal, stderr=terminal,
                          env={**os.environ, "NO_COLOR": "1"}) as gate:
        os.close(terminal)
        seen = b""
        while chunk := _read_terminal(controller):
            seen += chunk
        assert gate.wait(timeout=60) == 2
    os.close(controller)
    shown = seen.decode().replace("\r\n", "\n")
    assert "tool line 34" not in shown and "    | tool line 35\n" in shown and "    | tool line 39\n" in shown
    assert "all of it is in the evidence folder" in shown
    log = (tmp_path / "reports/evidence/coverage-command.log").read_text()
    assert "tool line 00" in log and "tool line 39" in log


def _read_terminal(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: every writer of the terminal has gone
        return b""
