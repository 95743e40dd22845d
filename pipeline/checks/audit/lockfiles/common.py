"""What every lock reader shares: loading TOML / JSON / YAML with the place of a problem, and lines.

A lock file is foreign input: a syntax error or a format version the gate does not know
is a ParseError naming the file and the line, never a guess at what the file meant.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pipeline import evidence, yamlsafe
from pipeline.checks.audit import osv
from pipeline.checks.audit.reports import Dependency
from pipeline.errors import ParseError

_TOML_PLACE = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_text(path: Path) -> str:
    """The file as UTF-8 text; missing, unreadable or not text is a ParseError."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ParseError(path, "", "does not exist", "Name an existing lock file in checks.audit.lock_files.") \
            from None
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(path, f"byte {exc.start}", "is not UTF-8 text") from None


def load_toml(path: Path, text: str) -> dict[str, Any]:
    """A TOML document; a syntax error names its line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_PLACE.search(str(exc))
        place = f"line {found.group(1)} column {found.group(2)}" if found else ""
        raise ParseError(path, place, f"is not valid TOML ({_TOML_PLACE.sub('', str(exc)).strip()})",
                         "Regenerate the lock file with its tool.") from None


def load_json(path: Path, text: str) -> dict[str, Any]:
    """A JSON object; a syntax error names its line."""
    return evidence.mapping(evidence.load_json_text(text, path, "Regenerate the lock file with its tool."), path,
                            "the lock")


def load_yaml(path: Path, text: str) -> dict[str, Any]:
    """A YAML mapping (alias bombs refused); a syntax error names its line."""
    try:
        document = yamlsafe.load(text, path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ParseError(path, place, f"is not valid YAML ({getattr(exc, 'problem', None) or exc})",
                         "Regenerate the lock file with its tool.") from None
    except RecursionError:
        raise ParseError(path, "", "is nested too deeply to be a lock file") from None
    return evidence.mapping(document, path, "the lock")


def line_of(text: str, pattern: str, after: int = 0) -> int | None:
    """The first line (1-based) after line ``after`` matching ``pattern`` (a regex, multiline), or None."""
    start = 0
    for _ in range(after):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    found = re.compile(pattern, re.MULTILINE).search(text, start)
    return text.count("\n", 0, found.start()) + 1 if found else None


def unknown_version(path: Path, text: str, key: str, value: Any, known: str, line: int | None = None) -> ParseError:
    """The error for a format version the gate does not read, pointed at the line that declares it."""
    line = line or line_of(text, rf"^[ \t]*\"?{re.escape(key)}\"?\s*[:=]")
    return ParseError(path, f"line {line}" if line else key,
                      f"{key} {value!r} is not a version the gate reads ({known})",
                      "Regenerate the lock file with a supported release of its tool, or report the new format.")


def read_versioned(path: Path, load: Callable[[Path, str], dict[str, Any]], key: str, accepted: str, known: str,
                   section: str = "") -> tuple[str, dict[str, Any]]:
    """A lock's text and document, once its format version (``[section.]key``) matches ``accepted`` (a regex)."""
    text = read_text(path)
    document = load(path, text)
    holder = evidence.mapping(document.get(section) or {}, path, section) if section else document
    value = holder.get(key)
    if isinstance(value, bool) or not re.fullmatch(accepted, "" if value is None else str(value)):
        raise unknown_version(path, text, key, value, known)
    return text, document


def toml_package_lines(text: str, table: str) -> dict[tuple[str, str], int]:
    """(name, version) -> the line of ``name = ...`` in each ``[[table]]`` of a TOML lock written by its tool."""
    found: dict[tuple[str, str], int] = {}
    name, name_line, inside = "", 0, False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside, name = stripped == f"[[{table}]]", ""
            continue
        key = re.match(r'(name|version)\s*=\s*"((?:[^"\\]|\\.)*)"', stripped) if inside else None
        if key and key.group(1) == "name":
            name, name_line = key.group(2), number
        elif key and name:
            found.setdefault((name, key.group(2)), name_line)
    return found


def pinned(ecosystem: str, name: str, version: str | None, path: Path, line: int | None, *, dev: bool = False,
           entry: str = "", skip: str | None = None) -> Dependency:
    """One locked package; a version that is not one of its ecosystem's is skipped with why."""
    if skip is None and not version:
        skip = "no version in the lock"
    if skip is None and version:
        try:
            osv.parse_version(ecosystem, version)
        except ValueError as exc:
            skip = f"locked at {exc}, so it cannot be compared"
    return Dependency(ecosystem, name, version or None, str(path), line, skip, entry, dev)
