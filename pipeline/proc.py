"""The one way the gate runs an external program.

argv list (never a shell string), its own process group, a timeout after which the
whole group is killed, output streamed to the console and saved as evidence, and
exit codes checked against what the caller declares as expected. Three shapes:

- ``run_tool``: a check's tool (or a setup command), output logged and streamed;
- ``run_captured``: a short command whose output stays in memory (a token, initdb);
- ``start_background``: a long-running process beside the checks (the target's
  database, service and Prometheus), stopped by its owner with ``stop_background``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.errors import CheckError, CheckTimeout, ToolFailed, ToolNotFound
from pipeline.interrupts import Signals, deferred_signals
from pipeline.redact import redact, terminal_safe

# Process groups still running, so that an abandoned check (per-check timeout) can be stopped.
_live_groups: set[int] = set()
_live_lock = threading.Lock()
# Things that are not process groups (containers) register how to interrupt and kill them.
_live_others: dict[int, tuple[Callable[[], None], Callable[[], None]]] = {}
# Long-running processes started beside the checks (the target's). Not check tools: a check's
# Ctrl-C forwarding and an abandoned check's clean-up leave them alone; their owner stops them,
# and whatever an interrupted gate left is killed when the interpreter exits.
_background: dict[int, subprocess.Popen[bytes]] = {}
# How long a background process gets to stop after its first signal, and after SIGKILL.
STOP_GRACE_S = 15.0
KILL_WAIT_S = 5.0


@contextlib.contextmanager
def stoppable(interrupt: Callable[[], None], kill: Callable[[], None]) -> Iterator[None]:
    """While inside, Ctrl-C forwarding calls ``interrupt`` and an abandoned check calls ``kill``."""
    key = id(interrupt)
    with _live_lock:
        _live_others[key] = (interrupt, kill)
    try:
        yield
    finally:
        with _live_lock:
            _live_others.pop(key, None)


@dataclass(frozen=True)
class ToolRun:
    """How a tool run ended."""

    argv: tuple[str, ...]
    exit_code: int
    log_path: Path
    duration_s: float

    def tail(self, lines: int = 20) -> str:
        """The last lines of the tool's output, for error messages."""
        return log_tail(self.log_path, lines)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for error messages ("(no log)" when there is none)."""
    if not path.exists():
        return "(no log)"
    return last_lines(path.read_text(encoding="utf-8", errors="replace"), lines)


def last_lines(text: str, lines: int = 20) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def find_tool(name: str, extra_dirs: Iterable[Path] = ()) -> str | None:
    """Path of an executable on PATH or in one of ``extra_dirs``."""
    found = shutil.which(name)
    if found:
        return found
    for folder in extra_dirs:
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def tool_version(executable: str, flag: str = "--version") -> str:
    """First line of ``executable --version`` (what the tool says of itself), or 'unknown'.

    Only for tools the gate knows (k6, pip-audit, npm): a user's own command is never
    probed, since ``their-test-script --version`` may run the whole suite again. The
    probe runs in its own process group, killed with everything it started on timeout.
    """
    try:
        code, out, err = run_captured([executable, flag], 15)
    except CheckError:
        return "unknown"
    lines = (out or err).strip().splitlines()
    return lines[0].strip() if code == 0 and lines else "unknown"


def run_captured(argv: Sequence[str], timeout_s: float, *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, user: int | None = None,
                 group: int | None = None) -> tuple[int, str, str]:
    """A short command in its own process group, its output kept in memory (never logged).

    Returns (exit code, stdout, stderr). The whole group is killed on every way out:
    timeout (CheckTimeout), Ctrl-C, SIGTERM, or children left behind after it exits.
    ToolNotFound when it cannot start. ``user``/``group`` run it as another account.
    """
    child: subprocess.Popen[str] | None = None
    try:
        with deferred_signals():
            child = subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, user=user, group=group)
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise CheckTimeout(f"{Path(argv[0]).name} did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise ToolNotFound(f"{argv[0]} could not run: {exc}") from None
    finally:
        if child is not None:
            _stop_group(child, signal.SIGKILL)
    return child.returncode, out, err


def start_background(argv: Sequence[str], *, log_path: Path, cwd: Path | None = None,
                     env: Mapping[str, str] | None = None, user: int | None = None,
                     group: int | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running process: its own process group, stdin closed, stdout and stderr to ``log_path``.

    It is registered before a signal can intervene: its owner stops it with
    ``stop_background``; one an interrupted gate left behind is killed at exit.
    ``user``/``group`` run it as another account (PostgreSQL refuses to run as root).
    ToolNotFound when it cannot start.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with deferred_signals(), log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        try:
            process = subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env),
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, user=user, group=group)
        except OSError as exc:
            raise ToolNotFound(f"{argv[0]} could not start: {exc}") from None
        with _live_lock:
            _background[process.pid] = process
    return process


def stop_background(process: subprocess.Popen[Any], first: signal.Signals = signal.SIGTERM,
                    signals: Signals | None = None) -> None:
    """Stop a background process's whole group: ``first``, then SIGKILL if it lingers.

    A signal counted in ``signals`` meanwhile (the user asking again) cuts the polite wait short.
    """
    try:
        _stop_group(process, first, signals)
    finally:
        with _live_lock:
            _background.pop(process.pid, None)


def kill_all_background() -> None:
    """SIGKILL every background process still registered (the gate is exiting without its owner's clean-up)."""
    with _live_lock:
        left = list(_background.values())
        _background.clear()
    for process in left:
        _signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=KILL_WAIT_S)


