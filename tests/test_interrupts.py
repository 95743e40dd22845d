"""Real signals to a real ``python -m pipeline run``: what is left on disk, and that nothing survives.

Every process these tests start carries a unique marker in its command line or runs in
a session the test records, so /proc can be searched for survivors.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import MANDATORY

REPORT_FILES = ("readiness.json", "readiness.html", "readiness.junit.xml", "readiness.md", "readiness.sarif")


def survivors(marker: str, session: int | None = None) -> list[str]:
    """Processes whose command line holds ``marker`` or that belong to ``session``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _, _, sid = stat.rsplit(")", 1)[1].split()[:4]
        if state != "Z" and (marker in cmdline or (session is not None and int(sid) == session)):
            found.append(f"{entry.name}: {cmdline}")
    return found


def wait_for(what: Any, timeout: float = 120, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(step)


def assert_nothing_survives(marker: str, session: int | None = None) -> None:
    # A killed process may take a moment to be reaped by init.
    deadline = time.monotonic() + 10
    while survivors(marker, session) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert survivors(marker, session) == []


def start_run(project: Path, checks: dict[str, Any], service: dict[str, Any] | None = None,
              path_first: Path | None = None) -> subprocess.Popen[str]:
    """``python -m pipeline run`` over a config with these checks enabled (the others disabled)."""
    config: dict[str, Any] = {"version": 1, "checks": {n: checks.get(n, {"enabled": False})
                                                       for n in MANDATORY}}
    if service is not None:
        config["service"] = {"name": "t", "start": service}
    (project / "readiness.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ)
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    log = (project / "run.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", "readiness.yaml"],
                            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def verdict_of(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "reports" / "readiness.json").read_text())
    return data


@pytest.fixture
def silent_server() -> Iterator[tuple[str, threading.Event]]:
    """An HTTP address that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/openapi.json", accepted
    listener.close()
    for conn in held:
        conn.close()


def test_an_in_process_check_stops_within_two_seconds_of_sigterm(
        tmp_path: Path, silent_server: tuple[str, threading.Event]) -> None:
    url, accepted = silent_server
    run = start_run(tmp_path, {"openapi": {"spec": url}})
    wait_for(accepted.is_set)  # the check is now blocked in Python code (no tool process)
    signalled = dt.datetime.now(dt.UTC)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=30) == 2, (tmp_path / "run.log").read_text()
    exited_after = (dt.datetime.now(dt.UTC) - signalled).total_seconds()
    openapi = json.loads((tmp_path / "reports/results/openapi.json").read_text())
    stopped_after = (dt.datetime.fromisoformat(openapi["finished_at"]) - signalled).total_seconds()
    print(f"in-process check: result {stopped_after:.2f} s after SIGTERM, process exited after {exited_after:.2f} s")
    assert stopped_after <= 2.0
    assert openapi["status"] == "error" and "interrupted" in openapi["summary"]
    verdict = verdict_of(tmp_path)
    assert verdict["verdict"] == "incomplete" and "interrupted" in verdict["interrupted"]
    assert "Traceback" not in (tmp_path / "run.log").read_text()


SLEEPER = """
import pathlib, signal, sys, time
marker, flag, on_sigint = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
if on_sigint == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
else:  # like k6: write a summary, then stop
    def finish(*_):
        time.sleep(3)
        (flag.parent / "summary.json").write_text("{}")
        sys.exit(1)
    signal.signal(signal.SIGINT, finish)
flag.write_text("running")
time.sleep(600)
"""


def tool_check(tmp_path: Path, marker: str, on_sigint: str) -> dict[str, Any]:
    """A coverage check whose test command is a long-running tool process."""
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    return {"coverage": {"command": [sys.executable, "sleeper.py", marker, str(tmp_path / "running"), on_sigint],
                         "cobertura": "reports/evidence/coverage.xml"}}


def test_a_second_sigterm_during_the_grace_still_leaves_a_result(tmp_path: Path) -> None:
    marker = f"readiness-test-{uuid.uuid4().hex}"
    # An earlier run's verdict and results: they must be gone as soon as this run starts.
    reports = tmp_path / "reports"
    (reports / "results").mkdir(parents=True)
    (reports / "results" / "k6.json").write_text("{}")
    for name in REPORT_FILES:
        (reports / name).write_text("READY (an earlier run)")
    run = start_run(tmp_path, tool_check(tmp_path, marker, "ignore"))
    wait_for((tmp_path / "running").exists)
    assert [n for n in REPORT_FILES if (reports / n).exists()] == []
    assert not (reports / "results" / "k6.json").exists()
    run.send_signal(signal.SIGTERM)
    time.sleep(1.5)
    assert run.poll() is None  # a tool is running: it gets the long grace
    second = time.monotonic()
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=20) == 2, (tmp_path / "run.log").read_text()
    print(f"second SIGTERM: the run exited {time.monotonic() - second:.2f} s later")
    coverage = json.loads((reports / "results" / "coverage.json").read_text())
    assert coverage["status"] == "error" and "interrupted" in coverage["summary"]
    assert verdict_of(tmp_path)["verdict"] == "incomplete"
    assert all((reports / n).is_file() for n in REPORT_FILES)
    assert_nothing_survives(marker)


def test_a_tool_gets_its_grace_to_write_its_output(tmp_path: Path) -> None:
    marker = f"readiness-test-{uuid.uuid4().hex}"
    run = start_run(tmp_path, tool_check(tmp_path, marker, "finish"))
    wait_for((tmp_path / "running").exists)
    signalled = time.monotonic()
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=40) == 2
    assert time.monotonic() - signalled >= 3  # longer than the short grace: the tool was waited for
    assert (tmp_path / "summary.json").is_file()
    assert json.loads((tmp_path / "reports/results/coverage.json").read_text())["status"] == "error"
    assert_nothing_survives(marker)


FAKE = """#!/bin/sh
echo $$ > {flag}.tmp && mv {flag}.tmp {flag}
sh -c 'sleep 600; :' {marker} &
sh -c 'sleep 600; :' {marker}
"""


@pytest.fixture
def fakes() -> Iterator[Path]:
    """A folder every account can read (PostgreSQL's tools run unprivileged when the tests run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="readiness-fakes-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def fake_tool(folder: Path, name: str, marker: str) -> Path:
    """A program that starts two children, records its session in ``<folder>/started`` and waits."""
    path = folder / name
    path.write_text(FAKE.format(flag=folder / "started", marker=marker))
    path.chmod(0o755)
    return path


def target_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("readiness-target-*"))


HTTP_SERVICE = {"database": "none", "command": ["{python}", "-m", "http.server", "--bind", "127.0.0.1", "{port}"],
                "ready_path": "/"}


def start_phase(phase: str, fakes: Path, marker: str) -> tuple[dict[str, Any], Path | None]:
    """``service.start`` for a target whose start-up hangs in ``phase``, and the PATH folder it needs."""
    if phase == "setup":
        return {"database": "none", "setup": [[str(fake_tool(fakes, "migrate", marker))]],
                "command": ["never-started"]}, None
    if phase == "setup after a real PostgreSQL":
        if not shutil.which("initdb") and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
            pytest.skip("PostgreSQL is not installed here")
        return {"setup": [[str(fake_tool(fakes, "migrate", marker))]], "command": ["never-started"]}, None
    if phase == "token command":
        return {**HTTP_SERVICE, "token_command": [str(fake_tool(fakes, "token", marker))]}, None
    if phase == "prometheus":
        fake_tool(fakes, "prometheus", marker)
        return {**HTTP_SERVICE, "prometheus": {"job": "service"}}, fakes
    fake_tool(fakes, "initdb", marker)
    fake_tool(fakes, "postgres", f"{marker}-never")
    return {"command": ["never-started"]}, fakes


@pytest.mark.parametrize("phase", ["setup", "setup after a real PostgreSQL", "token command", "prometheus",
                                   "initdb"])
def test_sigterm_during_the_targets_start_up_kills_everything(tmp_path: Path, fakes: Path, phase: str) -> None:
    marker = f"readiness-test-{uuid.uuid4().hex}"
    service, path_first = start_phase(phase, fakes, marker)
    before = target_folders()
    run = start_run(tmp_path, {"k6": {}}, service, path_first)
    wait_for((fakes / "started").exists)
    session = int((fakes / "started").read_text())
    ours = target_folders() - before
    wait_for(lambda: len(survivors(marker, session)) >= 3, timeout=10)  # the program and its children run
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 2, (tmp_path / "run.log").read_text()
    assert_nothing_survives(marker, session)
    for folder in ours:  # the throwaway database (if any) is gone with its folder
        assert survivors(str(folder)) == [] and not folder.exists()
    verdict = verdict_of(tmp_path)
    assert verdict["verdict"] == "incomplete" and verdict["interrupted"]
    assert "Traceback" not in (tmp_path / "run.log").read_text()
