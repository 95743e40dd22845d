"""Readers for the evidence of the coverage check: Cobertura XML, LCOV and JUnit XML.

Each reader returns plain counts (no rates, no judgement) and raises ParseError
naming the file and the place when the input is not what it claims to be.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline import evidence
from pipeline.checks.coverage.junit import MAX_SUITE_DEPTH as MAX_SUITE_DEPTH
from pipeline.checks.coverage.junit import CaseOutcome as CaseOutcome
from pipeline.checks.coverage.junit import JUnitFile as JUnitFile
from pipeline.checks.coverage.junit import read_junit as read_junit
from pipeline.checks.coverage.lcov import read_lcov as read_lcov
from pipeline.checks.coverage.model import CoverageReport as CoverageReport
from pipeline.checks.coverage.model import FileCoverage as FileCoverage
from pipeline.errors import ParseError
from pipeline.xmlsafe import feed_xml_file, protected_parser

# coverage.py, istanbul and the JaCoCo converters all write "50% (1/2)".
_CONDITION = re.compile(r"^\s*\d+(?:\.\d+)?%\s*\((\d+)/(\d+)\)\s*$")


def read_cobertura(path: Path) -> CoverageReport:
    """Counts from a Cobertura XML report (coverage.py, istanbul/jest, JaCoCo converters...).

    Every number is validated (whole hits >= 0, line numbers >= 1, branch counts a <= b);
    the root's own totals, when present, must match what the report lists, so a report
    whose files were cut out is refused. The file is streamed: no tree is built.
    """
    walk = _CoberturaWalk(path)
    feed_xml_file(walk.parser, path, "Cobertura coverage report")
    if walk.root is None or not any(walk.lines.values()):
        raise ParseError(path, "", "the Cobertura report holds no measured lines: nothing was "
                         "measured", "Check that the test command measures the right source "
                         "folder (for coverage.py: --cov=<package> or [run] source).")
    files = tuple(
        FileCoverage(
            filename, group, len(walk.lines[filename]), sum(walk.lines[filename].values()),
            sum(b[1] for b in walk.branches[filename].values()),
            sum(b[0] for b in walk.branches[filename].values()),
        )
        for filename, group in walk.groups.items()
    )
    report = CoverageReport(str(path), "cobertura", files, _root_rate(path, walk.root), tuple(walk.sources))
    _check_root_totals(path, walk.root, report)
    return report


class _CoberturaWalk:
    """What a Cobertura report says, gathered element by element by expat's handlers.

    A file may span several <class> records; each (file, line) counts once, covered if any
    record hits it. A <class> belongs to the innermost <package> around it (istanbul sometimes
    puts <class> straight under <packages>: "."). Only a class's own <lines> count: istanbul's
    <method> lines are declarations, not statements.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parser = protected_parser()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.root: dict[str, str] | None = None
        self.lines: dict[str, dict[int, bool]] = {}
        self.branches: dict[str, dict[int, tuple[int, int]]] = {}
        self.groups: dict[str, str] = {}
        self.sources: list[str] = []
        self._depth = 0  # of the element that last opened
        self._packages: list[tuple[int, str]] = [(0, ".")]  # the open packages: (depth, name)
        # The open classes: (depth, filename, the depth of the <lines> open around it: -1 if none).
        self._classes: list[tuple[int, str, int]] = []
        self._lines_at = -1  # the depth of the open <lines> that belongs to a <class> (-1: none)
        self._file_lines: dict[int, bool] = {}  # the lines of the innermost open class
        self._source: list[str] | None = None  # the text of the open <source>
        self._source_at = -1  # its depth
        # Each spelling of a line number or a hit count is validated once: a report repeats a few hundred.
        self._numbers: dict[str | None, int] = {}
        self._hits: dict[str | None, bool] = {}

    # The handlers run once per element of a report of 500,000 lines: a <line> costs a few comparisons.
    def start(self, tag: str, attrs: dict[str, str]) -> None:
        """An element opens: one of a class's lines (the hot path), or another (``_start``)."""
        self._depth += 1
        if tag != "line":
            self._start(tag, attrs)
        elif self._depth == self._lines_at + 1:
            self._line(attrs)

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        """A class's own lines, a class, a package, a source or the root opens."""
        depth = self._depth
        if tag == "lines":
            if self._classes and self._classes[-1][0] == depth - 1:
                self._lines_at = depth
        elif tag == "class":
            filename = attrs.get("filename") or attrs.get("name") or "?"
            self._classes.append((depth, filename, self._lines_at))
            self.groups.setdefault(filename, self._packages[-1][1])
            self._file_lines = self.lines.setdefault(filename, {})
            self.branches.setdefault(filename, {})
        elif tag == "package":
            self._packages.append((depth, attrs.get("name") or "."))
        elif tag == "source":
            self._source, self._source_at = [], depth
            self.parser.CharacterDataHandler = self.text
        if depth == 1:
            self._root(tag, attrs)

    def _root(self, tag: str, attrs: dict[str, str]) -> None:
        if tag != "coverage":
            raise ParseError(self.path, f"root element <{tag}>", "not a Cobertura report "
                             "(expected <coverage>)", "Point 'cobertura' at the XML coverage report.")
        self.root = attrs

    def end(self, tag: str) -> None:
        """An element closes: nothing to do for a line; the lines, class, package or source it ends."""
        depth = self._depth
        self._depth = depth - 1
        if tag == "line":
            return
        if depth == self._lines_at:
            self._lines_at = -1
        elif self._classes and depth == self._classes[-1][0]:
            # A class inside a class's lines (no tool writes one): the outer class's lines go on after it.
            self._lines_at = self._classes.pop()[2]
            if self._classes:
                self._file_lines = self.lines[self._classes[-1][1]]
        elif depth == self._packages[-1][0]:
            self._packages.pop()
        elif depth == self._source_at and self._source is not None:
            found = "".join(self._source).strip()
            if found:
                self.sources.append(evidence.text(found, self.path, "<sources><source>"))
            self._source, self._source_at = None, -1
            self.parser.CharacterDataHandler = None

    def text(self, data: str) -> None:
        """Character data inside a <source> (expat calls this only there); not the text of an element inside it."""
        if self._source is not None and self._depth == self._source_at:
            self._source.append(data)

    def _line(self, attrs: dict[str, str]) -> None:
        number, hits = attrs.get("number"), attrs.get("hits")
        line = self._numbers.get(number)
        if line is None:
            line = self._numbers[number] = _line_number(self.path, attrs, self._classes[-1][1])
        hit = self._hits.get(hits)
        if hit is None:
            hit = self._hits[hits] = _whole(self.path, attrs, "line", "hits", self._classes[-1][1]) > 0
        file_lines = self._file_lines
        if hit or line not in file_lines:
            file_lines[line] = hit
        if attrs.get("branch") == "true":
            self._branch(line, attrs)

    def _branch(self, line: int, attrs: dict[str, str]) -> None:
        filename = self._classes[-1][1]
        taken = _branch_counts(self.path, attrs, filename)
        if taken:
            file_branches = self.branches[filename]
            file_branches[line] = max(file_branches.get(line, (0, 0)), taken)


def _line_number(path: Path, line: dict[str, str], filename: str) -> int:
    number = _whole(path, line, "line", "number", filename)
    if number < 1:
        raise ParseError(path, f"{filename}: <line number=\"{line.get('number')}\">",
                         "a line number starts at 1")
    return number


def _whole(path: Path, attrs: dict[str, str], tag: str, name: str, filename: str) -> int:
    value = attrs.get(name)
    place = f"{filename}: <{tag} {name}=\"{value}\">"
    if value is None:
        raise ParseError(path, place, f"'{name}' is missing")
    return evidence.count(value, path, place, text_ok=True)


def _branch_counts(path: Path, line: dict[str, str], filename: str) -> tuple[int, int] | None:
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


def _root_rate(path: Path, root: dict[str, str]) -> float | None:
    rate = root.get("line-rate")
    return None if rate is None else evidence.rate(rate, path, "<coverage line-rate>", text_ok=True)


def _root_count(path: Path, root: dict[str, str], name: str) -> int | None:
    value = root.get(name)
    return None if value is None else evidence.count(value, path, f"<coverage {name}>", text_ok=True)


def _check_root_totals(path: Path, root: dict[str, str], report: CoverageReport) -> None:
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
