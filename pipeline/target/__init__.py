"""The service under test, when the gate owns it (``service.start`` in the config).

Starts a throwaway PostgreSQL in a temporary folder (``postgres``), runs the service's
setup commands (migrations, seed) and starts the service on a loopback port
(``service``), optionally a Prometheus scraping it (``prometheus``), and hands the
checks ``READINESS_BASE_URL``, ``READINESS_DATABASE_URL``, ``READINESS_PROMETHEUS_URL``
and (when a token command is configured) ``READINESS_API_TOKEN``. This module is the
lifecycle that owns them: everything is stopped and the folder removed on every way out
(success, failure, exception, Ctrl-C and SIGTERM). Logs stay in ``reports/evidence/target/``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pipeline import proc
from pipeline.config import Config
from pipeline.interrupts import deferred_signals
from pipeline.redact import register_secret
from pipeline.target.owned import Target, TargetError, free_port, say
from pipeline.target.postgres import start_postgres
from pipeline.target.prometheus import start_prometheus
from pipeline.target.service import expand, fetch_token, run_setup, start_service

__all__ = ["Target", "TargetError", "running_postgres", "running_target", "start_settings", "stop"]


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
        yield start_postgres(target, evidence_dir)


def stop(target: Target) -> None:
    """Stop every process (service first, database last) and remove the folder. Idempotent.

    Signals wait until everything is stopped; one arriving meanwhile cuts the graceful
    waits short (SIGKILL at once) and is raised as KeyboardInterrupt afterwards.
    """
    with deferred_signals() as signals:
        while target.processes:
            name, process = target.processes.pop()
            # PostgreSQL's fast shutdown is SIGINT; a web server stops cleanly on SIGTERM.
            proc.stop_background(process, signal.SIGINT if name == "postgres" else signal.SIGTERM, signals)
        if target.folder is not None:
            shutil.rmtree(target.folder, ignore_errors=True)
            target.folder = None


@contextlib.contextmanager
def _owned() -> Iterator[Target]:
    """A target with its own temporary folder; whatever it started is stopped on every way out."""
    target = Target(folder=Path(tempfile.mkdtemp(prefix="readiness-target-")))
    try:
        yield target
    finally:
        stop(target)


def _start(target: Target, settings: Mapping[str, Any], project_dir: Path, logs: Path,
           console: IO[str] | None) -> None:
    """Database, setup commands, service, token, Prometheus: in that order, each waited for."""
    workdir = project_dir / settings.get("workdir", ".")
    port = free_port(settings.get("port"))
    env = {**os.environ, **settings.get("env", {})}
    for name in settings.get("generated_secrets", []):
        # The checks get it too (masked everywhere): the api check signs its expired and scope-less tokens.
        env[name] = target.env[name] = register_secret(secrets.token_urlsafe(32))
    if settings.get("database", "postgres") == "postgres":
        env["DATABASE_URL"] = target.env["READINESS_DATABASE_URL"] = start_postgres(target, logs)
    say(console, "target: running the setup commands")
    for index, argv in enumerate(settings.get("setup", [])):
        run_setup(expand(argv, port), workdir, env, logs / f"setup-{index + 1}.log",
                  float(settings.get("setup_timeout_s", 300)))
    base_url = f"http://127.0.0.1:{port}"
    start_service(target, expand(settings["command"], port), workdir, {**env, "PORT": str(port)},
                  base_url + settings.get("ready_path", "/ready"), float(settings.get("ready_timeout_s", 60)),
                  logs / "service.log")
    target.env["READINESS_BASE_URL"] = base_url
    if settings.get("token_command"):
        target.env["READINESS_API_TOKEN"] = fetch_token(expand(settings["token_command"], port), workdir, env)
    if settings.get("prometheus"):
        start_prometheus(target, settings["prometheus"], port, project_dir, logs, console)
    say(console, f"target: ready at {base_url}")
