"""The noxfile through the real ``nox``: listing, tags, --install-only, and ``nox -- OPTIONS`` reaching the gate.

The gate sessions run with this interpreter (``READINESS_GATE_PYTHON``), so no environment is built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.checks.registry import registry

ROOT = Path(__file__).resolve().parents[1]


def nox_command(*args: str, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The real nox over this noxfile (the gate from this interpreter), and its environment."""
    env = {**os.environ, "READINESS_GATE_PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    for name in ("READINESS_CONFIG", "READINESS_PROFILE", "GITHUB_ACTIONS"):
        env.pop(name, None)
    return [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "--envdir", str(tmp_path / "envs"),
            *args], env


def nox(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    argv, env = nox_command(*args, tmp_path=tmp_path)
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def _listed(output: str) -> dict[str, str]:
    """``nox -l``'s selected sessions: name -> the rest of the line."""
    rows = [line[2:].split(" ", 1) for line in output.splitlines() if line.startswith("* ")]
    return {name: rest for name, rest in rows}


def test_sessions_list_every_check_with_its_title_and_tags(tmp_path: Path) -> None:
    done = nox("-l", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = _listed(done.stdout)
    assert list(listed) == ["prepare", *registry().names(), "verdict"]
    for check in registry().checks:
        assert f"-> {check.title}: readiness check {check.name}" in listed[check.name]
        assert ("security" in listed[check.name].split(" -> ")[0]) is check.security
        assert ("needs-service" in listed[check.name].split(" -> ")[0]) is check.needs_target


@pytest.mark.parametrize(("tag", "flag"), [("security", "security"), ("needs-service", "needs_target")])
def test_tags_select_the_checks_the_registry_declares(tmp_path: Path, tag: str, flag: str) -> None:
    done = nox("-t", tag, "-l", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = [c.name for c in registry().checks if getattr(c, flag)]
    assert expected and list(_listed(done.stdout)) == expected


def test_install_only_runs_nothing(tmp_path: Path) -> None:
    done = nox("--install-only", "--", "--reports-dir", str(tmp_path / "out"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.count(": success") == len(registry().names()) + 2
    assert "starting the service under test" not in done.stderr  # no target started only to install
    assert not (tmp_path / "out").exists()


def test_posargs_reach_the_checks_and_the_verdict_accepts_them(tmp_path: Path) -> None:
    # The profile exists only in this config: the check could only skip if --config and --profile reached it.
    config = tmp_path / "gate.yaml"
    config.write_text("version: 1\nchecks:\n  openapi: {spec: missing.json}\n"
                      "profiles:\n  nightly: {checks: {openapi: {enabled: false}}}\n")
    out = tmp_path / "out"
    done = nox("-s", "prepare", "openapi", "verdict", "--", "--config", str(config), "--profile", "nightly",
               "--reports-dir", str(out), tmp_path=tmp_path)
    log = done.stdout + done.stderr
    assert "[SKIPPED] openapi" in log and "profiles.nightly" not in log, log
    assert "unrecognized arguments" not in log and "VERDICT: INCOMPLETE" in log
    assert json.loads((out / "results" / "openapi.json").read_text())["status"] == "skipped"
    assert json.loads((out / "readiness.json").read_text())["verdict"] == "incomplete"
    wrong = nox("-s", "openapi", "--", "--bogus", tmp_path=tmp_path)
    assert wrong.returncode != 0 and "the gate sessions take --config, --profile" in wrong.stderr


def test_the_registry_listing_is_cached_until_the_gate_or_its_environment_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setenv("READINESS_GATE_PYTHON", sys.executable)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    (tmp_path / "pipeline" / "checks").mkdir(parents=True)
    check = tmp_path / "pipeline" / "checks" / "a.py"
    check.write_text("order = 1\n")
    monkeypatch.setattr(noxfile, "ROOT", tmp_path)
    monkeypatch.setattr(noxfile, "GATE_ENV", tmp_path / "env")
    monkeypatch.setattr(noxfile, "REGISTRY_CACHE", tmp_path / "cache.json")
    key = noxfile._registry_key()
    (tmp_path / "cache.json").write_text(json.dumps({"key": key, "checks": [{"name": "a"}]}))
    assert noxfile._cached_registry(key) == [{"name": "a"}]
    check.write_text("order = 2\n")  # a changed check asks the gate again
    assert noxfile._registry_key() != key and noxfile._cached_registry(noxfile._registry_key()) is None
    check.write_text("order = 1\n")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / ".readiness-stamp").write_text("rebuilt")  # so does a rebuilt environment
    assert noxfile._registry_key() != key
    assert noxfile._cached_registry(None) is None  # READINESS_GATE_PYTHON: always asked


def _served_folder(tmp_path: Path, marker: str) -> dict[str, object]:
    """``service.start`` for the standard library's HTTP server, its command line holding ``marker``."""
    served = tmp_path / marker
    served.mkdir()
    return {"database": "none", "ready_path": "/",
            "command": ["{python}", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(served), "{port}"]}


def test_a_gate_process_that_dies_fails_its_session_its_target_is_killed_the_run_goes_on(tmp_path: Path) -> None:
    import tempfile
    import uuid

    from tests.test_interrupts import assert_nothing_survives

    marker = f"readiness-test-{uuid.uuid4().hex}"
    folders_before = set(Path(tempfile.gettempdir()).glob("readiness-target-*"))
    # The suite's command kills the process that started it: the run's one gate process (readiness batch),
    # while the service under test runs (k6 needs it, so the first session that may need it starts it).
    spec = ROOT / "examples" / "orders-service" / "openapi.json"
    config = tmp_path / "gate.yaml"
    config.write_text(json.dumps({"version": 1, "service": {"start": _served_folder(tmp_path, marker)}, "checks": {
        "coverage": {"command": ["sh", "-c", "kill -9 $PPID"], "cobertura": "coverage.xml"},
        "openapi": {"spec": str(spec)}, "k6": {}}}))
    out = tmp_path / "out"
    done = nox("-s", "prepare", "coverage", "openapi", "verdict", "--", "--config", str(config), "--reports-dir",
               str(out), tmp_path=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert "the service under test is up" in log and "the gate process ended (exit -9) before answering" in log, log
    assert_nothing_survives(marker)  # the service it held was killed with it
    assert set(Path(tempfile.gettempdir()).glob("readiness-target-*")) <= folders_before  # and its folder removed
    assert not (out / "results" / "coverage.json").exists()
    # The next session started a new gate process: openapi ran, the verdict was written.
    assert json.loads((out / "results" / "openapi.json").read_text())["status"] == "pass"
    verdict = json.loads((out / "readiness.json").read_text())
    assert verdict["verdict"] == "incomplete"
    assert any("coverage" in reason and "no result" in reason for reason in verdict["reasons"]), verdict["reasons"]


@pytest.mark.parametrize("who", ["the terminal's whole group", "nox alone"])
def test_ctrl_c_ends_the_run_its_gate_process_the_target_and_the_tools(tmp_path: Path, who: str) -> None:
    import signal
    import uuid

    from tests.test_interrupts import assert_nothing_survives, wait_for

    marker = f"readiness-test-{uuid.uuid4().hex}"
    started = tmp_path / "suite-started"
    # The suite leaves quietly on SIGINT, so any traceback in the output would be the gate's.
    suite = [sys.executable, "-c", "import pathlib, signal, sys, time; signal.signal(signal.SIGINT, lambda *_: "
             f"sys.exit(130)); pathlib.Path({str(started)!r}).touch(); time.sleep(300)", marker]
    config = tmp_path / "gate.yaml"
    config.write_text(json.dumps({"version": 1, "service": {"start": _served_folder(tmp_path, marker)},
                                  "checks": {"coverage": {"command": suite, "cobertura": "coverage.xml"}, "k6": {}}}))
    argv, env = nox_command("-s", "prepare", "coverage", "verdict", "--", "--config", str(config),
                            "--reports-dir", str(tmp_path / "out"), tmp_path=tmp_path)
    run = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    wait_for(started.exists)  # the target is up (it started before the check) and the suite runs
    if who == "nox alone":  # `kill -INT <nox>`: nox passes it on to the command in flight, as session.run does
        run.send_signal(signal.SIGINT)
    else:  # what Ctrl-C in a terminal sends: the whole foreground group
        os.killpg(run.pid, signal.SIGINT)
    out, _ = run.communicate(timeout=120)
    assert run.returncode != 0, out
    assert_nothing_survives(marker, session=run.pid)  # the suite, the service, the gate process: all gone
    assert "Traceback" not in out, out
