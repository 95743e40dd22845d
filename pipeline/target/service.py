"""The service itself: its setup commands (migrations, seed), the server, and the API token it issues.

``{python}`` in a command is the interpreter running the gate (so the service runs with
the gate's packages) and ``{port}`` its loopback port. The token is captured, never
logged, and registered as a secret.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline import proc
from pipeline.errors import CheckError
from pipeline.redact import register_secret
from pipeline.target.owned import Target, TargetError, http_answer, wait_ready

TOKEN_TIMEOUT_S = 60.0


DB_PLACEHOLDERS = ("{db_host}", "{db_port}", "{db_user}", "{db_password}", "{db_name}")


def expand(argv: Sequence[str], port: int, database: Mapping[str, str] | None = None) -> list[str]:
    """A configured command (or env value) with ``{python}``, ``{port}`` and the ``{db_*}`` parts filled in.

    ``database`` maps each ``{db_*}`` placeholder to its value; without a database, a
    command that names one is a TargetError (an empty host would be a silent guess).
    """
    found = []
    for arg in argv:
        text = arg.replace("{python}", sys.executable).replace("{port}", str(port))
        for placeholder in DB_PLACEHOLDERS:
            if placeholder in text and database is None:
                raise TargetError(f"{arg!r} names {placeholder}, but the target starts no database "
                                  "(service.start.database is not postgres)")
            text = text.replace(placeholder, database[placeholder]) if database else text
        found.append(text)
    return found


def run_setup(argv: list[str], workdir: Path, env: Mapping[str, str], log_path: Path, timeout_s: float) -> None:
    """One setup command (a migration, a seed) to completion; TargetError with its output when it fails."""
    try:
        proc.run_tool(argv, log_path=log_path, timeout_s=timeout_s, cwd=workdir, env=env)
    except CheckError as exc:
        raise TargetError(f"setup command {' '.join(argv[1:4])} ... failed: {exc.reason}") from None


def start_service(target: Target, argv: list[str], workdir: Path, env: Mapping[str, str], ready_url: str,
                  ready_timeout_s: float, log_path: Path) -> None:
    """Start the service and wait until ``ready_url`` answers 2xx; TargetError with its log tail otherwise."""
    process = target.spawn("service", argv, log_path, cwd=workdir, env=env)
    wait_ready(process, lambda: http_answer(ready_url), what="the service", where=ready_url,
               timeout_s=ready_timeout_s, log_path=log_path)


def fetch_token(argv: list[str], workdir: Path, env: Mapping[str, str]) -> str:
    """The API token the token command prints (captured, never logged; registered as a secret)."""
    try:
        code, out, err = proc.run_captured(argv, TOKEN_TIMEOUT_S, cwd=workdir, env=env)
    except CheckError as exc:
        raise TargetError(f"the token command: {exc.reason}") from None
    token = out.strip()
    if code != 0 or not token:
        raise TargetError(f"the token command exited with code {code}: {proc.last_lines(err)}")
    return register_secret(token)
