"""An offline OSV database: load the records once, match pinned versions against them.

Version semantics per ecosystem (PEP 440 through ``packaging`` for PyPI, semver for
npm), ``introduced`` / ``fixed`` / ``last_affected`` range events, explicit
``versions`` lists, withdrawn records skipped, PyPI names normalised (PEP 503), and
the records of one vulnerability known under several ids (PYSEC, GHSA, CVE) merged
into one group.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semver
import yaml
from packaging.version import InvalidVersion, Version

try:  # libyaml's loader is about ten times faster on a whole database
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PYPI, NPM = "PyPI", "npm"
SUPPORTED = (PYPI, NPM)


def normalise(ecosystem: str, name: str) -> str:
    """The name a package is known by in an index: PEP 503 for PyPI, lower case for npm."""
    return re.sub(r"[-_.]+", "-", name).lower() if ecosystem == PYPI else name.lower()


def parse_version(ecosystem: str, text: str) -> Any:
    """A comparable version, or ValueError."""
    if ecosystem == PYPI:
        try:
            return Version(text)
        except InvalidVersion as exc:
            raise ValueError(f"{text!r} is not a PEP 440 version") from exc
    return semver.Version.parse(text.lstrip("v"))


@dataclass(frozen=True)
class Record:
    """One OSV record, as far as matching and reporting need it."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: tuple[dict[str, Any], ...]
    database_specific: dict[str, Any]
    affected: tuple[dict[str, Any], ...]
    source: str


@dataclass
class Database:
    """Records indexed by (ecosystem, normalised package name)."""

    index: dict[tuple[str, str], list[tuple[Record, dict[str, Any]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # unreadable records, with their file names
    records: int = 0
    withdrawn: int = 0

    def candidates(self, ecosystem: str, name: str) -> list[tuple[Record, dict[str, Any]]]:
        return self.index.get((ecosystem, normalise(ecosystem, name)), [])


def load_database(folder: Path) -> Database:
    """Every record under ``folder`` (JSON, YAML, or zip archives of them), loaded once."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    db = Database(index=defaultdict(list))
    for source, text in _documents(folder):
        try:
            document = json.loads(text) if source.endswith(".json") else yaml.load(text, Loader=_Loader)
            record = _record(document, source)
        except (ValueError, yaml.YAMLError, KeyError, TypeError) as exc:
            db.problems.append(f"{source}: {_first_line(exc)}")
            continue
        if record is None:
            db.withdrawn += 1
            continue
        db.records += 1
        for affected in record.affected:
            package = affected.get("package") or {}
            ecosystem = str(package.get("ecosystem", "")).split(":")[0]
            if ecosystem in SUPPORTED and package.get("name"):
                db.index[(ecosystem, normalise(ecosystem, str(package["name"])))].append((record, affected))
    db.index = dict(db.index)
    return db


def _documents(folder: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".json", ".yaml", ".yml") and path.is_file():
            yield str(path.relative_to(folder)), path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".zip" and path.is_file():  # an OSV per-ecosystem export (all.zip)
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if member.endswith(".json"):
                        yield f"{path.name}:{member}", archive.read(member).decode("utf-8", errors="replace")


def _record(document: Any, source: str) -> Record | None:
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        raise ValueError("not an OSV record (no 'id')")
    if document.get("withdrawn"):
        return None
    affected = document.get("affected")
    if not isinstance(affected, list):
        raise ValueError(f"{document['id']}: 'affected' is not a list")
    text = str(document.get("summary") or document.get("details") or "").strip()
    return Record(
        id=document["id"],
        aliases=tuple(str(a) for a in document.get("aliases") or ()),
        summary=text.splitlines()[0] if text else "",
        severity=tuple(s for s in document.get("severity") or () if isinstance(s, dict)),
        database_specific=dict(document.get("database_specific") or {}),
        affected=tuple(a for a in affected if isinstance(a, dict)),
        source=source,
    )


def is_affected(affected: dict[str, Any], ecosystem: str, version: str) -> bool:
    """Whether ``version`` falls in this affected entry's explicit versions or its ranges."""
    if version in (affected.get("versions") or ()):
        return True
    parse: Callable[[str], Any] = lambda text: parse_version(ecosystem, text)  # noqa: E731
    try:
        wanted = parse(version)
    except ValueError:
        return False
    for listed in affected.get("versions") or ():
        try:
            if parse(str(listed)) == wanted:
                return True
        except ValueError:
            continue
    return any(_in_range(r, wanted, parse) for r in affected.get("ranges") or ()
               if r.get("type") in ("ECOSYSTEM", "SEMVER"))


def _in_range(range_: dict[str, Any], wanted: Any, parse: Callable[[str], Any]) -> bool:
    """OSV range semantics: walk the events in version order; introduced opens, fixed/last_affected close."""
    events = []
    for event in range_.get("events") or ():
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            if kind in event:
                value = str(event[kind])
                if kind == "introduced" and value == "0":
                    events.append((None, kind))
                    continue
                try:
                    events.append((parse(value), kind))
                except ValueError:
                    return False  # an unreadable bound: the range cannot be judged
    # "introduced: 0" sorts first; at equal versions a closing event comes after an opening one.
    events.sort(key=lambda e: (e[0] is not None, e[0] if e[0] is not None else 0, e[1] != "introduced"))
    affected = False
    for bound, kind in events:
        if kind == "introduced" and (bound is None or wanted >= bound):
            affected = True
        elif (kind in ("fixed", "limit") and wanted >= bound) or (kind == "last_affected" and wanted > bound):
            affected = False
    return affected


def fixed_versions(affected: dict[str, Any]) -> list[str]:
    return [str(e["fixed"]) for r in affected.get("ranges") or () if r.get("type") in ("ECOSYSTEM", "SEMVER")
            for e in r.get("events") or () if "fixed" in e]


def merge_by_alias(records: list[Record]) -> list[list[Record]]:
    """Groups of records that name the same vulnerability (they share an id or alias)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for record in records:
        for alias in record.aliases:
            parent[find(alias)] = find(record.id)
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[find(record.id)].append(record)
    return list(groups.values())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
