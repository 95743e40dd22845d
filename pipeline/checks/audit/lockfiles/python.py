"""Python lock files: uv.lock, poetry.lock, Pipfile.lock and pylock.toml (PEP 751).

Each names its packages with exact versions; what is dev-only is read from the lock itself
(uv: reachable only through the project's dev groups; Poetry: not in the ``main`` group,
or ``category = "dev"``; Pipfile.lock: only in ``develop``; pylock: a marker that names
only ``dependency_groups``). A package from git, a URL or a local file is skipped with why:
its version number says nothing about its code. The project's own entries are not packages.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.audit.lockfiles.common import (
    line_of,
    load_json,
    load_toml,
    pinned,
    read_versioned,
    toml_package_lines,
)
from pipeline.checks.audit.osv import PYPI
from pipeline.checks.audit.reports import Dependency
from pipeline.errors import ParseError

OWN_SOURCES = ("virtual", "editable", "directory")  # the project (or a workspace member) itself
FOREIGN_SOURCES = ("git", "url", "path", "file")  # not an index release: no version to compare


def read_uv_lock(path: Path) -> list[Dependency]:
    """uv.lock (version 1): registry packages, dev-only when only the project's dev groups reach them."""
    text, document = read_versioned(path, load_toml, "version", "1", "uv.lock version 1")
    lines = toml_package_lines(text, "package")
    packages = list(evidence.objects(document.get("package"), path, "package", optional=True))
    runtime = _uv_runtime(packages, path)
    found = []
    for place, package in packages:
        name = evidence.text(package.get("name"), path, f"{place}.name")
        version = evidence.optional_text(package.get("version"), path, f"{place}.version")
        kind = _source_kind(package.get("source"), path, f"{place}.source")
        if kind in OWN_SOURCES:
            continue
        found.append(pinned(PYPI, name, version, path, lines.get((name, version)),
                            dev=runtime is not None and (name, version) not in runtime,
                            skip=f"from {kind}, not an index" if kind in FOREIGN_SOURCES else None))
    return found


def _source_kind(source: Any, path: Path, place: str) -> str:
    source = evidence.mapping(source if source is not None else {"registry": ""}, path, place)
    return next(iter(source), "registry")


