"""yarn.lock: classic (v1, its own format, read with the ``yarnlock`` parser) and berry (YAML).

Neither records which packages only development needs, so every yarn entry counts as
run time (gated). An entry not resolved from the npm registry (git, a file, a link, a
workspace) has no registry version to compare and is skipped with why; the project's own
workspaces are not packages.
"""

from __future__ import annotations

import re
from pathlib import Path

from yarnlock import yarnlock_parse

from pipeline import evidence
from pipeline.checks.audit.lockfiles.common import line_of, load_yaml, pinned, read_text, unknown_version
from pipeline.checks.audit.osv import NPM
from pipeline.checks.audit.reports import Dependency
from pipeline.errors import ParseError

CLASSIC = "# yarn lockfile v1"
BERRY_VERSIONS = range(4, 11)  # __metadata.version written by yarn 2 (4) to yarn 4 (10)
_REGISTRY_RANGE = re.compile(r"[~^<>=\d*xX]|latest$|$")  # a semver range or tag, not a URL or a path


def read_yarn_lock(path: Path) -> list[Dependency]:
    """A yarn.lock of either generation, told apart by berry's ``__metadata`` and classic's header."""
    text = read_text(path)
    if re.search(r"^__metadata:", text, re.MULTILINE):
        return _berry(path, text)
    declared = re.search(r"^# yarn lockfile v(\d+)\s*$", text, re.MULTILINE)
    if declared is None:
        raise ParseError(path, "line 1", f"is not a yarn lock: no {CLASSIC!r} line and no __metadata",
                         "Regenerate it with yarn install.")
    if declared.group(0).strip() != CLASSIC:
        raise unknown_version(path, text, "# yarn lockfile", f"v{declared.group(1)}", "v1, or berry's __metadata",
                              text.count("\n", 0, declared.start()) + 1)
    return _classic(path, text)


def _classic(path: Path, text: str) -> list[Dependency]:
    try:
        entries = yarnlock_parse(text)
    except ValueError as exc:  # the parser quotes the line it could not read
        bad = str(exc).split(": ", 1)[-1].strip()
        line = line_of(text, rf"^[ \t]*{re.escape(bad)}\s*$") if bad else None
        raise ParseError(path, f"line {line}" if line else "", f"is not a yarn v1 lock ({exc})",
                         "Regenerate it with yarn install.") from None
    except BaseException as exc:  # yarnlock is Rust: a panic reaches Python as a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise ParseError(path, "", f"is not a yarn v1 lock (the parser gave up: {exc})",
                         "Regenerate it with yarn install.") from None
    headers = _header_lines(text)
    found = []
    for key, body in entries.items():
        if key.find("@", 1) < 0:
            continue  # the parser also files each entry under its bare name; the header key is the one kept
        first = key.split(",")[0].strip()
        name, wanted = _split_spec(first)
        locked = evidence.optional_text(body.get("version"), path, f"{key}.version")
        skip = None if _REGISTRY_RANGE.match(wanted) else f"not from the registry ({wanted})"
        found.append(pinned(NPM, name, locked, path, headers.get(first), entry=first, skip=skip))
    return found


def _split_spec(spec: str) -> tuple[str, str]:
    """``name@range`` (a scope's leading @ kept); an alias ``x@npm:real@range`` names the real package."""
    at = spec.find("@", 1)
    name, wanted = (spec[:at], spec[at + 1:]) if at > 0 else (spec, "")
    if wanted.startswith("npm:") and wanted.find("@", 5) > 0:
        return _split_spec(wanted[4:])
    return name, wanted


def _header_lines(text: str) -> dict[str, int]:
    """Each spec of each entry header (an unindented ``a@1, "b@^2":`` line) -> its line."""
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line and not line[0].isspace() and not line.startswith("#") and line.rstrip().endswith(":"):
            for spec in line.rstrip()[:-1].split(","):
                found.setdefault(spec.strip().strip('"'), number)
    return found


def _berry(path: Path, text: str) -> list[Dependency]:
    document = load_yaml(path, text)
    metadata = evidence.mapping(document.get("__metadata"), path, "__metadata")
    version = metadata.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version not in BERRY_VERSIONS:
        raise unknown_version(path, text, "version", version, "berry __metadata.version 4 to 10")
    headers = _header_lines(text)
    found = []
    for key, body in document.items():
        if key == "__metadata":
            continue
        place = f"[{key!r}]"
        body = evidence.mapping(body, path, place)
        resolution = evidence.text(body.get("resolution"), path, f"{place}.resolution")
        name, protocol = _split_spec(resolution)
        if protocol.startswith("workspace:"):
            continue  # the project itself
        locked = evidence.optional_text(str(body["version"]) if "version" in body else None, path,
                                        f"{place}.version")
        skip = None if protocol.startswith(("npm:", "patch:")) else f"not from the registry ({protocol})"
        first = key.split(",")[0].strip()
        found.append(pinned(NPM, name, locked, path, headers.get(first), entry=first, skip=skip))
    return found
