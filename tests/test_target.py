"""The gate owns the target: real PostgreSQL, the real example service, and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import yaml

from pipeline.checks.registry import registry
from pipeline.config import Config
from pipeline.gate import target_checks
from pipeline.target import TargetError, running_target, start_settings
from tests.conftest import REPO, example_start_settings, need_example_service

TMP = Path(tempfile.gettempdir())


def _target_folders() -> set[Path]:
    return set(TMP.glob("readiness-target-*"))


def _target_processes() -> list[int]:
    """PIDs whose command line mentions a target folder or the example service."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"readiness-target-" in cmdline or b"orders_service.app" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def nothing_left_behind() -> Iterator[None]:
    """Asserts that the test leaves no target process or folder behind."""
    folders_before, processes_before = _target_folders(), set(_target_processes())
    yield
    deadline = time.monotonic() + 10
    while set(_target_processes()) - processes_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(_target_processes()) - processes_before == set()
    assert _target_folders() - folders_before == set()


def _settings(**overrides: Any) -> dict[str, Any]:
    need_example_service()
    return {**example_start_settings(), **overrides}


def test_example_starts_migrated_seeded_and_ready(tmp_path: Path, nothing_left_behind: None) -> None:
    with running_target(_settings(), REPO, tmp_path) as target:
        env = target.env
        assert requests.get(env["READINESS_BASE_URL"] + "/ready", timeout=5).status_code == 200
        with psycopg.connect(env["READINESS_DATABASE_URL"]) as conn:
            assert conn.execute("SELECT count(*) FROM orders").fetchone() == (2000,)
            assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (1,)
        # The token the checks get is accepted by the service's write endpoint.
        created = requests.post(env["READINESS_BASE_URL"] + "/customers", timeout=5,
                                json={"email": "gate@example.com", "name": "Gate"},
                                headers={"Authorization": f"Bearer {env['READINESS_API_TOKEN']}"})
        assert created.status_code == 201
        assert env["READINESS_BASE_URL"].startswith("http://127.0.0.1:")
    assert (tmp_path / "target" / "service.log").exists()
    assert "seed: 200 customers, 2000 orders" in (tmp_path / "target" / "setup-2.log").read_text()


def test_port_already_taken_is_named(tmp_path: Path, nothing_left_behind: None) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(TargetError, match=f"port {port} on 127.0.0.1 is already in use"), \
                running_target(_settings(port=port), REPO, tmp_path):
            pass


def test_failing_migration_shows_its_output(tmp_path: Path, nothing_left_behind: None) -> None:
    broken = [sys.executable, "-c", "import sys; print('relation \"orderz\" does not exist'); sys.exit(1)"]
    with pytest.raises(TargetError) as error, running_target(_settings(setup=[broken]), REPO, tmp_path):
        pass
    assert "exited with code 1" in str(error.value)
    assert 'relation "orderz" does not exist' in str(error.value)


def test_service_that_exits_shows_the_log_tail(tmp_path: Path, nothing_left_behind: None) -> None:
    crash = ["{python}", "-c", "print('cannot import orders_service.nope'); raise SystemExit(3)"]
    with pytest.raises(TargetError) as error, running_target(_settings(command=crash), REPO, tmp_path):
        pass
    assert "exited with code 3 before it became ready" in str(error.value)
    assert "cannot import orders_service.nope" in str(error.value)