def _uv_runtime(packages: list[tuple[str, dict[str, Any]]], path: Path) -> set[tuple[str, str]] | None:
    """(name, version) of every package the project needs at run time; None when the lock has no project."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for _, package in packages:
        by_name.setdefault(str(package.get("name")), []).append(package)
    roots = [(p, package) for p, package in packages
             if _source_kind(package.get("source"), path, f"{p}.source") in OWN_SOURCES]
    if not roots:
        return None
    seen: set[tuple[str, str]] = set()
    queue = deque(edge for p, root in roots for edge in _uv_edges(root, path, p))
    while queue:
        name, version = queue.popleft()
        for package in by_name.get(name, []):
            key = (name, str(package.get("version", "")))
            if (version is None or version == key[1]) and key not in seen:
                seen.add(key)
                queue.extend(_uv_edges(package, path, f"package[{name!r}]"))
    return seen


def _uv_edges(package: dict[str, Any], path: Path, place: str) -> list[tuple[str, str | None]]:
    """The packages ``package`` needs at run time: its dependencies and its extras (not its dev groups)."""
    edges = list(evidence.objects(package.get("dependencies"), path, f"{place}.dependencies", optional=True))
    extras = evidence.mapping(package.get("optional-dependencies") or {}, path, f"{place}.optional-dependencies")
    for extra, listed in extras.items():
        edges += evidence.objects(listed, path, f"{place}.optional-dependencies[{extra!r}]")
    return [(evidence.text(edge.get("name"), path, f"{at}.name"),
             evidence.optional_text(edge.get("version"), path, f"{at}.version") or None) for at, edge in edges]


def read_poetry_lock(path: Path) -> list[Dependency]:
    """poetry.lock (lock-version 1.x or 2.x): dev-only when not in ``main`` (2.1) or ``category = "dev"`` (1.x)."""
    text, document = read_versioned(path, load_toml, "lock-version", r"[12]\.\d+", "1.x or 2.x", "metadata")
    lines = toml_package_lines(text, "package")
    found = []
    for place, package in evidence.objects(document.get("package"), path, "package", optional=True):
        name = evidence.text(package.get("name"), path, f"{place}.name")
        locked = evidence.text(package.get("version"), path, f"{place}.version")
        source = evidence.mapping(package.get("source") or {}, path, f"{place}.source")
        kind = evidence.optional_text(source.get("type"), path, f"{place}.source.type") or "registry"
        if kind == "directory":
            continue
        groups = evidence.texts(package.get("groups"), path, f"{place}.groups") if "groups" in package else None
        dev = ("main" not in groups) if groups is not None else package.get("category") == "dev"
        found.append(pinned(PYPI, name, locked, path, lines.get((name, locked)), dev=dev,
                            skip=f"from {kind}, not an index" if kind in ("git", "url", "file") else None))
    return found


def read_pipfile_lock(path: Path) -> list[Dependency]:
    """Pipfile.lock (pipfile-spec 6): ``default`` is run time, a package only in ``develop`` is dev."""
    text, document = read_versioned(path, load_json, "pipfile-spec", "6", "6", "_meta")
    runtime = evidence.mapping(document.get("default") or {}, path, "default")
    develop = evidence.mapping(document.get("develop") or {}, path, "develop")
    found = []
    for section, entries in (("default", runtime), ("develop", develop)):
        for name, body in entries.items():
            if section == "develop" and name in runtime:
                continue  # needed at run time too: listed once, as runtime
            body = evidence.mapping(body, path, f"{section}[{name!r}]")
            found.append(_pipfile_entry(path, text, section, name, body))
    return found


def _pipfile_entry(path: Path, text: str, section: str, name: str, body: dict[str, Any]) -> Dependency:
    place = f"{section}[{name!r}]"
    spec = evidence.optional_text(body.get("version"), path, f"{place}.version")
    section_line = line_of(text, rf'^[ \t]*"{re.escape(section)}"\s*:')
    line = line_of(text, rf'^[ \t]*"{re.escape(name)}"\s*:\s*\{{', section_line) if section_line else None
    foreign = next((key for key in ("git", "path", "file", "editable") if key in body), None)
    if foreign:
        return pinned(PYPI, name, None, path, line, dev=section == "develop", skip=f"from {foreign}, not an index")
    if not spec.startswith("=="):
        return pinned(PYPI, name, None, path, line, dev=section == "develop",
                      skip=f"not locked to one version ({spec or 'no version'})")
    return pinned(PYPI, name, spec[2:], path, line, dev=section == "develop")


def read_pylock(path: Path) -> list[Dependency]:
    """pylock.toml (PEP 751, lock-version 1.x); a package whose marker names only dependency groups is dev."""
    text, document = read_versioned(path, load_toml, "lock-version", r"1(\.\d+)?", "1.x")
    lines = toml_package_lines(text, "packages")
    found = []
    for place, package in evidence.objects(document.get("packages"), path, "packages", optional=True):
        name = evidence.text(package.get("name"), path, f"{place}.name")
        locked = evidence.optional_text(package.get("version"), path, f"{place}.version")
        marker = evidence.optional_text(package.get("marker"), path, f"{place}.marker")
        foreign = next((key for key in ("vcs", "directory", "archive") if key in package), None)
        found.append(pinned(PYPI, name, locked, path, lines.get((name, locked)),
                            dev="dependency_groups" in marker and "extras" not in marker,
                            skip=f"from {foreign}, not an index" if foreign else None))
    if not found and "packages" not in document:
        raise ParseError(path, "packages", "is missing: not a pylock.toml")
    return found
