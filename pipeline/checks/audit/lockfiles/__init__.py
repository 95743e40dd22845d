"""Lock files the audit reads, one reader per format, chosen by the file's name.

| name | reader |
|---|---|
| ``uv.lock``, ``poetry.lock``, ``Pipfile.lock``, ``pylock.toml`` / ``pylock.<name>.toml`` | python |
| ``package-lock.json``, ``npm-shrinkwrap.json`` | npm (lockfileVersion 1, 2, 3) |
| ``yarn.lock`` | yarn (classic v1 and berry) |
| ``pnpm-lock.yaml`` | pnpm (lockfileVersion 6, 9) |
| ``*.txt`` | pinned requirements (pip-tools, ``pip freeze``; ``--hash`` options allowed) |

Every reader returns ``Dependency`` records with the file and line of each package, and
whether only development needs it (``dev``), as far as the lock records it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pipeline.checks.audit.lockfiles.npm import read_npm_lock
from pipeline.checks.audit.lockfiles.pnpm import read_pnpm_lock
from pipeline.checks.audit.lockfiles.python import read_pipfile_lock, read_poetry_lock, read_pylock, read_uv_lock
from pipeline.checks.audit.lockfiles.yarn import read_yarn_lock
from pipeline.checks.audit.osv import NPM, PYPI
from pipeline.checks.audit.reports import Dependency, read_requirements

Reader = Callable[[Path], list[Dependency]]

READERS: dict[str, tuple[str, Reader]] = {
    "uv.lock": (PYPI, read_uv_lock),
    "poetry.lock": (PYPI, read_poetry_lock),
    "Pipfile.lock": (PYPI, read_pipfile_lock),
    "pylock.toml": (PYPI, read_pylock),
    "package-lock.json": (NPM, read_npm_lock),
    "npm-shrinkwrap.json": (NPM, read_npm_lock),
    "yarn.lock": (NPM, read_yarn_lock),
    "pnpm-lock.yaml": (NPM, read_pnpm_lock),
}
KNOWN = (*READERS, "pylock.<name>.toml", "<requirements>.txt")


def reader_for(name: str) -> tuple[str, Reader] | None:
    """(ecosystem, reader) of a lock file named ``name``; None when the gate reads no such file."""
    if re.fullmatch(r"pylock\.[^.]+\.toml", name):
        return READERS["pylock.toml"]
    if name.endswith(".txt"):
        return PYPI, read_requirements
    return READERS.get(name)


def read_lock(path: Path) -> tuple[str, list[Dependency]]:
    """The ecosystem and the dependencies of one lock file (ValueError: a name the gate does not read)."""
    found = reader_for(path.name)
    if found is None:
        raise ValueError(f"{path.name} is not a lock file the gate reads ({', '.join(KNOWN)})")
    ecosystem, reader = found
    return ecosystem, reader(path)
