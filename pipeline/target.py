"""The service under test, when the gate owns it (``service.start`` in the config).

Starts a throwaway PostgreSQL in a temporary folder, runs the service's setup
commands (migrations, seed), starts the service on a loopback port, waits for its
readiness URL, and hands the checks ``READINESS_BASE_URL``, ``READINESS_DATABASE_URL``
and (when a token command is configured) ``READINESS_API_TOKEN``. Everything is
stopped and the folder removed on every way out: success, failure, exception,
Ctrl-C and SIGTERM. Logs stay in ``reports/evidence/target/``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
import requests

from pipeline.config import Config
from pipeline.errors import CheckError
from pipeline.interrupts import Signals, deferred_signals
from pipeline.proc import last_lines, log_tail, run_tool
from pipeline.redact import register_secret

DEBIAN_POSTGRES_BIN = "/usr/lib/postgresql/*/bin"
PG_USER = "readiness"
PG_DATABASE = "app"


class TargetError(Exception):
    """The target could not be started; the message names the cause and shows the log tail."""


@dataclass
class Target:
    """What a started target offers the checks, and what must be stopped."""

    env: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)


def start_settings(config: Config, needing: Iterable[str]) -> dict[str, Any] | None:
    """The ``service.start`` settings when the gate must start the target, else None.

    ``needing`` names the checks about to run that talk to the service (the caller asks
    the registry); None when there is none, or when the gate checks a service someone
    else runs.
    """
    start = config.service.get("start")
    if not isinstance(start, Mapping) or not list(needing):
        return None
    return dict(start)


@contextlib.contextmanager
def _owned() -> Iterator[Target]:
    """A target with its own temporary folder; whatever it started is stopped on every way out."""
    target = Target(folder=Path(tempfile.mkdtemp(prefix="readiness-target-")))
    try:
        yield target
    finally:
        stop(target)


@contextlib.contextmanager
def running_target(settings: Mapping[str, Any], project_dir: Path, evidence_dir: Path,
                   console: IO[str] | None = None) -> Iterator[Target]:
    """Start the target, yield it, and always stop it and remove its folder."""
    logs = evidence_dir / "target"
    logs.mkdir(parents=True, exist_ok=True)
    with _owned() as target:
        _start(target, settings, project_dir, logs, console)
        yield target


@contextlib.contextmanager
def running_postgres(evidence_dir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL alone (no service): yields its DSN, always stops and removes it."""
    evidence_dir.mkdir(parents=True, exist_ok=True)
    with _owned() as target:
        yield _start_postgres(target, evidence_dir)


def _start(target: Target, settings: Mapping[str, Any], project_dir: Path, logs: Path,
           console: IO[str] | None) -> None:
    assert target.folder is not None
    workdir = project_dir / settings.get("workdir", ".")
    port = _port(settings.get("port"))
    env = {**os.environ, **settings.get("env", {})}
    for name in settings.get("generated_secrets", []):
        env[name] = register_secret(secrets.token_urlsafe(32))
    if settings.get("database", "postgres") == "postgres":
        database_url = _start_postgres(target, logs)
        env["DATABASE_URL"] = target.env["READINESS_DATABASE_URL"] = database_url
    _say(console, "target: running the setup commands")
    for index, argv in enumerate(settings.get("setup", [])):
        _run_setup(_expand(argv, port), workdir, env, logs / f"setup-{index + 1}.log",
                   float(settings.get("setup_timeout_s", 300)))
    base_url = f"http://127.0.0.1:{port}"
    _start_service(target, _expand(settings["command"], port), workdir, {**env, "PORT": str(port)},
                   logs / "service.log")
    _wait_ready(target, base_url + settings.get("ready_path", "/ready"),
                float(settings.get("ready_timeout_s", 60)), logs / "service.log")
    target.env["READINESS_BASE_URL"] = base_url
    if settings.get("token_command"):
        target.env["READINESS_API_TOKEN"] = _token(_expand(settings["token_command"], port), workdir, env)
    if settings.get("prometheus"):
        _start_prometheus(target, settings["prometheus"], port, project_dir, logs, console)
    _say(console, f"target: ready at {base_url}")


