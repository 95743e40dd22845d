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

from pipeline import evidence
from pipeline.checks.coverage.lcov import read_lcov as read_lcov
from pipeline.checks.coverage.model import CoverageReport as CoverageReport
from pipeline.checks.coverage.model import FileCoverage as FileCoverage
from pipeline.errors import ParseError
from pipeline.xmlsafe import parse_xml_file


@dataclass(frozen=True)
class CaseOutcome:
    """One test case and how it ended."""

    suite: str
    classname: str
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str
    source: str


# Real JUnit reports nest suites a few levels deep (Surefire, nested jest describes); far deeper is forged.
MAX_SUITE_DEPTH = 100
# coverage.py, istanbul and the JaCoCo converters all write "50% (1/2)".
_CONDITION = re.compile(r"^\s*\d+(?:\.\d+)?%\s*\((\d+)/(\d+)\)\s*$")


def read_cobertura(path: Path) -> CoverageReport:
    """Counts from a Cobertura XML report (coverage.py, istanbul/jest, JaCoCo converters...).

    Every number is validated (whole hits >= 0, line numbers >= 1, branch counts a <= b);
    the root's own totals, when present, must match what the report lists, so a report
    whose files were cut out is refused.
    """
    root = parse_xml_file(path, "Cobertura coverage report")
    if root.tag != "coverage":
        raise ParseError(path, f"root element <{root.tag}>", "not a Cobertura report "
                         "(expected <coverage>)", "Point 'cobertura' at the XML coverage report.")
    # A file may span several <class> records; count each (file, line) once, covered if any hits.
    lines: dict[str, dict[int, bool]] = {}
    branches: dict[str, dict[int, tuple[int, int]]] = {}
    groups: dict[str, str] = {}
    package_of = _packages_of_classes(root)
    for klass in root.iter("class"):
        filename = klass.get("filename") or klass.get("name") or "?"
        groups.setdefault(filename, package_of.get(id(klass), "."))
        file_lines = lines.setdefault(filename, {})
        file_branches = branches.setdefault(filename, {})
        # Only the class's own <lines>: istanbul's <method> lines are declarations, not statements.
        for line in klass.findall("lines/line"):
            number = _line_number(path, line, filename)
            hit = _whole(path, line, "hits", filename) > 0
            file_lines[number] = file_lines.get(number, False) or hit
            taken = _branch_counts(path, line, filename)
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
    report = CoverageReport(str(path), "cobertura", files, _root_rate(path, root),
                            _sources(path, root))
    _check_root_totals(path, root, report)
    return report


def _packages_of_classes(root: Element) -> dict[int, str]:
    """The innermost <package> around each <class>, in one walk (istanbul sometimes puts <class>
    straight under <packages>, with no <package> around it: "."). Asking each package for its
    classes instead costs the square of the nesting depth, which a forged report makes huge."""
    found: dict[int, str] = {}
    pending: list[tuple[Element, str]] = [(root, ".")]
    while pending:
        elem, package = pending.pop()
        if elem.tag == "package":
            package = elem.get("name") or "."
        elif elem.tag == "class":
            found[id(elem)] = package
        pending.extend((child, package) for child in elem)
    return found


def _line_number(path: Path, line: Element, filename: str) -> int:
    number = _whole(path, line, "number", filename)
    if number < 1:
        raise ParseError(path, f"{filename}: <line number=\"{line.get('number')}\">",
                         "a line number starts at 1")
    return number


def _whole(path: Path, elem: Element, name: str, filename: str) -> int:
    value = elem.get(name)
    place = f"{filename}: <{elem.tag} {name}=\"{value}\">"
    if value is None:
        raise ParseError(path, place, f"'{name}' is missing")
    return evidence.count(value, path, place, text_ok=True)


def _branch_counts(path: Path, line: Element, filename: str) -> tuple[int, int] | None:
    text = line.get("condition-coverage")
    if line.get("branch") != "true" or text is None:
        return None
    match = _CONDITION.match(text)
    place = f"{filename}: line {line.get('number')} condition-coverage=\"{text}\""
    if not match:
        raise ParseError(path, place, "expected 'N% (taken/total)'")
    taken, total = int(match.group(1)), int(match.group(2))
    if taken > total:
        raise ParseError(path, place, f"{taken} of {total} branches taken is impossible")
    return taken, total


