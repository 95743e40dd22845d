"""pnpm-lock.yaml, lockfileVersion 6.x and 9.x.

Packages are keyed ``/name@version`` (6) or ``name@version`` (9), a peer suffix
``(react@18.0.0)`` aside. Dev-only: version 6 marks packages ``dev: true``; version 9
no longer does, so run time is what the importers' ``dependencies`` and
``optionalDependencies`` reach through ``snapshots``, and the rest is dev.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.audit.lockfiles.common import load_yaml, pinned, read_versioned
from pipeline.checks.audit.osv import NPM
from pipeline.checks.audit.reports import Dependency

_PEERS = re.compile(r"\(.*\)$")


def read_pnpm_lock(path: Path) -> list[Dependency]:
    """Every package of a pnpm lock, dev-only as the lock says (6) or as the importers reach it (9)."""
    text, document = read_versioned(path, load_yaml, "lockfileVersion", r"[69](\.\d+)?", "6.x or 9.x")
    version = str(document["lockfileVersion"])
    packages = evidence.mapping(document.get("packages") or {}, path, "packages")
    runtime = _runtime(document, path) if version.startswith("9") else None
    lines = _key_lines(text)
    found = []
    for key, body in packages.items():
        place = f"packages[{key!r}]"
        body = evidence.mapping(body or {}, path, place)
        name, locked = _split_key(key.lstrip("/"))
        resolution = evidence.mapping(body.get("resolution") or {}, path, f"{place}.resolution")
        skip = None if "integrity" in resolution else "not from the registry (a tarball, git or a directory)"
        dev = (name, locked) not in runtime if runtime is not None else body.get("dev") is True
        found.append(pinned(NPM, name, locked, path, lines.get(key), dev=dev, entry=key, skip=skip))
    return found


def _split_key(key: str) -> tuple[str, str]:
    at = key.find("@", 1)
    return (key[:at], _PEERS.sub("", key[at + 1:])) if at > 0 else (key, "")


def _runtime(document: dict[str, Any], path: Path) -> set[tuple[str, str]] | None:
    """(name, version) the importers need at run time, through the snapshots; None without importers."""
    importers = evidence.mapping(document.get("importers") or {}, path, "importers")
    if not importers:
        return None
    snapshots = evidence.mapping(document.get("snapshots") or {}, path, "snapshots")
    queue: deque[str] = deque()
    for where, importer in importers.items():
        importer = evidence.mapping(importer, path, f"importers[{where!r}]")
        for section in ("dependencies", "optionalDependencies"):
            for name, spec in evidence.mapping(importer.get(section) or {}, path, f"importers[{where!r}].{section}"
                                               ).items():
                at = f"importers[{where!r}].{section}[{name!r}]"
                spec = evidence.mapping(spec, path, at)
                queue.append(f"{name}@{evidence.text(spec.get('version'), path, f'{at}.version')}")
    seen: set[str] = set()
    while queue:
        key = queue.popleft()
        if key in seen:
            continue
        seen.add(key)
        snapshot = evidence.mapping(snapshots.get(key) or {}, path, f"snapshots[{key!r}]")
        for section in ("dependencies", "optionalDependencies"):
            for name, version in evidence.mapping(snapshot.get(section) or {}, path, f"snapshots[{key!r}]"
                                                  ).items():
                queue.append(f"{name}@{version}")
    return {_split_key(key) for key in seen}


def _key_lines(text: str) -> dict[str, int]:
    """The line of each key of the ``packages:`` section (indented two spaces, quotes removed)."""
    found: dict[str, int] = {}
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line and not line[0].isspace():
            inside = line.rstrip() == "packages:"
        elif inside and re.match(r"^  \S", line):
            found.setdefault(line.strip().rstrip(":{} ").rstrip(":").strip("'\""), number)
    return found
