"""What the audit reads before judging anything: the pins, the lock files, and their copies as evidence.

Python pins (requirements files and Python lock files) are audited by pip-audit online or
matched offline; Node lock entries by npm audit online (package-lock.json only) or offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.checks.audit import osv
from pipeline.checks.audit.lockfiles import read_lock
from pipeline.checks.audit.reports import Dependency, Vulnerability, read_requirements
from pipeline.checks.audit.settings import AuditSettings
from pipeline.checks.interface import CheckContext

NPM_AUDITS = ("package-lock.json", "npm-shrinkwrap.json")  # what npm audit --package-lock-only reads


@dataclass(frozen=True)
class Inputs:
    """The files named in the config, read: requirement pins, Python lock pins, Node locks."""

    requirements: tuple[Path, ...]
    pins: tuple[Dependency, ...]  # from the requirements files
    lock_pins: tuple[Dependency, ...]  # from Python lock files
    node_locks: tuple[Path, ...]
    locked: tuple[Dependency, ...]  # from the Node lock files

    @property
    def empty(self) -> bool:
        """Nothing named to audit."""
        return not self.requirements and not self.lock_pins and not self.node_locks


def read_inputs(settings: AuditSettings, ctx: CheckContext) -> Inputs:
    """Every pin and lock entry, named relative to the project; the originals are kept as evidence.

    The originals are read (a requirements file may include others by relative path).
    """
    requirements = tuple(ctx.resolve(p) for p in settings.requirements)
    locks = [ctx.resolve(p) for p in (*([settings.npm_lock] if settings.npm_lock else []), *settings.lock_files)]
    pins = tuple(_in_project(d, ctx) for path in requirements for d in read_requirements(path))
    lock_pins: list[Dependency] = []
    node_locks: list[Path] = []
    locked: list[Dependency] = []
    for path in dict.fromkeys(locks):
        ecosystem, found = read_lock(path)
        if ecosystem == osv.PYPI:
            lock_pins += (_in_project(d, ctx) for d in found)
        else:
            node_locks.append(path)
            locked += (_in_project(d, ctx) for d in found)
    for path in (*requirements, *locks):
        if path.is_file():
            ctx.add_evidence(path)
    return Inputs(requirements, pins, tuple(lock_pins), tuple(node_locks), tuple(locked))


def pinned_requirements(pins: Sequence[Dependency], path: Path) -> Path:
    """The auditable Python lock pins as ``name==version`` lines, the input pip-audit reads."""
    lines = sorted({f"{d.name}=={d.version}" for d in pins if d.version and not d.skip_reason})
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def mark_dev(vulnerabilities: Sequence[Vulnerability], dependencies: Sequence[Dependency]) -> list[Vulnerability]:
    """Each vulnerability marked dev when every dependency it was found in (same file and name) is dev-only."""
    found = []
    for vuln in vulnerabilities:
        where = [d for d in dependencies if d.file == vuln.file and d.name.lower() == vuln.package.lower()]
        found.append(replace(vuln, dev=bool(where) and all(d.dev for d in where)))
    return found


def shown(path: Path | str, ctx: CheckContext) -> str:
    """A file as a finding names it: relative to the project (POSIX) when it lies inside, else as it is."""
    try:
        return Path(path).resolve().relative_to(ctx.project_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _in_project(dep: Dependency, ctx: CheckContext) -> Dependency:
    """A pin or lock entry named by its file relative to the project, as findings and annotations want it."""
    return replace(dep, file=shown(dep.file, ctx))
