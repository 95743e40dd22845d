"""The service under test, when the gate owns it (``service.start`` in the config).

Starts a throwaway PostgreSQL in a temporary folder (``postgres``), runs the service's
setup commands (migrations, seed) and starts the service on a loopback port
(``service``), optionally a Prometheus scraping it (``prometheus``), and hands the
checks ``READINESS_BASE_URL``, ``READINESS_DATABASE_URL``, ``READINESS_PROMETHEUS_URL``
and (when a token command is configured) ``READINESS_API_TOKEN``. The setup commands and the
service get ``DATABASE_URL``, libpq's ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``/``PGDATABASE``,
and ``{db_host}``, ``{db_port}``, ``{db_user}``, ``{db_password}``, ``{db_name}`` filled in in
``env`` and the commands. This module is the lifecycle that owns them: everything is stopped and
the folder removed on every way out (success, failure, exception, Ctrl-C and SIGTERM). Logs stay
in ``reports/evidence/target/``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pipeline import proc
from pipeline.config import Config
from pipeline.interrupts import deferred_signals
from pipeline.redact import register_secret
from pipeline.target.owned import Target, TargetError, free_port, say
from pipeline.target.postgres import connection_variables, start_postgres
from pipeline.target.prometheus import start_prometheus
from pipeline.target.service import expand, fetch_token, run_setup, start_service
from pipeline.target.testdb import create_test_database

__all__ = ["Target", "TargetError", "running_postgres", "running_target", "start_settings", "stop"]


def start_settings(config: Config, needing: Iterable[str]) -> dict[str, Any] | None:
    """The ``service.start`` settings when the gate must start the target, else None.

    ``needing`` names the checks about to run that talk to the service (the caller asks
    the registry); None when there is none, or when the gate checks a service someone
    else runs.
    """
    start = config.service.get("start")
    needing = list(needing)
    if not isinstance(start, Mapping) or not needing:
        return None
    # The test suite's own database is made at start, migrated like the service's (see testdb).
    fresh = "coverage" in needing and config.check_settings("coverage").get("database") == "fresh"
    return {**start, "test_database": True} if fresh else dict(start)


@contextlib.contextmanager
def running_target(settings: Mapping[str, Any], project_dir: Path, evidence_dir: Path,
                   console: IO[str] | None = None) -> Iterator[Target]:
    """Start the target, yield it, and always stop it and remove its folder."""
    logs = evidence_dir / "target"
    logs.mkdir(parents=True, exist_ok=True)
    with _owned() as target:
        started = time.perf_counter()
        _start(target, settings, project_dir, logs, console)
        target.start_s = time.perf_counter() - started
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
    dsn = start_postgres(target, logs, settings.get("postgres")) if settings.get("database",
                                                                               "postgres") == "postgres" else None
    generated = {name: register_secret(secrets.token_urlsafe(32)) for name in settings.get("generated_secrets", [])}
    env, database = _command_env(settings, port, dsn, generated)
    if dsn:
        target.env["READINESS_DATABASE_URL"] = dsn
    # The checks get the generated secrets too (masked everywhere): the api check signs its expired and
    # scope-less tokens with them.
    target.env.update(generated)
    say(console, "target: running the setup commands")
    _setup(settings, port, dsn, generated, workdir, logs, "setup")
    if dsn and settings.get("test_database"):
        say(console, "target: migrating a separate database for the test suite")
        target.env["READINESS_TEST_DATABASE_URL"] = test_dsn = create_test_database(dsn)
        _setup(settings, port, test_dsn, generated, workdir, logs, "setup-test")
    base_url = f"http://127.0.0.1:{port}"
    start_service(target, expand(settings["command"], port, database), workdir, {**env, "PORT": str(port)},
                  base_url + settings.get("ready_path", "/ready"), float(settings.get("ready_timeout_s", 60)),
                  logs / "service.log")
    target.env["READINESS_BASE_URL"] = base_url
    if settings.get("token_command"):
        target.env["READINESS_API_TOKEN"] = fetch_token(expand(settings["token_command"], port, database), workdir,
                                                          env)
    if settings.get("prometheus"):
        start_prometheus(target, settings["prometheus"], port, project_dir, logs, console)
    say(console, f"target: ready at {base_url}")


def _command_env(settings: Mapping[str, Any], port: int, dsn: str | None,
                 generated: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str] | None]:
    """The environment of the setup commands and the service, and the ``{db_*}`` values, for database ``dsn``.

    service.start.env may map the database's parts onto the service's own names ({db_host}...);
    the gate's DATABASE_URL and PG* variables win over it.
    """
    libpq, database = connection_variables(dsn) if dsn else ({}, None)
    env = {**os.environ, **{name: expand([str(value)], port, database)[0]
                            for name, value in settings.get("env", {}).items()}, **generated}
    if dsn:
        env.update({"DATABASE_URL": dsn, **libpq})
    return env, database


def _setup(settings: Mapping[str, Any], port: int, dsn: str | None, generated: Mapping[str, str], workdir: Path,
           logs: Path, prefix: str) -> None:
    """The setup commands (migrations, seed), in order, against database ``dsn``."""
    env, database = _command_env(settings, port, dsn, generated)
    for index, argv in enumerate(settings.get("setup", [])):
        run_setup(expand(argv, port, database), workdir, env, logs / f"{prefix}-{index + 1}.log",
                  float(settings.get("setup_timeout_s", 300)))
