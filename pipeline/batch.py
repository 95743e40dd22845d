"""``readiness batch``: one gate process runs many ``readiness`` commands, one after another.

A runner that calls the gate once per check (the Nox sessions) would otherwise start a
Python process per command and import the checks, pydantic, psycopg and the rest each
time: about 1.8 s per session against 0.05 s here (``benchmarks/gate_overhead.py``).

Requests come on stdin, one JSON object per line; each gets one JSON line on the reply
file descriptor, after the command's own output has been flushed:

- ``{"argv": ["check", "k6", ...], "env": {...}}``: ``readiness ARGV`` exactly as on the
  command line (the same ``main``), with ``env`` added to the environment for this command
  only. Reply ``{"exit": CODE}``.
- ``{"argv": ["target", ...], "env": {...}}``: start the service under test (the config's
  ``service.start``) and keep it for the commands that follow, which get its variables.
  Reply ``{"exit": 0, "env": {...}, "took_s": S, "groups": [...], "folder": F}`` (its own
  start time; the process groups and folder to kill and remove should this process die
  outright); ``env`` holds ``READINESS_TARGET_ERROR`` when it could not start (exit 2).
- ``{"stop": "target"}``: stop it. Reply ``{"exit": 0, "took_s": S}``.

The end of stdin (the caller exiting, however it exits), SIGTERM or Ctrl-C stops the target
and ends the process; a request that is not one of these is answered with exit 3 and a reason.
A command that was interrupted (Ctrl-C or SIGTERM reached this process), or after which a check
abandoned at its time budget still runs (a hang in Python code), is answered with ``"ended": WHY``,
and the process ends: the next command belongs in a new one.
Otherwise the commands share what ``readiness run`` shares between its checks: one process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from pipeline.cli_parser import EXIT_USAGE

if TYPE_CHECKING:
    from pipeline.target import Target

# ``main(argv) -> exit code`` and ``start_target(argv, stack) -> (env, target)``: handed in by the CLI.
Main = Callable[[list[str]], int]
StartTarget = Callable[[list[str], contextlib.ExitStack], "tuple[dict[str, str], Target | None]"]
# How long a check's worker thread may take to end after its command returned, before it counts as left running.
THREAD_END_S = 2.0


def serve(requests: IO[str], replies: IO[str], main: Main, start_target: StartTarget,
          interrupted: Callable[[], bool] = lambda: False) -> int:
    """Answer every request until ``requests`` ends; the target, if started, is stopped on every way out."""
    target_env: dict[str, str] = {}
    with contextlib.ExitStack() as target:
        for line in requests:
            try:
                request = _request(line)
            except ValueError as exc:
                _reply(replies, {"exit": EXIT_USAGE, "error": str(exc)})
                continue
            started = time.perf_counter()
            if request.get("stop") == "target":
                target.close()
                target_env = {}
                _reply(replies, {"exit": 0, "took_s": _since(started)})
            elif request["argv"][:1] == ["target"]:
                target.close()  # one target at a time: a second start replaces the first
                with _environment(request["env"]):
                    target_env, running = _start(start_target, request["argv"], target)
                _reply(replies, _started(target_env, running))
            else:
                with _environment({**request["env"], **target_env}):
                    code = _run(main, request["argv"])
                ended = _why_end(interrupted)
                _reply(replies, {"exit": code, **({"ended": ended} if ended else {})})
                if ended:
                    break
    return 0


def _started(env: dict[str, str], running: Target | None) -> dict[str, Any]:
    """The reply to a target start: its variables, its own start time, and what a caller must kill if we die.

    The target's processes run in their own process groups (``pipeline.proc``): a gate process killed
    outright (SIGKILL, the OOM killer) cannot stop them, so its caller gets their groups and folder.
    """
    reply: dict[str, Any] = {"exit": 2 if "READINESS_TARGET_ERROR" in env else 0, "env": env, "took_s": 0.0}
    if running is not None:
        reply.update(took_s=round(running.start_s, 3), groups=[process.pid for _, process in running.processes],
                     folder=str(running.folder) if running.folder else None)
    return reply


def _why_end(interrupted: Callable[[], bool]) -> str | None:
    """Why this batch must not take another command, if it must not."""
    if interrupted():  # Ctrl-C or SIGTERM reached this process: it was meant to end, not to go on
        return "it was interrupted (Ctrl-C or SIGTERM)"
    # A check given up at its time budget still runs in a thread (a hang in Python code): it must not
    # share a process with the next check. A worker that is merely finishing gets a moment to end.
    for thread in threading.enumerate():
        if thread.name.startswith("check-"):
            thread.join(THREAD_END_S)
            if thread.is_alive():
                return "a check abandoned at its time budget still runs"
    return None


def _request(line: str) -> dict[str, Any]:
    """One request line, checked: ``{"stop": "target"}`` or ``{"argv": [text...], "env": {text: text}}``."""
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a request is one JSON object per line: {exc}") from None
    if request == {"stop": "target"}:
        return {"stop": "target"}
    if not isinstance(request, dict) or set(request) - {"argv", "env"}:
        raise ValueError('a request is {"argv": [...], "env": {...}} or {"stop": "target"}')
    argv, env = request.get("argv"), request.get("env", {})
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ValueError("env must map names to strings")
    return {"argv": argv, "env": env}


def _start(start_target: StartTarget, argv: list[str],
           stack: contextlib.ExitStack) -> tuple[dict[str, str], Target | None]:
    """The target's variables and itself; what kept it from starting (its config, its arguments) is the reason."""
    from pipeline.redact import redact

    try:
        return start_target(argv, stack)
    except SystemExit:
        return {"READINESS_TARGET_ERROR": f"readiness {' '.join(argv)}: the arguments were refused (see above)"}, None
    except Exception as exc:  # a config error or a defect: the checks that need the target say why, none passes
        return {"READINESS_TARGET_ERROR": redact(f"{type(exc).__name__}: {exc}")}, None


def _run(main: Main, argv: list[str]) -> int:
    """``readiness ARGV``'s exit code; argparse's refusal (SystemExit) is a code too, never the end of the batch."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


@contextlib.contextmanager
def _environment(added: Mapping[str, str]) -> Iterator[None]:
    """``added`` in ``os.environ`` for one command; then the environment as it was, whatever the command set."""
    before = dict(os.environ)
    os.environ.update(added)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def _reply(replies: IO[str], reply: dict[str, Any]) -> None:
    """The reply, after the command's own output: the caller shows what follows only once it has it."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    replies.write(json.dumps(reply) + "\n")
    replies.flush()


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
