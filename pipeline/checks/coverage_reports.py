"""Readers for the evidence of the coverage check: Cobertura XML, LCOV and JUnit XML.

Each reader returns plain counts (no rates, no judgement) and raises ParseError
naming the file and the place when the input is not what it claims to be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

from junitparser import Error as JUnitError
from junitparser import Failure as JUnitFailure
from junitparser import Skipped as JUnitSkipped
from junitparser import TestCase

from pipeline.errors import ArtifactMissing, ParseError
from pipeline.xmlsafe import parse_xml_file


@dataclass(frozen=True)
class FileCoverage:
    """Line and branch counts of one source file."""

    path: str
    group: str
    lines_valid: int
    lines_covered: int
    branches_valid: int = 0
    branches_covered: int = 0


@dataclass(frozen=True)
class CoverageReport:
    """Counts of a whole coverage report; rates are left to the policy."""

    source: str
    format: str
    files: tuple[FileCoverage, ...]
    tool_line_rate: float | None = None  # the tool's own root attribute, for contrast only

    @property
    def lines_valid(self) -> int:
        """Executable lines measured."""
        return sum(f.lines_valid for f in self.files)

    @property
    def lines_covered(self) -> int:
        """Executable lines run at least once."""
        return sum(f.lines_covered for f in self.files)

    @property
    def branches_valid(self) -> int:
        """Branch outcomes measured (0 when branch coverage was off)."""
        return sum(f.branches_valid for f in self.files)

    @property
    def branches_covered(self) -> int:
        """Branch outcomes taken."""
        return sum(f.branches_covered for f in self.files)


@dataclass(frozen=True)
class CaseOutcome:
    """One test case and how it ended."""

    suite: str
    classname: str
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str
    source: str


_CONDITION = re.compile(r"\((\d+)/(\d+)\)")


def read_cobertura(path: Path) -> CoverageReport:
    """Counts from a Cobertura XML report (coverage.py, istanbul/jest, JaCoCo converters...)."""
    root = parse_xml_file(path, "Cobertura coverage report")
    if root.tag != "coverage":
        raise ParseError(path, f"root element <{root.tag}>", "not a Cobertura report "
                         "(expected <coverage>)", "Point 'cobertura' at the XML coverage report.")
    # A file may span several <class> records; count each (file, line) once, covered if any hits.
    lines: dict[str, dict[int, bool]] = {}
    branches: dict[str, dict[int, tuple[int, int]]] = {}
    groups: dict[str, str] = {}
    # istanbul sometimes puts <class> straight under <packages>, with no <package> around it.
    package_of = {id(k): p.get("name") or "." for p in root.iter("package") for k in p.iter("class")}
    for klass in root.iter("class"):
        group = package_of.get(id(klass), ".")
        filename = klass.get("filename") or klass.get("name") or "?"
        groups.setdefault(filename, group)
        file_lines = lines.setdefault(filename, {})
        file_branches = branches.setdefault(filename, {})
        # Only the class's own <lines>: istanbul's <method> lines are declarations, not statements.
        for line in klass.findall("lines/line"):
            number = _int_attr(path, line, "number")
            hit = _int_attr(path, line, "hits") > 0
            file_lines[number] = file_lines.get(number, False) or hit
            taken = _branch_counts(line)
            if taken:
                file_branches[number] = max(file_branches.get(number, (0, 0)), taken)
    if not any(lines.values()):
        raise ParseError(path, "", "the Cobertura report holds no measured lines: nothing was "
                         "measured", "Check that the test command measures the right source "
                         "folder (for coverage.py: --cov=<package> or [run] source).")
    files = tuple(
        FileCoverage(
            filename, group, len(lines[filename]), sum(lines[filename].values()),
            sum(b[1] for b in branches[filename].values()),
            sum(b[0] for b in branches[filename].values()),
        )
        for filename, group in groups.items()
    )
    rate = root.get("line-rate")
    return CoverageReport(str(path), "cobertura", files,
                          float(rate) if rate is not None and _is_number(rate) else None)


def _branch_counts(line: Element) -> tuple[int, int] | None:
    if line.get("branch") != "true":
        return None
    match = _CONDITION.search(line.get("condition-coverage", ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _int_attr(path: Path, elem: Element, name: str) -> int:
    value = elem.get(name)
    try:
        return int(float(value)) if value is not None else 0
    except ValueError:
        raise ParseError(path, f"<{elem.tag} {name}=\"{value}\">",
                         f"'{name}' must be a number") from None


def _is_number(value: str | None) -> bool:
    try:
        float(value or "")
    except ValueError:
        return False
    return True


_LCOV_KEYS = {"TN", "SF", "FN", "FNDA", "FNF", "FNH", "FNL", "FNA", "DA", "BRDA", "BRF", "BRH",
              "LF", "LH", "VER", "end_of_record"}


def read_lcov(path: Path) -> CoverageReport:
    """Counts from an LCOV tracefile (``DA`` and ``BRDA`` records; summaries are ignored)."""
    text = _read_text(path, "LCOV tracefile")
    files: list[FileCoverage] = []
    current: str | None = None
    lines: dict[int, bool] = {}
    branches: dict[tuple[str, str, str], bool] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, _, value = line.partition(":")
        if key not in _LCOV_KEYS:
            raise ParseError(path, f"line {number}", f"not an LCOV record: {line[:80]!r}",
                             "The file is corrupt or mixed with other output (a build tool's "
                             "log, say); write the tracefile on its own and regenerate it.")
        if key == "SF":
            current, lines, branches = value, {}, {}
        elif key in ("DA", "BRDA", "end_of_record") and current is None:
            raise ParseError(path, f"line {number}", f"{key} record outside a source file (no SF)")
        elif key == "DA":
            fields = value.split(",")
            lineno, hits = _lcov_ints(path, number, fields[:2])
            lines[lineno] = lines.get(lineno, False) or hits > 0
        elif key == "BRDA":
            fields = value.split(",")
            if len(fields) != 4:
                raise ParseError(path, f"line {number}", "BRDA needs line,block,branch,taken")
            taken = fields[3]
            if taken != "-":
                _lcov_ints(path, number, [taken])
            branches[(fields[0], fields[1], fields[2])] = taken not in ("-", "0")
        elif key == "end_of_record" and current is not None:
            files.append(FileCoverage(current, str(Path(current).parent) or ".", len(lines),
                                      sum(lines.values()), len(branches), sum(branches.values())))
            current = None
    if current is not None:
        raise ParseError(path, "end of file", f"the record for {current} has no end_of_record "
                         "(truncated file)", "Regenerate the tracefile.")
    if not files or sum(f.lines_valid for f in files) == 0:
        raise ParseError(path, "", "the LCOV tracefile holds no measured lines: nothing was measured")
    return CoverageReport(str(path), "lcov", tuple(files))


def _lcov_ints(path: Path, number: int, fields: list[str]) -> list[int]:
    try:
        values = [int(f) for f in fields]
    except ValueError:
        raise ParseError(path, f"line {number}", f"expected whole numbers, got {fields!r}") from None
    if len(values) != len(fields) or not values:
        raise ParseError(path, f"line {number}", "record is missing fields")
    return values


def _read_text(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ArtifactMissing(f"{path}: the {what} does not exist.",
                              "Check the path in the config, or that the test command wrote it.") from None
    if not text.strip():
        raise ParseError(path, "", f"the {what} is empty", "Re-run the tool that writes it.")
    return text


def read_junit(path: Path) -> tuple[CaseOutcome, ...]:
    """Every test case of a JUnit XML file (pytest, jest-junit, Surefire, go-junit-report...).

    Nested ``<testsuite>`` elements are walked; each case is counted once, under its
    innermost suite. Surefire's flaky reruns count as passed, as Surefire itself does.
    """
    root = parse_xml_file(path, "JUnit XML report")
    if root.tag not in ("testsuites", "testsuite"):
        raise ParseError(path, f"root element <{root.tag}>", "not a JUnit XML report "
                         "(expected <testsuites> or <testsuite>)")
    outcomes: list[CaseOutcome] = []
    _walk_suite(root, "", path, outcomes)
    return tuple(outcomes)


def _walk_suite(elem: Element, parents: str, path: Path, out: list[CaseOutcome]) -> None:
    name = elem.get("name", "") if elem.tag == "testsuite" else ""
    suite = "/".join(p for p in (parents, name) if p)
    for child in elem:
        if child.tag in ("testsuite", "testsuites"):
            _walk_suite(child, suite, path, out)
        elif child.tag == "testcase":
            out.append(_outcome(TestCase.fromelem(child), suite, str(path)))


def _outcome(case: TestCase, suite: str, source: str) -> CaseOutcome:
    results = case.result
    kinds = [("error", JUnitError), ("failed", JUnitFailure), ("skipped", JUnitSkipped)]
    for outcome, kind in kinds:
        found = [r for r in results if isinstance(r, kind)]
        if found:
            first = found[0]
            # The message attribute, else the first line of the body (the trace).
            text = first.message or next(iter((first.text or "").strip().splitlines()), "")
            return CaseOutcome(suite, case.classname or "", case.name or "", outcome, text, source)
    return CaseOutcome(suite, case.classname or "", case.name or "", "passed", "", source)