def test_service_that_never_becomes_ready_times_out(tmp_path: Path, nothing_left_behind: None) -> None:
    # A real HTTP server without a /ready route: it answers 404 for ever.
    never = ["{python}", "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
    with pytest.raises(TargetError) as error, \
            running_target(_settings(command=never, ready_timeout_s=2), REPO, tmp_path):
        pass
    assert "did not become ready" in str(error.value) and "HTTP 404" in str(error.value)


def test_database_that_fails_to_start_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  nothing_left_behind: None) -> None:
    # Fault injection: an initdb that fails the way a full disk makes it fail.
    # Outside tmp_path: PostgreSQL runs as an unprivileged account when the tests run as root.
    fake_bin = Path(tempfile.mkdtemp(prefix="fake-pg-bin-"))
    fake_bin.chmod(0o755)
    for name in ("initdb", "postgres"):
        (fake_bin / name).write_text("#!/bin/sh\necho 'initdb: error: could not create directory: "
                                     "No space left on device' >&2\nexit 1\n")
        (fake_bin / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(TargetError, match=r"(?s)initdb failed \(exit 1\).*No space left on device"), \
            running_target(_settings(), REPO, tmp_path / "evidence"):
        pass
    shutil.rmtree(fake_bin)


def test_pgserver_is_the_fallback_without_a_system_postgresql(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_left_behind: None) -> None:
    pytest.importorskip("pgserver", reason="pgserver is not installed (requirements-test.txt has it)")
    from pipeline.target import postgres

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.setattr(postgres, "DEBIAN_POSTGRES_BIN", str(tmp_path / "none" / "*"))
    with running_target(_settings(), REPO, tmp_path) as started, \
            psycopg.connect(started.env["READINESS_DATABASE_URL"]) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    assert version is not None and version[0].startswith("16.")  # pgserver ships PostgreSQL 16


def test_an_exception_inside_still_stops_everything(tmp_path: Path, nothing_left_behind: None) -> None:
    with pytest.raises(RuntimeError, match="a check blew up"), running_target(_settings(), REPO, tmp_path):
        raise RuntimeError("a check blew up")


def _config(tmp_path: Path, start: dict[str, Any], enabled: tuple[str, ...]) -> Path:
    checks = {name: {"enabled": name in enabled} for name in
              ("coverage", "openapi", "zap", "audit", "k6", "explain", "dashboards")}
    body = {"version": 1, "service": {"name": "orders", "start": start}, "checks": checks}
    path = tmp_path / "readiness.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_no_target_is_started_when_no_enabled_check_needs_it(tmp_path: Path) -> None:
    # Every check that may need the service is off; coverage, openapi and audit stay on (they need none here).
    off = {name: {"enabled": False} for name in registry().names() if name not in ("coverage", "openapi", "audit")}
    config = Config(path=tmp_path / "c.yaml", profile="local",
                    data={"service": {"start": {"command": ["x"]}}, "checks": off})
    everything = registry().names()
    assert target_checks(config, everything) == []
    assert start_settings(config, target_checks(config, everything)) is None
    with_k6 = Config(path=tmp_path / "c.yaml", profile="local",
                     data={"service": {"start": {"command": ["x"]}}, "checks": {**off, "k6": {}}})
    assert target_checks(with_k6, everything) == ["k6"]
    assert start_settings(with_k6, ["k6"]) == {"command": ["x"]}
    assert target_checks(with_k6, ["coverage", "openapi", "audit"]) == []
    no_start = Config(path=tmp_path, profile="local", data={"service": {}, "checks": {}})
    assert start_settings(no_start, target_checks(no_start, everything)) is None


def _readiness(*args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize("how", ["stdin closed", "SIGINT", "SIGTERM"])
def test_target_command_cleans_up_however_it_is_stopped(tmp_path: Path, how: str,
                                                        nothing_left_behind: None) -> None:
    config = _config(tmp_path, _settings(), enabled=("k6",))
    proc = _readiness("target", "--config", str(config), cwd=tmp_path, stdin=subprocess.PIPE)
    if proc.stdout is None or proc.stdin is None:
        pytest.fail("the target command was started without pipes")
    env = json.loads(proc.stdout.readline())
    assert requests.get(env["READINESS_BASE_URL"] + "/health", timeout=5).status_code == 200
    if how == "stdin closed":
        proc.stdin.close()
    else:
        proc.send_signal(signal.SIGINT if how == "SIGINT" else signal.SIGTERM)
    proc.wait(timeout=60)
    with pytest.raises(requests.ConnectionError):
        requests.get(env["READINESS_BASE_URL"] + "/health", timeout=2)


def test_target_command_reports_a_start_failure_as_json(tmp_path: Path, nothing_left_behind: None) -> None:
    crash = ["{python}", "-c", "raise SystemExit(4)"]
    config = _config(tmp_path, _settings(command=crash), enabled=("k6",))
    proc = _readiness("target", "--config", str(config), cwd=tmp_path, stdin=subprocess.PIPE)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "exited with code 4" in json.loads(out.splitlines()[0])["READINESS_TARGET_ERROR"]


def test_run_with_a_target_that_cannot_start_is_never_ready(tmp_path: Path, nothing_left_behind: None) -> None:
    crash = ["{python}", "-c", "print('port in use by the ghost of a test'); raise SystemExit(1)"]
    config = _config(tmp_path, _settings(command=crash), enabled=("k6", "explain"))
    proc = _readiness("run", "--config", str(config), cwd=tmp_path)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 2, out + err
    k6 = json.loads((tmp_path / "reports" / "results" / "k6.json").read_text())
    assert k6["status"] == "error"
    assert "could not be started" in k6["summary"]
    assert any("ghost of a test" in reason for reason in k6["reasons"])
    # A DSN with its password never reaches a result.
    assert not re.search(r"postgresql://[^:/]+:(?!\*\*\*)[^@]+@", json.dumps(k6) + out + err)


def test_run_stops_the_target_after_the_checks(tmp_path: Path, nothing_left_behind: None) -> None:
    # k6 has no implementation yet, so it records error; the target must still be stopped.
    config = _config(tmp_path, _settings(), enabled=("k6",))
    proc = _readiness("run", "--config", str(config), "--only", "k6", cwd=tmp_path)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 2, out + err
    assert "target: ready at http://127.0.0.1:" in err
