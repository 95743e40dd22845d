"""What a coverage report must list: the source files under the measured folders.

A report cut at a record boundary, or with files removed, still parses; it is caught
by comparing it with the files that must be there:

- the folders configured in ``checks.coverage.sources`` (every file with one of the
  report's extensions, minus ``omit``), else
- the folders coverage.py was told to measure (Cobertura ``<sources>``), walked the way
  coverage.py itself looks for unexecuted files: Python files in the folder and in the
  packages below it (folders with an ``__init__.py``).

Files without any code (an empty ``__init__.py``) may be left out, as coverage.py does
with ``skip_empty``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.checks.coverage.model import CoverageReport
from pipeline.errors import CheckError
from pipeline.model import Measurement

MAX_FILES = 50_000  # a source folder larger than this is almost certainly the wrong folder
MAX_MISSING_SHOWN = 20
SKIPPED_DIRS = {"node_modules", "__pycache__"}
# coverage.py skips names with these characters (editor side-files cannot be imported).
_PYTHON_NAME = re.compile(r"[^.#~!$@%^&*()+=,]+\.pyw?")


@dataclass(frozen=True)
class Completeness:
    """How the report's file list was checked, and which expected files it lacks."""

    basis: str  # "configured" | "report" | "" (not checked)
    roots: tuple[str, ...] = ()
    expected: int = 0
    missing: tuple[str, ...] = ()
    unchecked_reason: str = ""


def check_completeness(report: CoverageReport, configured: Iterable[Path], omit: Iterable[str],
                       project_dir: Path, cwd: Path) -> Completeness:
    """Compare the report's files with the files that must be measured."""
    configured, omit = tuple(configured), tuple(omit)
    declared = tuple(r for r in (_resolve(s, cwd) for s in report.sources) if r.is_dir())
    if configured:
        for root in configured:
            if not root.is_dir():
                raise CheckError(f"checks.coverage.sources: {root} is not a folder.",
                                 "List the source folders the tests must measure, relative to the project.")
        suffixes = {Path(f.path).suffix.lower() for f in report.files if Path(f.path).suffix}
        basis, roots, expected = "configured", configured, _walk(configured, suffixes, packages_only=False)
    else:
        reason = _why_unchecked(report, declared)
        if reason:
            return Completeness("", unchecked_reason=reason)
        basis, roots, expected = "report", declared, _walk(declared, {".py", ".pyw"}, packages_only=True)
    listed = _listed(report, (*configured, *declared, cwd, project_dir))
    missing = sorted(
        shown_path(path, project_dir) for path in expected
        if not _is_listed(path, project_dir, listed) and not _omitted(path, roots, project_dir, omit)
        and _has_code(path))
    return Completeness(basis, tuple(shown_path(r, project_dir) for r in roots), len(expected), tuple(missing))


def _why_unchecked(report: CoverageReport, roots: tuple[Path, ...]) -> str:
    suffixes = {Path(f.path).suffix.lower() for f in report.files}
    python = suffixes <= {".py", ".pyw"}
    if report.format == "lcov":
        return ("An LCOV tracefile does not say which folders were measured, so a file missing from "
                "it cannot be noticed; set checks.coverage.sources to check it.")
    if not python:
        return ("Only coverage.py's <sources> say that every file in them is measured; set "
                "checks.coverage.sources to check that no file is missing from this report.")
    if not roots:
        named = ", ".join(report.sources) or "none"
        return (f"The folders the report names as measured ({named}) do not exist here, so a file "
                "missing from it cannot be noticed; set checks.coverage.sources to check it.")
    return ""


def _resolve(source: str, cwd: Path) -> Path:
    path = Path(source)
    return path if path.is_absolute() else cwd / path


def _walk(roots: Iterable[Path], suffixes: set[str], *, packages_only: bool) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        for path in _files(root, packages_only):
            if path.suffix.lower() in suffixes and (not packages_only or _PYTHON_NAME.fullmatch(path.name)):
                found.append(path)
                if len(found) > MAX_FILES:
                    raise CheckError(f"More than {MAX_FILES} source files under {root}: is it the right folder?",
                                     "Point checks.coverage.sources at the code the tests must measure.")
    return found


