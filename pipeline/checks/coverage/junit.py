"""The JUnit XML reader of the coverage check: how many test cases passed, were skipped, failed, streamed.

pytest, jest-junit, Surefire, go-junit-report... all write ``<testsuites>`` / ``<testsuite>``
with ``<testcase>`` inside, a ``<failure>``, ``<error>`` or ``<skipped>`` child saying how a
case ended. The file is walked with expat's handlers (``xmlsafe.protected_parser``): no tree,
and an object only for a case that failed, so 100,000 cases cost little more than parsing
the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.errors import ParseError
from pipeline.xmlsafe import feed_xml_file, protected_parser

# Real JUnit reports nest suites a few levels deep (Surefire, nested jest describes); far deeper is forged.
MAX_SUITE_DEPTH = 100
_SUITES = ("testsuites", "testsuite")
# A case's outcome: an error outranks a failure, which outranks a skip (Surefire's flaky reruns
# are other tags, so a case that passed on a rerun counts as passed, as Surefire itself says).
_RANK = {"error": 3, "failure": 2, "skipped": 1}
_OUTCOME = {"error": "error", "failure": "failed"}


class CaseOutcome(NamedTuple):
    """A test case that did not pass: where it is, how it ended, and what it said."""

    suite: str
    classname: str
    name: str
    outcome: str  # failed | error (passed and skipped cases are only counted)
    message: str
    source: str


@dataclass(frozen=True)
class JUnitFile:
    """What one JUnit file says: how many cases passed or were skipped, and each case that failed or errored.

    A passed case is only counted: the check needs nothing more of it, so a file of 100,000
    passing cases costs two integers, not 100,000 objects.
    """

    source: str  # the file, as the outcomes and the findings name it
    passed: int = 0
    skipped: int = 0
    problems: tuple[CaseOutcome, ...] = ()  # the failed and errored cases, in the file's order

    @property
    def ran(self) -> int:
        """The cases that ran (passed, failed or errored): zero means this part of the suite did not run."""
        return self.passed + len(self.problems)

    @property
    def total(self) -> int:
        """Every case of the file, skipped ones included."""
        return self.ran + self.skipped


def read_junit(path: Path, source: str | None = None) -> JUnitFile:
    """The test cases of a JUnit XML file (pytest, jest-junit, Surefire, go-junit-report...).

    Nested ``<testsuite>`` elements are walked; each case is counted once, under its
    innermost suite. Only suites and cases inside suites count: a suite inside another
    element (``<properties>``, a case) is not part of the report. A case ends as the worst
    ``<error>``, ``<failure>`` or ``<skipped>`` inside it, however deep. ``source`` names the
    file (default: ``path``).
    """
    walk = _JUnitWalk(path, str(path) if source is None else source)
    feed_xml_file(walk.parser, path, "JUnit XML report")
    return JUnitFile(walk.source, walk.passed, walk.skipped, tuple(walk.problems))


class _JUnitWalk:
    """Expat's handlers for a JUnit file: a depth count, the followed suites, a count or an outcome per closed case.

    The followed suites form a chain from the root, each the child of the one before, so the
    innermost is at depth ``len(self._suites)``; a case is counted when it is a child of it. The
    handlers run once per element of a file of 100,000 cases: each does the least it can.
    """

    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source
        self.parser = protected_parser()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.passed = self.skipped = 0
        self.problems: list[CaseOutcome] = []
        self._depth = 0  # of the element that last opened
        self._suites: list[str] = []  # the path ("outer/inner") of each followed suite, outermost first
        self._case: dict[str, str] = {}  # the attributes of the case being read
        self._case_depth = -1  # its depth (-1: no case is open)
        self._result: tuple[str, str] | None = None  # (tag, message) of the case's worst result so far
        self._body: list[str] | None = None  # the text of that result, when its message is its text
        self._body_depth = -1  # the depth of the result whose text is read

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        """An element opens: a suite, a case, or a result of the case being read."""
        self._depth += 1
        depth = self._depth
        if self._case_depth >= 0:
            if tag in _RANK:
                self._case_result(tag, attrs)
        elif depth == len(self._suites) + 1:
            if tag == "testcase" and depth > 1:
                self._case, self._case_depth, self._result = attrs, depth, None
            elif tag in _SUITES:
                self._open_suite(tag, attrs)
            elif depth == 1:
                raise ParseError(self.path, f"root element <{tag}>", "not a JUnit XML report "
                                 "(expected <testsuites> or <testsuite>)")

    def _open_suite(self, tag: str, attrs: dict[str, str]) -> None:
        if len(self._suites) > MAX_SUITE_DEPTH:
            raise ParseError(self.path, f"<{tag} name=\"{attrs.get('name', '')[:80]}\">",
                             f"suites nested more than {MAX_SUITE_DEPTH} deep: not a genuine report")
        parent = self._suites[-1] if self._suites else ""
        name = attrs.get("name", "") if tag == "testsuite" else ""
        self._suites.append("/".join(p for p in (parent, name) if p))

    def _case_result(self, tag: str, attrs: dict[str, str]) -> None:
        """A result inside the case, at any depth (a failure wrapped in another element still fails the case):
        kept when worse than what it had; its message, else its text's first line."""
        if self._result is None or _RANK[tag] > _RANK[self._result[0]]:
            self._result = (tag, attrs.get("message") or "")
            self._body_depth = self._depth
            self._read_body([] if not self._result[1] else None)

    def end(self, _tag: str) -> None:
        """An element closes: a case becomes an outcome, a followed suite is left, a result's text is read."""
        depth = self._depth
        self._depth = depth - 1
        if depth == self._case_depth:
            self._close_case()
        elif depth == len(self._suites):
            self._suites.pop()
        elif self._body is not None and depth == self._body_depth:
            # The result that started the body closes (a worse one would have started a new body).
            if self._result is not None:
                self._result = (self._result[0], next(iter("".join(self._body).strip().splitlines()), ""))
            self._read_body(None)

    def _close_case(self) -> None:
        result = self._result
        if result is None:
            self.passed += 1
        elif result[0] == "skipped":
            self.skipped += 1
        else:
            case = self._case
            self.problems.append(CaseOutcome(self._suites[-1], case.get("classname", ""), case.get("name", ""),
                                             _OUTCOME[result[0]], result[1], self.source))
        self._case_depth = -1  # (no result's text is being read: the result closed before its case)

    def _read_body(self, body: list[str] | None) -> None:
        """Start (a list) or stop (None) reading the text of a result: expat calls ``text`` only meanwhile."""
        self._body = body
        self.parser.CharacterDataHandler = None if body is None else self.text

    def text(self, data: str) -> None:
        """Character data: kept only for the result whose message is its body."""
        if self._body is not None and self._depth == self._body_depth:
            self._body.append(data)
