"""Read an LCOV tracefile: line and branch counts per source file, every number validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline import evidence
from pipeline.checks.coverage.model import CoverageReport, FileCoverage
from pipeline.errors import ArtifactMissing, ParseError

_LCOV_KEYS = {"TN", "SF", "FN", "FNDA", "FNF", "FNH", "FNL", "FNA", "DA", "BRDA", "BRF", "BRH",
              "LF", "LH", "VER", "end_of_record"}


@dataclass
class _LcovFile:
    """Lines and branches of one source file, merged over its records (one per test name)."""

    lines: dict[int, bool] = field(default_factory=dict)
    branches: dict[tuple[int, str, str], bool] = field(default_factory=dict)


def read_lcov(path: Path) -> CoverageReport:
    """Counts from an LCOV tracefile (``DA`` and ``BRDA`` records; summaries are validated, not used).

    Records of the same source file (one per test name) are merged, not counted twice.
    """
    text = _read_text(path, "LCOV tracefile")
    files: dict[str, _LcovFile] = {}
    current: _LcovFile | None = None
    name = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, _, value = line.partition(":")
        place = f"line {number}"
        if key not in _LCOV_KEYS:
            raise ParseError(path, place, f"not an LCOV record: {line[:80]!r}",
                             "The file is corrupt or mixed with other output (a build tool's "
                             "log, say); write the tracefile on its own and regenerate it.")
        if key == "SF":
            name = evidence.text(value, path, f"{place} (SF)")
            current = files.setdefault(name, _LcovFile())
        elif key == "end_of_record":
            if current is None:
                raise ParseError(path, place, "end_of_record outside a source file (no SF)")
            current = None
        else:
            _lcov_record(path, place, key, value, current)
    if current is not None:
        raise ParseError(path, "end of file", f"the record for {name} has no end_of_record "
                         "(truncated file)", "Regenerate the tracefile.")
    report = CoverageReport(str(path), "lcov", tuple(
        FileCoverage(sf, str(Path(sf).parent) or ".", len(f.lines), sum(f.lines.values()),
                     len(f.branches), sum(f.branches.values()))
        for sf, f in files.items()))
    if report.lines_valid == 0:
        raise ParseError(path, "", "the LCOV tracefile holds no measured lines: nothing was measured")
    return report


def _lcov_record(path: Path, place: str, key: str, value: str, current: _LcovFile | None) -> None:
    """Validate one record's numbers; DA and BRDA also count into ``current``."""
    fields = value.split(",")
    if key in ("DA", "BRDA"):
        if current is None:
            raise ParseError(path, place, f"{key} record outside a source file (no SF)")
        _lcov_count(path, place, key, fields, current)
    elif key in ("FN", "FNL"):
        _lcov_line(path, place, fields[0])
    elif key in ("FNDA", "FNA"):
        if key == "FNA" and len(fields) < 2:
            raise ParseError(path, place, "FNA needs index,hits,name")
        evidence.count(fields[1 if key == "FNA" else 0], path, f"{place} ({key} hits)", text_ok=True)
    elif key in _LCOV_SUMMARIES:
        evidence.count(value, path, f"{place} ({key})", text_ok=True)


def _lcov_count(path: Path, place: str, key: str, fields: list[str], current: _LcovFile) -> None:
    if key == "DA":
        if len(fields) < 2:
            raise ParseError(path, place, "DA needs line,hits")
        line = _lcov_line(path, place, fields[0])
        hits = evidence.count(fields[1], path, f"{place} (DA hits)", text_ok=True)
        current.lines[line] = current.lines.get(line, False) or hits > 0
        return
    if len(fields) != 4:
        raise ParseError(path, place, "BRDA needs line,block,branch,taken")
    line = _lcov_line(path, place, fields[0])
    taken = fields[3].strip()
    hit = taken != "-" and evidence.count(taken, path, f"{place} (BRDA taken)", text_ok=True) > 0
    where = (line, fields[1].strip(), fields[2].strip())
    current.branches[where] = current.branches.get(where, False) or hit


_LCOV_SUMMARIES = {"LF", "LH", "BRF", "BRH", "FNF", "FNH"}


def _lcov_line(path: Path, place: str, field_text: str) -> int:
    line = evidence.count(field_text, path, f"{place} (line number)", text_ok=True)
    if line < 1:
        raise ParseError(path, place, "a line number starts at 1")
    return line


def _read_text(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ArtifactMissing(f"{path}: the {what} does not exist.",
                              "Check the path in the config, or that the test command wrote it.") from None
    if not text.strip():
        raise ParseError(path, "", f"the {what} is empty", "Re-run the tool that writes it.")
    return text