def _files(root: Path, packages_only: bool) -> Iterator[Path]:
    for index, (folder, dirs, names) in enumerate(os.walk(root)):
        if packages_only and index > 0 and "__init__.py" not in names:
            dirs[:] = []  # coverage.py does not look inside a folder that is not a package
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        yield from (Path(folder) / name for name in sorted(names))


def _listed(report: CoverageReport, roots: tuple[Path, ...]) -> tuple[set[Path], set[str]]:
    """Where the report's files are on this machine, and every path tail of their names.

    Tails let a report written elsewhere (``/ci/build/src/a.js``) match ``src/a.js`` here.
    """
    resolved: set[Path] = set()
    tails: set[str] = set()
    for item in report.files:
        name = item.path.replace("\\", "/")
        path = Path(name)
        for root in () if path.is_absolute() else roots:
            resolved.add(Path(os.path.normpath(root / path)))
        if path.is_absolute():
            resolved.add(Path(os.path.normpath(path)))
        parts = [p for p in name.split("/") if p not in ("", ".")]
        tails.update("/".join(parts[i:]) for i in range(len(parts)))
    return resolved, tails


def _is_listed(path: Path, project_dir: Path, listed: tuple[set[Path], set[str]]) -> bool:
    resolved, tails = listed
    return Path(os.path.normpath(path)) in resolved or shown_path(path, project_dir) in tails


def _omitted(path: Path, roots: tuple[Path, ...], project_dir: Path, omit: tuple[str, ...]) -> bool:
    names = {shown_path(path, project_dir), *(path.relative_to(r).as_posix() for r in roots if path.is_relative_to(r))}
    return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in omit)


def shown_path(path: Path, project_dir: Path) -> str:
    """The path relative to the project when it is inside it, as the user would write it."""
    try:
        return Path(os.path.normpath(path)).relative_to(os.path.normpath(project_dir)).as_posix()
    except ValueError:
        return path.as_posix()


def _has_code(path: Path) -> bool:
    """False for a file of blank and comment lines only (coverage.py may leave those out)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    comment = "#" if path.suffix.lower() in (".py", ".pyw") else "//"
    return any(line.strip() and not line.strip().startswith(comment) for line in text.splitlines())


def completeness_reasons(completeness: Completeness | None) -> list[str]:
    """Sentences for the report: how completeness was checked and what is missing."""
    if completeness is None:
        return []
    if not completeness.basis:
        return [completeness.unchecked_reason]
    where = ", ".join(completeness.roots)
    origin = "checks.coverage.sources" if completeness.basis == "configured" else "the report's <sources>"
    if not completeness.missing:
        return [f"All {completeness.expected} source files under {where} ({origin}) are in the report."]
    shown = ", ".join(completeness.missing[:MAX_MISSING_SHOWN])
    more = len(completeness.missing) - MAX_MISSING_SHOWN
    return [f"Missing from the report, though under {where} ({origin}): {shown}"
            + (f" and {more} more." if more > 0 else "."),
            "If a file is intentionally not measured, add it (or a glob) to checks.coverage.omit; "
            "otherwise make the test command measure it (coverage.py: --cov=<package>) and regenerate "
            "the report."]


def completeness_measurements(completeness: Completeness | None) -> list[Measurement]:
    """``source_files_missing`` (== 0) when the check could be made."""
    if completeness is None or not completeness.basis:
        return []
    return [Measurement("source_files_missing", len(completeness.missing), "files", "== 0",
                        not completeness.missing)]


def completeness_details(completeness: Completeness | None) -> dict[str, Any]:
    """The result's ``details.completeness``."""
    if completeness is None:
        return {"checked": False}
    return {"checked": bool(completeness.basis), "basis": completeness.basis or None,
            "roots": list(completeness.roots), "expected": completeness.expected,
            "missing": list(completeness.missing)}
