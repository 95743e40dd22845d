"""npm's package-lock.json / npm-shrinkwrap.json, lockfileVersion 1, 2 and 3.

Versions 2 and 3 list every installed package under ``packages`` keyed by its folder
(``node_modules/a/node_modules/b``); version 1 nests ``dependencies`` instead. npm marks
dev-only packages ``"dev": true``; ``devOptional`` (needed by dev or by an optional
dependency) counts as run time. Links and the project's own entry are not packages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.audit.lockfiles.common import line_of, load_json, pinned, read_text, unknown_version
from pipeline.checks.audit.osv import NPM
from pipeline.checks.audit.reports import Dependency

_KEYS = re.compile(r'"((?:[^"\\]|\\.)*node_modules/(?:[^"\\]|\\.)*)"\s*:\s*\{')


def read_npm_lock(path: Path) -> list[Dependency]:
    """Installed packages of a package-lock.json; lockfileVersion 1 is read from its nested dependencies."""
    text = read_text(path)
    document = load_json(path, text)
    version = document.get("lockfileVersion")
    if version not in (1, 2, 3) or isinstance(version, bool):
        raise unknown_version(path, text, "lockfileVersion", version, "1, 2 or 3")
    if version == 1:
        return _v1(path, text, evidence.mapping(document.get("dependencies") or {}, path, "dependencies"), "", 0)
    if "packages" not in document:
        raise unknown_version(path, text, "lockfileVersion", version, "a version 2 or 3 lock has 'packages'")
    found = []
    lines = _key_lines(text)
    for location, body in evidence.mapping(document["packages"], path, "packages").items():
        place = f"packages[{location!r}]"
        body = evidence.mapping(body, path, place)
        if not location or body.get("link") is True:
            continue  # "" is the project itself
        name = (evidence.optional_text(body.get("name"), path, f"{place}.name")
                or location.rsplit("node_modules/", 1)[-1])
        locked = evidence.optional_text(body.get("version"), path, f"{place}.version")
        found.append(pinned(NPM, name, locked, path, lines.get(location), dev=body.get("dev") is True,
                            entry=location))
    return found


def _v1(path: Path, text: str, entries: dict[str, Any], parent: str, after: int) -> list[Dependency]:
    """Version 1: each entry may nest its own ``dependencies``; keys are indented 4 more per level."""
    depth = parent.count("node_modules/")
    found = []
    for name, body in entries.items():
        location = f"{parent}node_modules/{name}"
        place = f"dependencies[{location!r}]"
        body = evidence.mapping(body, path, place)
        line = line_of(text, rf'^ {{{4 + 4 * depth}}}"{re.escape(name)}"\s*:\s*\{{', after)
        locked = evidence.optional_text(body.get("version"), path, f"{place}.version")
        skip = "not from the registry (a file, link or git version)" if re.match(r"[a-z+]+:", locked) else None
        found.append(pinned(NPM, name, locked, path, line, dev=body.get("dev") is True, entry=location, skip=skip))
        nested = evidence.mapping(body.get("dependencies") or {}, path, f"{place}.dependencies")
        found += _v1(path, text, nested, f"{location}/", line or after)
    return found


def _key_lines(text: str) -> dict[str, int]:
    """The line of each ``"node_modules/...": {`` key, so a finding can point at the package."""
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _KEYS.finditer(line):
            found.setdefault(match.group(1), number)
    return found