def _root_rate(path: Path, root: Element) -> float | None:
    rate = root.get("line-rate")
    return None if rate is None else evidence.rate(rate, path, "<coverage line-rate>", text_ok=True)


def _root_count(path: Path, root: Element, name: str) -> int | None:
    value = root.get(name)
    return None if value is None else evidence.count(value, path, f"<coverage {name}>", text_ok=True)


def _check_root_totals(path: Path, root: Element, report: CoverageReport) -> None:
    """The root's line totals, when present, must be what the listed lines add up to.

    A report whose classes were cut out (or edited) keeps the tool's totals and fails here.
    Branch totals are only range-checked: istanbul counts branches its own way.
    """
    for total, part in (("lines-valid", "lines-covered"), ("branches-valid", "branches-covered")):
        declared, covered = _root_count(path, root, total), _root_count(path, root, part)
        if declared is not None and covered is not None and covered > declared:
            raise ParseError(path, f"<coverage {part}=\"{covered}\">",
                             f"more covered than the {declared} measured: impossible")
    for name, listed in (("lines-valid", report.lines_valid), ("lines-covered", report.lines_covered)):
        declared = _root_count(path, root, name)
        if declared is not None and declared != listed:
            raise ParseError(path, f"<coverage {name}=\"{declared}\">",
                             f"the report declares {declared} but its <line> elements count {listed}: "
                             "files or lines are missing (a cut or edited report)",
                             "Regenerate the report with the coverage tool; never edit it.")


def _sources(path: Path, root: Element) -> tuple[str, ...]:
    found = []
    for source in root.iter("source"):
        text = (source.text or "").strip()
        if text:
            found.append(evidence.text(text, path, "<sources><source>"))
    return tuple(found)


_GENERATOR = re.compile(rb"Generated by ([A-Za-z][\w.\-]{0,40}[\w])")
_VERSION = re.compile(rb"<coverage\b[^>]*?\bversion=\"([\w.+\-]{1,40})\"")


def report_tool(path: Path, report_format: str) -> tuple[str, str]:
    """The tool that wrote the report ('' if unnamed) and its version, saying where it was read.

    Read from the report itself: the user's test command is never asked, since
    ``their-script --version`` may run the whole suite again.
    """
    if report_format == "lcov":
        return "", "unknown (an LCOV tracefile does not name the tool that wrote it)"
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return "", "unknown (the report cannot be read)"
    producer = _GENERATOR.search(head)
    name = producer.group(1).decode("ascii") if producer else ""
    version = _VERSION.search(head)
    if not version:
        return name, "unknown (the Cobertura report carries no version attribute)"
    return name, f"{version.group(1).decode('ascii')} (from the Cobertura report's version attribute)"


def read_junit(path: Path) -> tuple[CaseOutcome, ...]:
    """Every test case of a JUnit XML file (pytest, jest-junit, Surefire, go-junit-report...).

    Nested ``<testsuite>`` elements are walked; each case is counted once, under its
    innermost suite. Surefire's flaky reruns count as passed, as Surefire itself does.
    """
    root = parse_xml_file(path, "JUnit XML report")
    if root.tag not in ("testsuites", "testsuite"):
        raise ParseError(path, f"root element <{root.tag}>", "not a JUnit XML report "
                         "(expected <testsuites> or <testsuite>)")
    return tuple(_walk_suites(root, path))


def _walk_suites(root: Element, path: Path) -> list[CaseOutcome]:
    """Every test case in document order, under its innermost suite (a stack, not recursion)."""
    outcomes: list[CaseOutcome] = []
    pending: list[tuple[Element, str, int]] = [(root, "", 0)]  # (element, the suite it sits in, depth)
    while pending:
        elem, parents, depth = pending.pop()
        if elem.tag == "testcase":
            outcomes.append(_outcome(TestCase.fromelem(elem), parents, str(path)))
            continue
        if depth > MAX_SUITE_DEPTH:
            raise ParseError(path, f"<{elem.tag} name=\"{elem.get('name', '')[:80]}\">",
                             f"suites nested more than {MAX_SUITE_DEPTH} deep: not a genuine report")
        name = elem.get("name", "") if elem.tag == "testsuite" else ""
        suite = "/".join(p for p in (parents, name) if p)
        pending.extend((child, suite, depth + 1) for child in reversed(elem)
                       if child.tag in ("testsuite", "testsuites", "testcase"))
    return outcomes


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
