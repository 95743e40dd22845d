"""An offline OSV database: load the records once, match pinned versions against them.

Version semantics per ecosystem (PEP 440 through ``packaging`` for PyPI, semver for
npm), ``introduced`` / ``fixed`` / ``last_affected`` range events, explicit
``versions`` lists, withdrawn records skipped, PyPI names normalised (PEP 503), and
the records of one vulnerability known under several ids (PYSEC, GHSA, CVE) merged
into one group.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semver
import yaml
from packaging.version import InvalidVersion, Version

from pipeline import evidence, yamlsafe
from pipeline.errors import ParseError
from pipeline.evidence import load_json_text

try:  # libyaml's loader is about ten times faster on a whole database
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PYPI, NPM = "PyPI", "npm"
SUPPORTED = (PYPI, NPM)
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def normalise(ecosystem: str, name: str) -> str:
    """The name a package is known by in an index: PEP 503 for PyPI, lower case for npm."""
    return re.sub(r"[-_.]+", "-", name).lower() if ecosystem == PYPI else name.lower()


@functools.lru_cache(maxsize=1 << 16)
def parse_version(ecosystem: str, text: str) -> Any:
    """A comparable version, or ValueError naming what it is not.

    Cached: 300 pins meet the same range bounds over and over (versions are immutable).
    """
    if ecosystem == PYPI:
        try:
            return Version(text)
        except InvalidVersion as exc:
            raise ValueError(f"{text!r} is not a PEP 440 version") from exc
    try:
        return semver.Version.parse(text.lstrip("v"))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not a semver version") from exc


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
    references: tuple[str, ...] = ()  # its links, advisories first
    modified: str = ""  # when the database last changed the record (ISO 8601), "" if it does not say


@dataclass
class Database:
    """Records indexed by (ecosystem, normalised package name)."""

    index: dict[tuple[str, str], list[tuple[Record, dict[str, Any]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # unreadable records, with their file names
    records: int = 0
    withdrawn: int = 0
    newest: str = ""  # the latest ``modified`` of any record: how fresh the database is
    all_records: list[Record] = field(default_factory=list)  # what the cache stores (osvcache)

    def candidates(self, ecosystem: str, name: str) -> list[tuple[Record, dict[str, Any]]]:
        """(record, affected entry) pairs that name this package."""
        return self.index.get((ecosystem, normalise(ecosystem, name)), [])


def load_database(folder: Path) -> Database:
    """Every record under ``folder`` (JSON, YAML, or zip archives of them), loaded once.

    A record that cannot be read or has an unexpected shape is kept out and named in
    ``problems``: it might describe a pinned dependency, so the check cannot pass.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    records: list[Record] = []
    problems: list[str] = []
    withdrawn = 0
    for source, text in _documents(folder):
        try:
            if text is None:
                raise ParseError(source, "", "cannot be read from its zip archive")
            record = read_record(_load(text, source), source)
        except ParseError as exc:
            problems.append(exc.reason.splitlines()[0])
            continue
        if record is None:
            withdrawn += 1
            continue
        records.append(record)
    return build_database(records, problems, withdrawn)


def build_database(records: list[Record], problems: list[str], withdrawn: int) -> Database:
    """The index over ``records`` (by ecosystem and normalised package name) and the database's age."""
    index: dict[tuple[str, str], list[tuple[Record, dict[str, Any]]]] = defaultdict(list)
    for record in records:
        for affected in record.affected:
            ecosystem = affected["package"]["ecosystem"].split(":")[0]
            if ecosystem in SUPPORTED:
                index[(ecosystem, normalise(ecosystem, affected["package"]["name"]))].append((record, affected))
    newest = max((r.modified for r in records if r.modified), default="", key=_instant)
    return Database(dict(index), problems, len(records), withdrawn, newest, records)


def _stamp(value: Any) -> str:
    """A record's ``modified`` as ISO 8601 text (YAML reads an unquoted stamp as a datetime).

    Only the database's age is told from it, so a stamp of another type is left out ("")
    rather than costing the record: a record must never be lost over a field matching ignores.
    """
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value if isinstance(value, str) else ""


def age_days(newest: str, now: float | None = None) -> float:
    """Days from the database's newest ``modified`` to now; infinite when no record is dated, or when the
    newest date is more than a day ahead (one forged or broken stamp would otherwise pass a stale clone)."""
    if not newest:
        return float("inf")
    days = ((time.time() if now is None else now) - _instant(newest)) / 86400
    return float("inf") if days < -1 else max(0.0, days)


def _instant(stamp: str) -> float:
    """When an ISO 8601 stamp was (a stamp that cannot be read counts as the oldest)."""
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return float("-inf")
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _load(text: str, source: str) -> Any:
    if source.endswith(".json"):
        return load_json_text(text, source)
    try:
        return yamlsafe.load(text, source, _Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError(source, f"line {mark.line + 1}" if mark else "", f"is not valid YAML ({_first_line(exc)})") \
            from None
    except RecursionError:
        raise ParseError(source, "", "is nested too deeply to be an OSV record") from None


def _documents(folder: Path) -> Iterator[tuple[str, str | None]]:
    """(source, text) of every record file; text None for an archive that cannot be opened."""
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".json", ".yaml", ".yml") and path.is_file():
            yield str(path.relative_to(folder)), path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".zip" and path.is_file():  # an OSV per-ecosystem export (all.zip)
            yield from _archive(path)


