"""What a started target owns (its folder, its processes, the environment it offers) and how it waits.

Shared by the parts of the target (PostgreSQL, the service, Prometheus): every process
is started through ``pipeline.proc`` and recorded here before a signal can intervene,
so the lifecycle stops it on every way out.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from pipeline import proc
from pipeline.errors import ToolNotFound
from pipeline.interrupts import deferred_signals


class TargetError(Exception):
    """The target could not be started; the message names the cause and shows the log tail."""


@dataclass
class Target:
    """What a started target offers the checks, and what must be stopped."""

    env: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    start_s: float = 0.0  # how long the start took: database, setup, service, token, Prometheus

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, *, cwd: Path | None = None,
              env: Mapping[str, str] | None = None, user: int | None = None,
              group: int | None = None) -> subprocess.Popen[bytes]:
        """Start a part (``name``: postgres, service, prometheus) in the background, recorded at once."""
        with deferred_signals():  # started and recorded, or neither
            try:
                process = proc.start_background(argv, log_path=log_path, cwd=cwd, env=env, user=user, group=group)
            except ToolNotFound as exc:
                raise TargetError(f"the {name} command {exc.reason}") from None
            self.processes.append((name, process))
        return process

    @property
    def workspace(self) -> Path:
        """The target's temporary folder (it exists while the target runs)."""
        if self.folder is None:
            raise TargetError("the target has no folder: it was stopped already")
        return self.folder


def wait_ready(process: subprocess.Popen[bytes], probe: Callable[[], str | None], *, what: str,
               timeout_s: float, log_path: Path, where: str = "", step_s: float = 0.2) -> None:
    """Poll ``probe`` until it says ready (None; else it returns what it saw) while ``process`` runs.

    TargetError with the last lines of ``log_path`` when the process exits first or time runs out.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise TargetError(f"{what} exited with code {process.returncode} before it became ready; "
                              f"last lines of {log_path}:\n{proc.log_tail(log_path)}")
        seen = probe()
        if seen is None:
            return
        if time.monotonic() > deadline:
            at = f" at {where}" if where else ""
            raise TargetError(f"{what} did not become ready{at} within {timeout_s:g} s (last answer: {seen}); "
                              f"last lines of {log_path}:\n{proc.log_tail(log_path)}")
        time.sleep(step_s)


def http_answer(url: str) -> str | None:
    """None when ``url`` answers 2xx, else what it answered (``HTTP 404``, ``ConnectionError``)."""
    try:
        answer = requests.get(url, timeout=2)
    except requests.RequestException as exc:
        return type(exc).__name__
    return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"


def free_port(configured: int | None = None) -> int:
    """The configured port if it is free, else a free loopback port chosen by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", configured or 0))
        except OSError as exc:
            raise TargetError(f"port {configured} on 127.0.0.1 is already in use ({exc.strerror}); "
                              "stop what holds it or remove service.start.port to use a free one") from None
        return int(sock.getsockname()[1])


def say(console: IO[str] | None, line: str) -> None:
    """Tell the person watching what the target is doing (start-up takes a while)."""
    if console is not None:
        print(line, file=console, flush=True)