atexit.register(kill_all_background)


def run_tool(
    argv: Sequence[str],
    *,
    log_path: Path,
    timeout_s: float,
    expected: Iterable[int] = (0,),
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    console: IO[str] | None = None,
    install_hint: str = "",
    stdout_path: Path | None = None,
) -> ToolRun:
    """Run ``argv``, tee its output to ``log_path`` (and ``console``), enforce the timeout.

    With ``stdout_path`` the tool's stdout (a report it prints, npm audit's JSON say) is
    kept byte for byte in that file and only stderr goes to the log and the console.
    Raises ToolNotFound, CheckTimeout (after killing the process group) or ToolFailed
    when the exit code is not in ``expected``. The tool runs in its own session, so a
    terminal's Ctrl-C does not reach it directly: the runner forwards it
    (``interrupt_all_running``) and gives the tool a moment to finish. Any other way out
    (SIGTERM during a setup command, say) kills the whole group before it goes on up.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with contextlib.ExitStack() as files:
        log = files.enter_context(log_path.open("w", encoding="utf-8"))
        report = files.enter_context(stdout_path.open("wb")) if stdout_path is not None else None
        proc = _start_tool(argv, cwd, env, report is not None, install_hint)
        pumps = _start_pumps(proc, log, report, console)
        try:
            exit_code = _wait_tool(proc, Path(argv[0]).name, timeout_s, log_path)
        finally:
            for pump in pumps:
                pump.join(timeout=5)
            with _live_lock:
                _live_groups.discard(proc.pid)
    run = ToolRun(tuple(argv), exit_code, log_path, round(time.monotonic() - started, 3))
    if exit_code not in set(expected):
        raise ToolFailed(
            f"{Path(argv[0]).name} exited with code {exit_code}; last output:\n{run.tail()}",
            f"The full output is in {log_path}.",
            exit_code,
        )
    return run


def _start_tool(argv: Sequence[str], cwd: Path | None, env: Mapping[str, str] | None, stderr_apart: bool,
                install_hint: str) -> subprocess.Popen[bytes]:
    """The tool started in its own session and registered as running, or ToolNotFound."""
    with deferred_signals():  # started and registered, or neither
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(os.environ if env is None else env),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE if stderr_apart else subprocess.STDOUT,
                                    start_new_session=True)
        except FileNotFoundError as exc:
            raise ToolNotFound(f"{argv[0]} was not found (looked on PATH and in {cwd or Path.cwd()}).",
                               install_hint or f"Install {argv[0]} or put it on PATH.") from exc
        except PermissionError as exc:
            raise ToolNotFound(f"{argv[0]} is not executable: {exc}.", install_hint) from exc
        with _live_lock:
            _live_groups.add(proc.pid)
    return proc


def _start_pumps(proc: subprocess.Popen[bytes], log: IO[str], report: IO[bytes] | None,
                 console: IO[str] | None) -> list[threading.Thread]:
    """Threads that copy the tool's output: to the log and console, its stdout to ``report`` when kept apart."""
    assert proc.stdout is not None
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, log, console), daemon=True)]
    if report is not None:
        assert proc.stderr is not None
        pumps = [threading.Thread(target=_copy, args=(proc.stdout, report), daemon=True),
                 threading.Thread(target=_pump, args=(proc.stderr, log, console), daemon=True)]
    for pump in pumps:
        pump.start()
    return pumps