def _archive(path: Path) -> Iterator[tuple[str, str | None]]:
    """The JSON records of a zip export, one at a time (an ecosystem's export is large)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        yield path.name, None
        return
    with archive:
        for member in archive.namelist():
            if not member.endswith(".json"):
                continue
            try:
                data = archive.read(member)
            except (zipfile.BadZipFile, OSError, ValueError):  # a corrupt member (bad CRC, bad header)
                yield f"{path.name}:{member}", None
                continue
            yield f"{path.name}:{member}", data.decode("utf-8", errors="replace")


def read_record(document: Any, source: str) -> Record | None:
    """One OSV record with every field the gate uses checked; None when it is withdrawn."""
    document = evidence.mapping(document, source, "the record")
    record_id = evidence.text(document.get("id"), source, "id")
    if document.get("withdrawn"):
        return None
    summary = evidence.optional_text(document.get("summary"), source, "summary").strip() \
        or evidence.optional_text(document.get("details"), source, "details").strip()
    severity = []
    for place, entry in evidence.objects(document.get("severity"), source, "severity", optional=True):
        severity.append({"type": evidence.text(entry.get("type"), source, f"{place}.type"),
                         "score": evidence.text(entry.get("score"), source, f"{place}.score")})
    specific = evidence.mapping(document.get("database_specific") or {}, source, "database_specific")
    label = evidence.optional_text(specific.get("severity"), source, "database_specific.severity")
    return Record(
        id=record_id,
        aliases=tuple(evidence.texts(document.get("aliases"), source, "aliases")),
        summary=summary.splitlines()[0] if summary else "",
        severity=tuple(severity),
        database_specific={"severity": label} if label else {},
        affected=tuple(_affected(entry, source, place)
                       for place, entry in evidence.objects(document.get("affected"), source, "affected")),
        source=source,
        references=_references(document.get("references"), source),
        modified=_stamp(document.get("modified")),
    )


def _references(value: Any, source: str) -> tuple[str, ...]:
    """A record's reference URLs, each checked; the ADVISORY ones first (they say what to do)."""
    found = [(evidence.text(entry.get("type"), source, f"{place}.type") != "ADVISORY",
              evidence.text(entry.get("url"), source, f"{place}.url"))
             for place, entry in evidence.objects(value, source, "references", optional=True)]
    return tuple(dict.fromkeys(url for _, url in sorted(found, key=lambda pair: pair[0])))


def _affected(entry: dict[str, Any], source: str, place: str) -> dict[str, Any]:
    """An ``affected`` entry reduced to the fields matching uses, each checked."""
    package = evidence.mapping(entry.get("package"), source, f"{place}.package")
    ranges = []
    for where, range_ in evidence.objects(entry.get("ranges"), source, f"{place}.ranges", optional=True):
        events = []
        for at, event in evidence.objects(range_.get("events"), source, f"{where}.events"):
            kinds = [kind for kind in EVENT_KINDS if kind in event]
            if len(kinds) != 1:
                raise ParseError(source, at, f"must hold exactly one of {', '.join(EVENT_KINDS)}")
            events.append({kinds[0]: evidence.text(event[kinds[0]], source, f"{at}.{kinds[0]}")})
        ranges.append({"type": evidence.text(range_.get("type"), source, f"{where}.type"), "events": events})
    return {"package": {"ecosystem": evidence.text(package.get("ecosystem"), source, f"{place}.package.ecosystem"),
                        "name": evidence.text(package.get("name"), source, f"{place}.package.name")},
            "ranges": ranges, "versions": evidence.texts(entry.get("versions"), source, f"{place}.versions")}


def is_affected(affected: dict[str, Any], ecosystem: str, version: str) -> bool:
    """Whether ``version`` falls in this affected entry's explicit versions or its ranges.

    Raises ValueError when the version, or a bound of a range, is not a version of the
    ecosystem: then the question cannot be answered, and "not affected" would be a guess.
    """
    listed_versions = affected.get("versions") or ()
    if version in listed_versions:
        return True
    parse: Callable[[str], Any] = lambda text: parse_version(ecosystem, text)  # noqa: E731
    wanted = parse(version)
    for listed in listed_versions:
        try:
            if parse(listed) == wanted:
                return True
        except ValueError:
            continue  # a listed version that is not PEP 440 / semver can only match as text (done above)
    return any(_in_range(r, wanted, parse) for r in affected["ranges"] if r["type"] in ("ECOSYSTEM", "SEMVER"))


def _in_range(range_: dict[str, Any], wanted: Any, parse: Callable[[str], Any]) -> bool:
    """OSV range semantics: walk the events in version order; introduced opens, fixed/last_affected close."""
    events = []
    for event in range_["events"]:
        ((kind, value),) = event.items()
        if kind == "introduced" and value == "0":
            events.append((None, kind))
            continue
        try:
            events.append((parse(value), kind))
        except ValueError as exc:
            raise ValueError(f"its {kind} bound {exc}") from None
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
    """The ``fixed`` versions of an affected entry's version ranges."""
    return [e["fixed"] for r in affected["ranges"] if r["type"] in ("ECOSYSTEM", "SEMVER")
            for e in r["events"] if "fixed" in e]


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
