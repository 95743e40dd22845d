"""The offline OSV database, indexed once per machine: a cache keyed by the database's content digest.

Reading a whole advisory database (thousands of YAML files) takes seconds; the records it
yields fit in one JSON file that loads in a fraction of that. The cache file is found by the
database folder and holds, in a header line, the format version, the digest of the database
it was built from, and the SHA-256 of its body. It is used only when all three match:
a database that changed is read again (and the cache rewritten), and a cache file that is
cut, edited or unreadable is rebuilt, never trusted. Every cached record then goes through
a check of its shape: every field of the type ``osv.read_record`` leaves it (``_record``).

The digest is taken over every file's relative path, size and modification time (in
nanoseconds), not over the contents: any write (a ``git pull``, an unzip, an edit) changes
a file's mtime, so a changed database is always seen, at the cost of a stat per file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline.checks.audit import osv

FORMAT = 2  # bump when the cached shape or the record checks change: old caches are then rebuilt


def default_dir(env: dict[str, str]) -> Path:
    """``READINESS_CACHE_DIR``, else ``~/.cache/readiness`` (``$XDG_CACHE_HOME/readiness`` when set)."""
    if env.get("READINESS_CACHE_DIR"):
        return Path(env["READINESS_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "readiness"


def digest(folder: Path) -> str:
    """The database's digest: format version, then (relative path, size, mtime_ns) of every file, sorted."""
    hasher = hashlib.sha256(f"readiness-osv-cache/{FORMAT}\n".encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            hasher.update(f"{path.relative_to(folder).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                          .encode("utf-8", "surrogateescape"))
    return hasher.hexdigest()


def load(folder: Path, cache_dir: Path) -> tuple[osv.Database, str]:
    """The database under ``folder`` and how it was had ("cache", or why it was read from the files)."""
    key = digest(folder)
    cache = cache_dir / f"osv-{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:20]}.json"
    database, why = _read(cache, key)
    if database is not None:
        return database, "cache"
    database = osv.load_database(folder)
    if digest(folder) != key:  # the database changed while it was read: nothing consistent to keep
        return database, "read from the files (the database changed while it was read; not cached)"
    try:
        _write(cache, key, database)
    except OSError as exc:
        return database, f"read from the files ({why}; the cache cannot be written: {exc.strerror})"
    return database, f"read from the files ({why}; cached for the next run)"


def _read(cache: Path, key: str) -> tuple[osv.Database | None, str]:
    try:
        header_line, _, body = cache.read_bytes().partition(b"\n")
    except FileNotFoundError:
        return None, "no cache yet"
    except OSError as exc:
        return None, f"the cache cannot be read: {exc.strerror}"
    try:
        header = json.loads(header_line)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            return None, "the cache is of another format"
        if header.get("database") != key:
            return None, "the database changed since it was cached"
        if header.get("sha256") != hashlib.sha256(body).hexdigest():
            return None, "the cache file is damaged (its checksum does not match)"
        return _database(json.loads(body)), ""
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        return None, f"the cache file is not valid ({type(exc).__name__}); rebuilt"


def _database(payload: dict[str, Any]) -> osv.Database:
    """The database from the cached records, every field's type checked (a forged cache is refused)."""
    records = [_record(document) for document in payload["records"]]
    problems, withdrawn = payload["problems"], payload["withdrawn"]
    if not _texts(problems) or not isinstance(withdrawn, int) or withdrawn < 0:
        raise ValueError("problems or withdrawn are not what the cache writes")
    return osv.build_database(records, list(problems), withdrawn)


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _record(document: dict[str, Any]) -> osv.Record:
    """One cached record, its shape checked as tightly as ``osv.read_record`` leaves it."""
    text_fields = ("id", "summary", "source", "modified")
    if not all(isinstance(document[name], str) for name in text_fields) or not document["id"]:
        raise ValueError("a text field of a cached record is not text")
    if not (_texts(document["aliases"]) and _texts(document["references"])):
        raise ValueError("aliases or references of a cached record are not texts")
    severity, specific = document["severity"], document["database_specific"]
    if not (isinstance(severity, list) and all(_text_map(s, ("type", "score")) for s in severity)):
        raise ValueError("the severity of a cached record is not what the cache writes")
    if not (isinstance(specific, dict) and set(specific) <= {"severity"} and _texts(list(specific.values()))):
        raise ValueError("database_specific of a cached record is not what the cache writes")
    if not (isinstance(document["affected"], list) and all(_affected(a) for a in document["affected"])):
        raise ValueError("an affected entry of a cached record is not what the cache writes")
    return osv.Record(document["id"], tuple(document["aliases"]), document["summary"], tuple(severity), specific,
                      tuple(document["affected"]), document["source"], tuple(document["references"]),
                      document["modified"])


def _text_map(value: Any, keys: tuple[str, ...]) -> bool:
    return isinstance(value, dict) and set(value) == set(keys) and _texts(list(value.values()))


def _affected(entry: Any) -> bool:
    if not (isinstance(entry, dict) and set(entry) == {"package", "ranges", "versions"}):
        return False
    ranges = entry["ranges"]
    return (_text_map(entry["package"], ("ecosystem", "name")) and _texts(entry["versions"])
            and isinstance(ranges, list) and all(
                isinstance(r, dict) and set(r) == {"type", "events"} and isinstance(r["type"], str)
                and isinstance(r["events"], list)
                and all(isinstance(e, dict) and len(e) == 1 and set(e) <= set(osv.EVENT_KINDS) and _texts(
                    list(e.values())) for e in r["events"])
                for r in ranges))


def _document(record: osv.Record) -> dict[str, Any]:
    """A record as the cache holds it: the fields of ``osv.Record``, as JSON."""
    return {"id": record.id, "aliases": list(record.aliases), "summary": record.summary,
            "severity": list(record.severity), "database_specific": record.database_specific,
            "affected": list(record.affected), "references": list(record.references),
            "modified": record.modified, "source": record.source}


def _write(cache: Path, key: str, database: osv.Database) -> None:
    body = json.dumps({"records": [_document(r) for r in database.all_records], "problems": database.problems,
                       "withdrawn": database.withdrawn}, separators=(",", ":")).encode()
    header = json.dumps({"format": FORMAT, "database": key, "sha256": hashlib.sha256(body).hexdigest()}).encode()
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{cache.name}.", dir=cache.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(header + b"\n" + body)
        os.replace(temporary, cache)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
