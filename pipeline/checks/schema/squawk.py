"""squawk, the PostgreSQL migration linter (``squawk-cli`` on PyPI ships its binary): run it, read its JSON.

squawk exits 1 whenever it reports anything, so the exit code says nothing about failure:
the JSON is the evidence. Its line numbers are 0-based; ours are 1-based.
"""

from __future__ import annotations

import glob
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline import proc
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.evidence import count, load_json_file, objects, optional_text, text
from pipeline.model import ToolInfo

TIMEOUT_S = 120.0
LEVELS = ("Warning", "Error")
INSTALL_HINT = "Install it with: pip install squawk-cli (or the gate's `schema` extra)."


@dataclass(frozen=True)
class Violation:
    """One squawk finding in a migration file."""

    file: str  # relative to the project
    line: int  # 1-based
    rule: str
    level: str
    message: str
    help: str


def squawk_binary() -> str | None:
    """squawk on PATH, else beside the running interpreter (the venv the gate is installed in)."""
    return proc.find_tool("squawk", [Path(sys.executable).parent])


def migration_files(patterns: tuple[str, ...], project_dir: Path) -> list[Path]:
    """Every file the patterns (relative to the project) match, sorted; a pattern matching nothing is an error."""
    files: set[Path] = set()
    for pattern in patterns:
        matched = [Path(p) for p in glob.glob(str(project_dir / pattern), recursive=True) if Path(p).is_file()]
        if not matched:
            raise ArtifactMissing(f"checks.schema: the pattern {pattern} matches no file",
                                  "Name the migration SQL files relative to the project folder.")
        files.update(matched)
    return sorted(files)


def run_squawk(files: list[Path], excluded: tuple[str, ...], in_transaction: bool, project_dir: Path,
               evidence_dir: Path, budget_s: float = TIMEOUT_S) -> tuple[Path, ToolInfo]:
    """squawk's JSON report on ``files`` (kept as evidence) and what ran."""
    binary = squawk_binary()
    if binary is None:
        raise ArtifactMissing("squawk is not installed, so the migration SQL was not linted", INSTALL_HINT)
    argv = [binary, "--reporter", "json", *(["--exclude", ",".join(excluded)] if excluded else []),
            *(["--assume-in-transaction"] if in_transaction else []), *(str(f) for f in files)]
    report = evidence_dir / "squawk.json"
    proc.run_tool(argv, log_path=evidence_dir / "squawk.log", timeout_s=min(TIMEOUT_S, budget_s), expected=(0, 1),
                  cwd=project_dir, stdout_path=report, install_hint=INSTALL_HINT)
    return report, ToolInfo("squawk", proc.tool_version(binary), "run", tuple(argv[1:3]))


def read_report(path: Path, project_dir: Path) -> tuple[Violation, ...]:
    """Every violation in squawk's JSON report, each field validated."""
    hint = "Read squawk.log beside it: squawk may have printed an error instead."
    found = []
    for place, entry in objects(load_json_file(path, hint), path, "the report"):
        level = text(entry.get("level"), path, f"{place}.level")
        if level not in LEVELS:
            raise ParseError(path, f"{place}.level", f"is {level!r}, not one of {', '.join(LEVELS)}")
        found.append(Violation(relative_name(text(entry.get("file"), path, f"{place}.file"), project_dir),
                               count(entry.get("line"), path, f"{place}.line") + 1,
                               text(entry.get("rule_name"), path, f"{place}.rule_name"), level,
                               text(entry.get("message"), path, f"{place}.message"),
                               optional_text(entry.get("help"), path, f"{place}.help")))
    return tuple(found)


def relative_name(name: str | Path, project_dir: Path) -> str:
    """A file's name relative to the project when it lies inside, else as given."""
    path = Path(name)
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(name)
