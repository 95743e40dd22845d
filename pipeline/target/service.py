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


def expand(argv: Sequence[str], port: int) -> list[str]:
    """A configured command with ``{python}`` and ``{port}`` filled in."""
    return [a.replace("{python}", sys.executable).replace("{port}", str(port)) for a in argv]


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