def _start_prometheus(target: Target, settings: Mapping[str, Any], service_port: int, project_dir: Path,
                      logs: Path, console: IO[str] | None) -> None:
    """A real Prometheus scraping the service with the project's rule files (READINESS_PROMETHEUS_URL).

    Optional: without the prometheus binary the target still starts; the dashboards check
    then says that no Prometheus could be asked, and how to get one.
    """
    assert target.folder is not None
    binary = shutil.which("prometheus")
    if binary is None:
        _say(console, "target: prometheus is not installed (apt install prometheus); no live Prometheus")
        return
    config = {
        "global": {"scrape_interval": settings.get("scrape_interval", "1s"),
                   "evaluation_interval": settings.get("scrape_interval", "1s")},
        "rule_files": [str(project_dir / f) for f in settings.get("rule_files", [])],
        "scrape_configs": [{"job_name": settings.get("job", "service"),
                            "static_configs": [{"targets": [f"127.0.0.1:{service_port}"]}]}],
    }
    config_path = target.folder / "prometheus.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    port = _port(None)
    log_path = logs / "prometheus.log"
    with log_path.open("wb") as log:
        proc = _spawn(target, "prometheus", [binary, f"--config.file={config_path}",
                                             f"--storage.tsdb.path={target.folder}/tsdb",
                                             f"--web.listen-address=127.0.0.1:{port}"],
                      stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TargetError(f"Prometheus exited with code {proc.returncode}; last lines of {log_path}:\n"
                              f"{log_tail(log_path)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/-/ready", timeout=2).ok:
                target.env["READINESS_PROMETHEUS_URL"] = url
                return
        time.sleep(0.2)
    raise TargetError(f"Prometheus did not become ready within 30 s; last lines of {log_path}:\n"
                      f"{log_tail(log_path)}")


def stop(target: Target) -> None:
    """Stop every process (service first, database last) and remove the folder. Idempotent.

    Signals wait until everything is stopped; one arriving meanwhile cuts the graceful
    waits short (SIGKILL at once) and is raised as KeyboardInterrupt afterwards.
    """
    with deferred_signals() as signals:
        while target.processes:
            name, proc = target.processes.pop()
            # PostgreSQL's fast shutdown is SIGINT; a web server stops cleanly on SIGTERM.
            _stop_group(proc, signal.SIGINT if name == "postgres" else signal.SIGTERM, signals)
        if target.folder is not None:
            shutil.rmtree(target.folder, ignore_errors=True)
            target.folder = None


def _stop_group(proc: subprocess.Popen[Any], first: signal.Signals, signals: Signals | None = None) -> None:
    calm = signals.count if signals else 0
    for sig, wait_s in ((first, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait_s
        while proc.poll() is None and time.monotonic() < deadline:
            if signals is not None and signals.count > calm and sig is not signal.SIGKILL:
                break  # asked again: no more patience
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
        if proc.poll() is not None:
            break
    # The group may still hold children (uvicorn workers) after its leader exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _spawn(target: Target, name: str, argv: list[str], **popen: Any) -> subprocess.Popen[Any]:
    """Start a long-running process in its own group, registered before any signal can intervene."""
    with deferred_signals():
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, **popen)
        target.processes.append((name, proc))
    return proc


def run_captured(argv: list[str], timeout_s: float, **popen: Any) -> tuple[int, str, str]:
    """A short command in its own process group, its output kept in memory (never logged).

    Returns (exit code, stdout, stderr). The whole group is killed on every way out:
    timeout (TargetError), Ctrl-C, SIGTERM, or children left behind after it exits.
    """
    child: subprocess.Popen[str] | None = None
    try:
        with deferred_signals():
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True, **popen)
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise TargetError(f"{Path(argv[0]).name} did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise TargetError(f"{argv[0]} could not run: {exc}") from None
    finally:
        if child is not None:
            _stop_group(child, signal.SIGKILL)
    return child.returncode, out, err


def _port(configured: int | None) -> int:
    """The configured port if it is free, else a free loopback port chosen by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", configured or 0))
        except OSError as exc:
            raise TargetError(f"port {configured} on 127.0.0.1 is already in use ({exc.strerror}); "
                              "stop what holds it or remove service.start.port to use a free one") from None
        return int(sock.getsockname()[1])


def _expand(argv: list[str], port: int) -> list[str]:
    # {python} is the interpreter running the gate, so the service runs with the gate's packages.
    return [a.replace("{python}", sys.executable).replace("{port}", str(port)) for a in argv]


def _postgres_bin_dir() -> Path:
    """PostgreSQL's programs: on PATH, else Debian's versioned folder, else the pgserver package's."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return Path(initdb).parent
    debian = sorted(Path(p) for p in glob.glob(DEBIAN_POSTGRES_BIN))
    if debian:
        return max(debian, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    try:
        from pgserver import _commands
    except ImportError:
        raise TargetError("no PostgreSQL to start: initdb and postgres are not on PATH and the pgserver "
                          "package is not installed; apt install postgresql, or pip install pgserver") from None
    return Path(_commands.POSTGRES_BIN_PATH)


def _start_postgres(target: Target, logs: Path) -> str:
    assert target.folder is not None
    bin_dir = _postgres_bin_dir()
    data, sockets, pwfile = target.folder / "pgdata", target.folder / "sockets", target.folder / "pwfile"
    sockets.mkdir()
    password = register_secret(secrets.token_urlsafe(24))
    pwfile.write_text(password)
    # PostgreSQL refuses to run as root; run it as an unprivileged account that owns the folder.
    user = _unprivileged_user() if os.geteuid() == 0 else None
    if user is not None:
        for path in (target.folder, sockets, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    as_user: dict[str, Any] = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    try:
        code, out, err = run_captured([str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, "-E", "UTF8",
                                       "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"], 120, **as_user)
    except TargetError as exc:
        raise TargetError(f"initdb in {bin_dir}: {exc}") from None
    (logs / "initdb.log").write_text(out + err)
    if code != 0:
        raise TargetError(f"initdb failed (exit {code}):\n{last_lines(out + err)}")
    port = _port(None)
    log_path = logs / "postgres.log"
    with log_path.open("wb") as log:
        proc = _spawn(target, "postgres",
                      [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                       "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                       "-c", "full_page_writes=off"],
                      stdout=log, stderr=subprocess.STDOUT, **as_user)
    admin_url = f"postgresql://{PG_USER}:{password}@127.0.0.1:{port}/postgres"
    _wait_for_database(proc, admin_url, log_path)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    return f"postgresql://{PG_USER}:{password}@127.0.0.1:{port}/{PG_DATABASE}"


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise TargetError("running as root, and neither a 'postgres' nor a 'nobody' account exists to run "
                      "PostgreSQL as")


def _wait_for_database(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise TargetError(f"PostgreSQL exited with code {proc.returncode} while starting; "
                              f"last lines of {log_path}:\n{log_tail(log_path)}")
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise TargetError(f"PostgreSQL did not accept connections within {timeout_s:g} s; "
                                  f"last lines of {log_path}:\n{log_tail(log_path)}") from None
            time.sleep(0.1)


def _run_setup(argv: list[str], workdir: Path, env: dict[str, str], log_path: Path, timeout_s: float) -> None:
    try:
        run_tool(argv, log_path=log_path, timeout_s=timeout_s, cwd=workdir, env=env)
    except CheckError as exc:
        raise TargetError(f"setup command {' '.join(argv[1:4])} ... failed: {exc.reason}") from None


def _start_service(target: Target, argv: list[str], workdir: Path, env: dict[str, str], log_path: Path) -> None:
    log = log_path.open("wb")
    try:
        _spawn(target, "service", argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise TargetError(f"the service command {argv[0]} could not start: {exc}") from None
    finally:
        log.close()  # the child holds its own copy of the descriptor


def _wait_ready(target: Target, url: str, timeout_s: float, log_path: Path) -> None:
    _, proc = target.processes[-1]
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TargetError(f"the service exited with code {proc.returncode} before it became ready; "
                              f"last lines of {log_path}:\n{log_tail(log_path)}")
        try:
            answer = requests.get(url, timeout=2)
            if 200 <= answer.status_code < 300:
                return
            last = f"HTTP {answer.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise TargetError(f"the service did not become ready at {url} within {timeout_s:g} s (last answer: "
                      f"{last}); last lines of {log_path}:\n{log_tail(log_path)}")


def _token(argv: list[str], workdir: Path, env: dict[str, str]) -> str:
    # Captured, never logged: the token is a credential.
    try:
        code, out, err = run_captured(argv, 60, cwd=workdir, env=env)
    except TargetError as exc:
        raise TargetError(f"the token command: {exc}") from None
    token = out.strip()
    if code != 0 or not token:
        raise TargetError(f"the token command exited with code {code}: {last_lines(err)}")
    return register_secret(token)


def _say(console: IO[str] | None, line: str) -> None:
    if console is not None:
        print(line, file=console, flush=True)