def _wait_tool(proc: subprocess.Popen[bytes], name: str, timeout_s: float, log_path: Path) -> int:
    """The tool's exit code; its whole group is killed on timeout (CheckTimeout) and on any other way out."""
    try:
        exit_code = proc.wait(timeout=timeout_s)
        # Leftover children (a server the tests started, say) must not outlive the tool.
        _signal_group(proc.pid, signal.SIGKILL)
        return exit_code
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise CheckTimeout(f"{name} did not finish within {timeout_s:g} s and was stopped.",
                           f"Raise the timeout in the config or look at {log_path} for where it hung.") from exc
    except BaseException:
        _kill_group(proc)
        raise


def live_groups() -> set[int]:
    """Process groups of the tools running now."""
    with _live_lock:
        return set(_live_groups)


def live_stoppables() -> bool:
    """Whether something that is not a process (a container, a database query) is registered as running."""
    with _live_lock:
        return bool(_live_others)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a process group that may already be gone."""
    _signal_group(pgid, sig)


def kill_all_running() -> None:
    """Stop every tool still running (used when a check is abandoned at its timeout)."""
    with _live_lock:
        groups = list(_live_groups)
        others = [kill for _, kill in _live_others.values()]
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)
    for kill in others:
        with contextlib.suppress(Exception):  # best effort: the engine may be gone
            kill()


def interrupt_all_running() -> None:
    """Forward Ctrl-C to every running tool (they run in their own process groups)."""
    with _live_lock:
        groups = list(_live_groups)
        others = [interrupt for interrupt, _ in _live_others.values()]
    for pgid in groups:
        _signal_group(pgid, signal.SIGINT)
    for interrupt in others:
        with contextlib.suppress(Exception):
            interrupt()


def _pump(stream: IO[bytes], log: IO[str], console: IO[str] | None) -> None:
    # Tool output may echo a secret (a DSN in an error, a token in a debug line) and, when it
    # comes from a scanned site, terminal escapes that could repaint the console: the log
    # gets it redacted, the console redacted and stripped of escapes.
    for raw in iter(stream.readline, b""):
        line = redact(raw.decode("utf-8", errors="replace"))
        log.write(line)
        if console is not None:
            console.write(terminal_safe(line))
            console.flush()
    log.flush()


def _copy(stream: IO[bytes], target: IO[bytes]) -> None:
    for block in iter(lambda: stream.read(1 << 16), b""):
        target.write(block)
    target.flush()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stop_group(process: subprocess.Popen[Any], first: signal.Signals, signals: Signals | None = None) -> None:
    calm = signals.count if signals else 0
    for sig, wait_s in ((first, STOP_GRACE_S), (signal.SIGKILL, KILL_WAIT_S)):
        _signal_group(process.pid, sig)
        deadline = time.monotonic() + wait_s
        while process.poll() is None and time.monotonic() < deadline:
            if signals is not None and signals.count > calm and sig is not signal.SIGKILL:
                break  # asked again: no more patience
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
        if process.poll() is not None:
            break
    # The group may still hold children (uvicorn workers) after its leader exited.
    _signal_group(process.pid, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    # SIGTERM first so tools can clean up; SIGKILL the group if it lingers, even when a second
    # interrupt cuts the polite wait short.
    try:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    finally:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
